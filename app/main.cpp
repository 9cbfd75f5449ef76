// The one `sockscope` binary: the engine's headless subcommands, plus the GUI
// (no subcommand) and `replay FILE`, which live here because they need a
// window. Built with SOCKSCOPE_BUILD_GUI=OFF there is no window: the GUI's
// options and `replay` are not offered, `lesson LESSON` says to use --check,
// and no subcommand runs the default lesson in the terminal.
#include <CLI/CLI.hpp>

#include <iostream>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "cli/cli.h"
#include "lesson_command.h"

#ifdef SOCKSCOPE_GUI
#include "gui_main.h"
#include "lesson/lesson.h"
#include "session/export.h"
#include "window_verbs.h"
#endif

namespace {

#ifdef SOCKSCOPE_GUI
using sockscope::app::GuiOptions;

void add_gui_options(CLI::App& app, GuiOptions& options, std::string& replay_file, int& exit_code) {
  app.add_option("--script", options.script, "run scripted UI actions from FILE, then exit")
      ->check(CLI::ExistingFile);
  app.add_option("--screenshot", options.screenshot, "write the window as a PNG (with --script: its screenshot)");
  app.add_option("--font-size", options.font_px, "text size in pixels (default 19, remembered)")
      ->check(CLI::Range(10.0f, 48.0f));
  app.add_option_function<std::string>(
         "--geometry",
         [&](const std::string& text) {
           std::string error;
           sockscope::app::parse_geometry(text, options.width, options.height, error);
         },
         "window size WxH, e.g. 1280x720 (default: the screen's work area, then as last left; remembered)")
      ->check(CLI::Validator(
          [](std::string& text) {
            int w = 0, h = 0;
            std::string error;
            return sockscope::app::parse_geometry(text, w, h, error) ? std::string() : error;
          },
          "WxH"));
  app.add_flag("--fullscreen", options.fullscreen, "start full screen on the primary monitor (F11 toggles)");
  app.add_option("--theme", options.theme, "dark or light (remembered)")->check(CLI::IsMember({"dark", "light"}));
  app.add_option("--lesson", options.lesson, "open the app on a lesson: a shipped lesson's name or a lesson file")
      ->check(CLI::Validator(
          [](std::string& text) {
            // Refused before the window opens: an unknown name, or FILE:LINE: reason.
            std::string error;
            auto path = sockscope::lesson::resolve_lesson(text, error);
            if (path && !sockscope::lesson::load_lesson(*path, error, sockscope::app::parse_window_verb)) return error;
            return path ? std::string() : error;
          },
          "LESSON"));
  app.add_option("--port", options.port, "port of the default lesson's server (default 4481 or the next free)")
      ->check(CLI::Range(1, 65535));
  auto* replay = app.add_subcommand("replay", "open a saved session (JSON Lines) in the GUI");
  replay->add_option("FILE", replay_file, "a .jsonl file written by File > Export or `run --export`")
      ->required()
      ->check(CLI::ExistingFile);
  replay->fallthrough();
  replay->callback([&] {
    std::string error;
    auto session = sockscope::session::read_jsonl(replay_file, error);
    if (!session) {
      std::cerr << "sockscope: " << error << "\n";
      exit_code = 1;
      return;
    }
    exit_code = sockscope::app::run_gui_replay(options, std::move(*session), replay_file);
  });
}
#endif

// Under AddressSanitizer only (the asan preset): the leak check runs when
// main returns, once everything of ours is destroyed, rather than from
// LeakSanitizer's own exit handler, which runs after every library's static
// destructors (Mesa's and LLVM's, in the GUI). From there its tracer once
// crashed in CI ("Tracer caught signal 11") and failed a passing test. The
// check is the same one: what is unreachable now is reported and exits 23,
// and LeakSanitizer does not check again at exit.
int checked_for_leaks(int exit_code) {
#if defined(__SANITIZE_ADDRESS__)
  __lsan_do_leak_check();
#endif
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
#ifdef SOCKSCOPE_GUI
  GuiOptions options;
  std::string replay_file;
  auto extend = [&](CLI::App& app, int& exit_code) {
    add_gui_options(app, options, replay_file, exit_code);
    auto open = [&options](const std::string& path) {
      options.lesson = path;
      return sockscope::app::run_gui(options);
    };
    sockscope::app::register_lesson_command(app, open, exit_code);
  };
  auto gui = [&](CLI::App&) { return sockscope::app::run_gui(options); };
  return checked_for_leaks(sockscope::cli::main(argc, argv, extend, gui));
#else
  auto extend = [](CLI::App& app, int& exit_code) {
    sockscope::app::register_lesson_command(app, {}, exit_code);
  };
  return checked_for_leaks(sockscope::cli::main(argc, argv, extend));
#endif
}
