// --script FILE: scripted UI actions for tests and course authors. One command
// a line; '#' starts a comment. Every action goes through LabController and
// AppUi, the same code the buttons and menus run.
//
// The lab's verbs (start, set, stop, lines, clients, wait, step, compare,
// compare export, quit) are the engine's: see engine/lesson/script.h, which
// lessons share. The window adds:
//   theme dark|light
//   font-size PX
//   layout overview|stepping|compare the View menu's layouts
//   present VIEW|off                 presentation mode (F5): VIEW fills the window
//                                    (tree, flow, event_loop, threads, code,
//                                    timeline, totals, lesson); off leaves it
//   controls hide|show               collapse the controls column (Tab)
//   dump-model FILE                  the session model as JSON (process tree, who is parked,
//                                    the layout and the code view's cursors)
//   screenshot [FILE]                the window as PNG (default: --screenshot)
//   export FORMAT FILE [timeout=S]   File > Export's Export button: FORMAT is
//                                    jsonl, chrome, csv, text or png (the
//                                    window); waits until the file is written
//                                    (default 60 s) and fails if it is not
//   start-here open|close            Help > Lessons: the list of lessons
//   lesson open LESSON               a lesson in the panel (name or file)
//   lesson next|back|skip|hint|show-me|close
//                                    the panel's buttons (N, B)
//   lesson answer N                  the prediction's Nth choice (1 = first),
//                                    or the number N when it has no choices
//   lesson wait-step N [timeout=S]   until step N (1 = first) has run its
//                                    verbs and waits for the student
//
// A bad line is refused before anything runs: "FILE:LINE: reason", exit 2.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "lab_controller.h"
#include "lesson/script.h"
#include "views/export_view.h"
#include "window_verbs.h"

namespace sockscope::app {

class AppUi;

class ScriptRunner {
 public:
  ScriptRunner(std::vector<ScriptCommand> commands, std::string name, std::string default_screenshot);

  // Runs what it can this frame (call before drawing, on the UI thread).
  void step(LabController* lab, AppUi& ui);  // lab: nullptr on a replay
  // A PNG to write of the frame about to be drawn ("" = none). The shell
  // writes it after rendering and reports with screenshot_done().
  const std::string& screenshot_request() const { return capture_path_; }
  void screenshot_done(bool ok, const std::string& error);

  bool finished() const { return finished_; }
  // The current command waits for time to pass or the lab to change (wait,
  // compare, export, step stage, lesson wait-step): the shell may draw slowly.
  bool waiting() const;
  int exit_code() const { return exit_code_; }
  // The failure, "<name>:<line>: reason" (empty on success).
  const std::string& error() const { return error_; }

 private:
  void fail(const ScriptCommand& c, const std::string& reason);
  void next();

  std::vector<ScriptCommand> commands_;
  std::string name_;
  std::string default_screenshot_;
  std::size_t pc_ = 0;
  bool started_current_ = false;
  std::uint64_t deadline_ns_ = 0;
  lesson::LabCommandRunner lab_;  // the lab's verbs
  int settle_frames_ = 0;
  std::string capture_path_;
  std::uint64_t export_ticket_ = 0;
  std::uint64_t compare_mark_ = 0;  // compare: runs finished / exports done when it began
  bool finished_ = false;
  int exit_code_ = 0;
  std::string error_;
};

}  // namespace sockscope::app
