// libFuzzer harness: the JSON Lines importer (engine/session/import.cpp and
// codec.cpp), the one reader of files that come from elsewhere.
//
// Checked on every input:
//  * a refusal says "<name>: line N: reason", N a line of the input;
//  * the fast path agrees with the JSON parser: the same text with every
//    event line respaced ("{ " instead of "{", which the fast path never
//    takes) loads the same session or fails with the same error;
//  * what loads round-trips: written again and read back it is accepted, and
//    writing that gives the same bytes (every byte of a text survives);
//  * the other writers (Chrome trace, CSV, narrative) and what a replay
//    computes (the model, threads, loops and flow folds) take any session the
//    reader accepted.
#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz_check.h"
#include "session/export.h"
#include "session/flow.h"
#include "session/loop_fold.h"
#include "session/threads_fold.h"

namespace {

using namespace sockscope;

std::optional<session::Session> read(const std::string& text, const std::string& name, std::string& error) {
  std::istringstream in(text);
  return session::read_jsonl(in, name, error);
}

std::string jsonl(const session::Session& s) {
  std::ostringstream out;
  session::write_jsonl(s, out);
  return std::move(out).str();
}

// Every line after the first that the fast path could take, respaced so the
// JSON parser reads it instead.
std::string respaced(const std::string& text) {
  std::string out;
  std::size_t i = text.find('\n');
  if (i == std::string::npos) return text;
  out = text.substr(0, ++i);
  while (i < text.size()) {
    std::size_t nl = text.find('\n', i);
    nl = nl == std::string::npos ? text.size() : nl + 1;
    if (text.compare(i, 5, "{\"t\":") == 0) out += "{ " + text.substr(i + 1, nl - i - 1);
    else out += text.substr(i, nl - i);
    i = nl;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto loaded = read(text, "fuzz.jsonl", error);
  if (!loaded) fuzz::check_line_error(error, "fuzz.jsonl", ": line ", ": ", text);

  // A line near the length limit could cross it by the one added space.
  if (const std::string other = respaced(text); other != text && size < session::kMaxLineBytes / 2) {
    std::string other_error;
    const auto slow = read(other, "fuzz.jsonl", other_error);
    FUZZ_CHECK(loaded.has_value() == slow.has_value(), "fast path: " + error + " / JSON parser: " + other_error);
    FUZZ_CHECK(error == other_error, "fast path: " + error + " / JSON parser: " + other_error);
    if (loaded) FUZZ_CHECK(jsonl(*loaded) == jsonl(*slow), "the fast path read an event differently");
  }
  if (!loaded) return 0;

  const std::string once = jsonl(*loaded);
  std::string again_error;
  const auto again = read(once, "written", again_error);
  FUZZ_CHECK(again.has_value(), "a written session does not read back: " + again_error);
  FUZZ_CHECK(jsonl(*again) == once, "the round trip changed the session");

  std::ostringstream sink;
  session::write_chrome_trace(*loaded, sink);
  session::write_csv(*loaded, sink);
  sink << session::narrative(*loaded);
  // What a replay draws: the model, the threads, the loops and the flow, at
  // the end and halfway through.
  const session::Model& model = loaded->model();
  sink << session::summary(model, *loaded);
  (void)session::fold_threads(*loaded);
  (void)session::fold_loops(*loaded);
  (void)session::fold_flow(*loaded, model, loaded->last_ns());
  (void)session::parked_at(*loaded, model);
  const std::uint64_t half = loaded->first_ns() + (loaded->last_ns() - loaded->first_ns()) / 2;
  (void)session::fold_flow(*loaded, loaded->fold(half), half);
  return 0;
}
