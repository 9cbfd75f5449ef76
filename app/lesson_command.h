// `sockscope lesson [--list | --queries | LESSON [--check]]` and the GUI's
// `--lesson FILE`. The command lives in app/ because `lesson LESSON` opens
// the window; --list, --queries and --check never touch a display.
#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace sockscope::app {

// Opens the window on the lesson at `path`; returns the exit code. Empty in
// the headless build, where `lesson LESSON` says so and exits 2.
using OpenLesson = std::function<int(const std::string& path)>;

// Registers the `lesson` subcommand. Sets exit_code.
void register_lesson_command(CLI::App& app, OpenLesson open, int& exit_code);

}  // namespace sockscope::app
