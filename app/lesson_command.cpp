#include "lesson_command.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <memory>

#include "lesson/check.h"
#include "lesson/lesson.h"
#include "window_verbs.h"

namespace sockscope::app {
namespace {

struct LessonArgs {
  std::string lesson;
  bool list = false;
  bool queries = false;
  bool check = false;
};

int list_lessons_command() {
  const auto dir = lesson::lessons_dir();
  const auto entries = lesson::list_lessons(dir, parse_window_verb);
  if (entries.empty()) {
    std::cerr << "sockscope: no lessons in " << dir.string() << "\n";
    return 1;
  }
  std::size_t w = 0;
  for (const auto& e : entries) w = std::max(w, e.name.size());
  int rc = 0;
  for (const auto& e : entries) {
    std::cout << std::left << std::setw(static_cast<int>(w) + 2) << e.name;
    if (!e.error.empty()) {
      std::cout << "does not parse: " << e.error << "\n";
      rc = 1;
      continue;
    }
    std::cout << e.title << " (" << e.steps << " steps): " << e.summary << "\n";
  }
  std::cout << "\nsockscope lesson NAME opens one; sockscope lesson NAME --check runs it headless.\n";
  return rc;
}

int queries_command() {
  std::size_t w = 0;
  for (const auto& q : lesson::queries()) w = std::max(w, q.name.size() + (q.args.empty() ? 0 : q.args.size() + 1));
  for (const auto& q : lesson::queries()) {
    std::string name(q.name);
    if (!q.args.empty()) name += " " + std::string(q.args);
    std::cout << std::left << std::setw(static_cast<int>(w) + 2) << name << std::setw(9)
              << lesson::query_source_name(q.source) << q.help << "\n";
  }
  return 0;
}

}  // namespace

void register_lesson_command(CLI::App& app, OpenLesson open, int& exit_code) {
  auto args = std::make_shared<LessonArgs>();
  auto* cmd = app.add_subcommand("lesson", "guided lessons: list them, open one in the app, or check one headless");
  cmd->add_option("LESSON", args->lesson, "a shipped lesson's name (see --list) or the path of a lesson file");
  cmd->add_flag("--list", args->list, "list the shipped lessons");
  cmd->add_flag("--queries", args->queries, "list the queries a lesson's answers and goals may use");
  cmd->add_flag("--check", args->check,
                "run LESSON headless on real servers with its own solutions; exit 1 naming the step that fails");
  cmd->fallthrough();
  cmd->callback([cmd, args, open, &exit_code] {
    if (args->list) {
      exit_code = list_lessons_command();
      return;
    }
    if (args->queries) {
      exit_code = queries_command();
      return;
    }
    if (args->lesson.empty()) {
      std::cerr << cmd->help() << "\nsockscope lesson: give a LESSON, --list or --queries\n";
      exit_code = 2;
      return;
    }
    std::string error;
    auto path = lesson::resolve_lesson(args->lesson, error);
    if (!path) {
      std::cerr << "sockscope: " << error << "\n";
      exit_code = 2;
      return;
    }
    auto parsed = lesson::load_lesson(*path, error, parse_window_verb);
    if (!parsed) {
      std::cerr << "sockscope: " << error << "\n";
      exit_code = 2;
      return;
    }
    if (args->check) {
      exit_code = lesson::check_lesson(*parsed, std::cout);
      return;
    }
    if (!open) {
      std::cerr << "sockscope: this build has no GUI (SOCKSCOPE_BUILD_GUI=OFF); "
                << "`sockscope lesson " << args->lesson << " --check` runs the lesson headless\n";
      exit_code = 2;
      return;
    }
    exit_code = open(path->string());
  });
}

}  // namespace sockscope::app
