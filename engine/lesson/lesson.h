// Lessons as data (docs/lessons.md is the author's guide). A lesson file is
// plain text, one `key: value` line or a line of prose at a time:
//
//   title: Process per connection          the lesson's name in the list
//   summary: One child per client.         one line for the list
//   order: 20                              where it sits in the list
//
//   step: A child for each client          a step; the prose under it is
//   The server waits in **accept()** ...   its text (blank line = paragraph,
//                                          **bold**, `code`)
//   setup: start fork reap=on              script verbs run when the step opens
//   predict: Five clients connect and stay. How many processes now?
//   choice: 1                              a number, N+, N-M, or a word; no
//   choice: 6+                             choice lines: the student types a number
//   answer: processes                      the query that gives the answer
//   do: clients 5 preset=held hold_ms=8000 script verbs run once the student
//   do: wait children 5                    answered (or when the step opens,
//                                          without a prediction)
//   reveal: One listener plus ...          shown beside the measured value
//   goal: zombies >= 3                     QUERY [ARGS] OP NUMBER, checked live
//   within: 60                             seconds --check gives the solution
//   task: Leave three zombies behind.      what the student is asked to do
//   hint: The reap toggle is in Controls.  one per press of Hint
//   solution: set reap=off                 script verbs: Show me, and --check
//
// Keys are lowercase at the start of a line; any other line is prose for the
// step, the reveal or the task above it. A line starting with a word that is
// nearly a key ("anwser:") is refused as a misspelling; indent prose that
// must start that way. '#' at the start of a line is a comment.
//
// No value is ever written in a lesson: the answer and the goal name a query
// (query.h), and the run gives the value.
#pragma once

#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "lesson/query.h"
#include "lesson/script.h"

namespace sockscope::lesson {

// One choice of a prediction and the values it stands for.
struct Choice {
  enum class Kind { exact, at_least, range, word };
  std::string label;  // as written: "6", "6+", "2-4", "thread"
  Kind kind = Kind::exact;
  double lo = 0, hi = 0;
  bool matches(const Value& v) const;
};

struct Prediction {
  int line = 0;
  std::string question;
  std::vector<Choice> choices;  // empty: a number
  QueryRef answer;
  int answer_line = 0;
  std::vector<std::string> reveal;  // paragraphs
  // The choice the measured value falls in (-1: none).
  int matching_choice(const Value& v) const;
};

enum class GoalOp { ge, le, eq, ne, gt, lt };
std::string_view goal_op_text(GoalOp op);

struct Goal {
  int line = 0;
  QueryRef query;
  GoalOp op = GoalOp::ge;
  double target = 0;
  int within_s = 60;
  std::vector<std::string> task;  // paragraphs
  bool met_by(const Value& v) const;
  std::string text() const;  // "zombies >= 3"
};

struct Step {
  int line = 0;
  std::string title;
  std::vector<std::string> text;  // paragraphs
  std::vector<ScriptCommand> setup;
  std::vector<ScriptCommand> actions;  // do:
  std::optional<Prediction> predict;
  std::optional<Goal> goal;
  std::vector<std::string> hints;
  std::vector<ScriptCommand> solution;
};

struct Lesson {
  std::string name;  // the file's stem: "fork"
  std::filesystem::path path;
  std::string title;
  std::string summary;
  int order = 1000;
  std::vector<Step> steps;
};

// Parses a lesson. `file_name` names it in errors: "FILE:LINE: reason".
// `window` parses the app's verbs (layout, present, controls); without it a
// lesson may use only the lab's.
std::optional<Lesson> parse_lesson(std::istream& in, const std::string& file_name, std::string& error,
                                   const WindowVerbParser& window = {});
std::optional<Lesson> load_lesson(const std::filesystem::path& path, std::string& error,
                                  const WindowVerbParser& window = {});

// Where the shipped lessons are: $SOCKSCOPE_LESSONS, else assets/lessons of
// the source tree this binary was built from, else ../share/sockscope/lessons
// beside the binary.
std::filesystem::path lessons_dir();

// One row of the lesson list (the one table of lessons: the files).
struct LessonEntry {
  std::string name;
  std::filesystem::path path;
  std::string title;
  std::string summary;
  int order = 1000;
  int steps = 0;
  std::string error;  // the file did not parse: "FILE:LINE: reason"
};
// Every *.lesson file in `dir`, by order, then name.
std::vector<LessonEntry> list_lessons(const std::filesystem::path& dir, const WindowVerbParser& window = {});

// A shipped lesson's name, or the path of a lesson file. nullopt (and
// `error`) when neither exists.
std::optional<std::filesystem::path> resolve_lesson(const std::string& name_or_path, std::string& error);

// Prose with **bold** and `code` spans, split for drawing.
struct Span {
  std::string text;
  bool bold = false;
  bool code = false;
};
std::vector<Span> spans(const std::string& paragraph);

}  // namespace sockscope::lesson
