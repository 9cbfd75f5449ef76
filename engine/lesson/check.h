// `sockscope lesson NAME --check`: runs a lesson headless, on real servers
// and real clients, answering each prediction with its first choice (the
// answer does not change what runs) and meeting each goal with the lesson's
// own solution. It fails, naming the step, when a verb fails, a reveal cannot
// be computed or falls in none of the choices, or a goal is not met within
// its time. Window verbs (layout, present, controls) are skipped.
#pragma once

#include <iosfwd>

#include "lesson/lesson.h"

namespace sockscope::lesson {

struct CheckOptions {
  bool verbose = true;  // a line per step on `out`
};

// 0 when every step passed, 1 otherwise (the reason on `out`).
int check_lesson(const Lesson& lesson, std::ostream& out, const CheckOptions& options = {});

}  // namespace sockscope::lesson
