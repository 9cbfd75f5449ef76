// libFuzzer harness: the `--script FILE` parser, the lab's verbs
// (engine/lesson/script_parse.cpp) with the window's (app/window_verbs.cpp),
// exactly as the app reads a script.
//
// Checked on every input:
//  * a refusal says "fuzz.script:N: reason", N a line of the input;
//  * what parses has one command per non-blank line, in order, each with its
//    source text (trimmed, no comment); those sources, one a line, parse to
//    the same commands (the source is what the app shows and logs);
//  * every command is run by exactly one runner: the lab's, the window's, or
//    the app itself (compare, compare export, quit).
#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz_check.h"
#include "lesson/script.h"
#include "window_verbs.h"

namespace {

using namespace sockscope;
using lesson::ScriptCommand;

void check_same(const ScriptCommand& a, const ScriptCommand& b) {
  FUZZ_CHECK(a.op == b.op && a.source == b.source && a.text == b.text && a.arg == b.arg, a.source);
  FUZZ_CHECK(a.number == b.number && a.timeout_ms == b.timeout_ms, a.source);
  FUZZ_CHECK(a.spec.arch == b.spec.arch && a.spec.port == b.spec.port && a.spec.protocol == b.spec.protocol, a.source);
  FUZZ_CHECK(a.clients.count == b.clients.count && a.clients.preset == b.clients.preset &&
                 a.clients.lines == b.clients.lines,
             a.source);
  FUZZ_CHECK(a.compare.archs == b.compare.archs && a.compare.clients == b.compare.clients, a.source);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::istringstream in(text);
  std::string error;
  const auto commands = app::parse_script(in, "fuzz.script", error);
  if (!commands) {
    fuzz::check_line_error(error, "fuzz.script", ":", ": ", text);
    return 0;
  }

  using Op = ScriptCommand::Op;
  std::string sources;
  int last = 0;
  for (const ScriptCommand& c : *commands) {
    FUZZ_CHECK(c.line > last && c.line <= fuzz::line_count(text), c.source);
    last = c.line;
    FUZZ_CHECK(!c.source.empty() && c.source.find('#') == std::string::npos, c.source);
    const bool app_runs = c.op == Op::compare || c.op == Op::compare_export || c.op == Op::quit;
    FUZZ_CHECK(lesson::is_window_op(c.op) + lesson::LabCommandRunner::runs(c.op) + app_runs == 1, c.source);
    sources += c.source + "\n";
  }

  std::istringstream again(sources);
  std::string again_error;
  const auto reparsed = app::parse_script(again, "again", again_error);
  FUZZ_CHECK(reparsed.has_value(), "a command's own source does not parse: " + again_error);
  FUZZ_CHECK(reparsed->size() == commands->size());
  for (std::size_t i = 0; i < commands->size(); ++i) check_same((*commands)[i], (*reparsed)[i]);
  return 0;
}
