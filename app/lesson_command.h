// `sockscope lesson [--list | --queries | LESSON [--check]]` and the GUI's
// `--lesson FILE`. The command lives in app/ because `lesson LESSON` opens
// the window; --list, --queries and --check never touch a display.
#pragma once

namespace CLI {
class App;
}

namespace sockscope::app {

struct GuiOptions;

// Registers the `lesson` subcommand; `gui` is filled in and run for
// `lesson LESSON`. Sets exit_code.
void register_lesson_command(CLI::App& app, GuiOptions& gui, int& exit_code);

}  // namespace sockscope::app
