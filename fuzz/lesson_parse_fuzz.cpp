// libFuzzer harness: the lesson file parser (engine/lesson/lesson.cpp), with
// the window's verbs as the app reads lessons (app/window_verbs.cpp).
//
// Checked on every input:
//  * a refusal says "fuzz.lesson:N: reason", N a line of the input;
//  * what parses is a whole lesson (lesson.h's rules): a title, a summary,
//    steps in file order each with a title and text; a prediction has its
//    answer, a goal its solution and a solution its goal; a range choice does
//    not run backwards; no verb a lesson may not run (quit, screenshot, ...);
//  * the prose splits into spans without losing or inventing text.
#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz_check.h"
#include "lesson/lesson.h"
#include "window_verbs.h"

namespace {

using namespace sockscope;
using lesson::ScriptCommand;

void check_paragraphs(const std::vector<std::string>& paragraphs) {
  for (const std::string& p : paragraphs) {
    std::size_t shown = 0;
    for (const lesson::Span& s : lesson::spans(p)) {
      FUZZ_CHECK(!s.text.empty(), p);
      shown += s.text.size();
    }
    FUZZ_CHECK(shown <= p.size(), p);  // only the ** and ` marks go
  }
}

void check_verbs(const std::vector<ScriptCommand>& verbs) {
  using Op = ScriptCommand::Op;
  for (const ScriptCommand& c : verbs) {
    FUZZ_CHECK(c.op != Op::quit && c.op != Op::screenshot && c.op != Op::dump_model && c.op != Op::export_session &&
                   c.op != Op::theme && c.op != Op::font_size && c.op != Op::lesson,
               c.source);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::istringstream in(text);
  std::string error;
  const auto lesson = lesson::parse_lesson(in, "fuzz.lesson", error, app::parse_window_verb);
  if (!lesson) {
    fuzz::check_line_error(error, "fuzz.lesson", ":", ": ", text);
    return 0;
  }

  FUZZ_CHECK(!lesson->title.empty() && !lesson->summary.empty() && !lesson->steps.empty());
  FUZZ_CHECK(lesson->order >= 0);
  int last = 0;
  for (const lesson::Step& s : lesson->steps) {
    FUZZ_CHECK(s.line > last && s.line <= fuzz::line_count(text), s.title);
    last = s.line;
    FUZZ_CHECK(!s.title.empty() && !s.text.empty(), s.title);
    check_paragraphs(s.text);
    check_verbs(s.setup);
    check_verbs(s.actions);
    check_verbs(s.solution);
    if (s.predict) {
      FUZZ_CHECK(!s.predict->answer.name.empty(), s.title);
      check_paragraphs(s.predict->reveal);
      for (const lesson::Choice& c : s.predict->choices) FUZZ_CHECK(c.lo <= c.hi || c.kind != lesson::Choice::Kind::range);
    }
    FUZZ_CHECK(s.goal.has_value() == !s.solution.empty(), s.title);
    if (s.goal) {
      FUZZ_CHECK(s.goal->within_s >= 1 && s.goal->within_s <= 600);
      FUZZ_CHECK(!s.goal->text().empty());
      check_paragraphs(s.goal->task);
    }
  }
  return 0;
}
