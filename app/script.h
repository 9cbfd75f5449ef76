// --script FILE: scripted UI actions for tests and course authors. One command
// a line; '#' starts a comment. Every action goes through LabController and
// AppUi, the same code the buttons and menus run.
//
//   start ARCH [port=N (0 = any free)] [protocol=ftp|http] [SETTING=VALUE ...]
//                                    SETTING: any row of the settings table the
//                                    architecture uses (reap=on|off, max_children=N,
//                                    workers=N, queue=N, counter=unsafe|mutex, ...)
//   set SETTING=VALUE ...            as changing it in the controls: applies on the
//                                    next start, except reap=on (reaps now)
//   stop
//   lines LINE | LINE | ...          the custom preset's protocol lines
//   clients N [preset=NAME] [hold_ms=MS] [work_ms=MS]
//                                    NAME: a client preset (steady, burst, slow,
//                                    heavy, counter, held, keepalive, close,
//                                    custom: clients::presets())
//   wait children N [timeout=S]      live children of the server in /proc
//   wait connections N [timeout=S]   open connections
//   wait ms MS
//   theme dark|light
//   font-size PX
//   layout overview|stepping|compare the View menu's layouts
//   present VIEW|off                 presentation mode (F5): VIEW fills the window
//                                    (tree, flow, event_loop, threads, code,
//                                    timeline, totals); off leaves it
//   controls hide|show               collapse the controls column (Tab)
//   dump-model FILE                  the session model as JSON (process tree, who is parked,
//                                    the layout and the code view's cursors)
//   screenshot [FILE]                the window as PNG (default: --screenshot)
//   export FORMAT FILE [timeout=S]   File > Export's Export button: FORMAT is
//                                    jsonl, chrome, csv, text or png (the
//                                    window); waits until the file is written
//                                    (default 60 s) and fails if it is not
//   step run|step|pause|slow         the stepping toolbar's buttons (gates)
//   step until GATE [conn=N]         "Run to": run until the next GATE gate
//                                    (accept, fork, read, reply, ...) of
//                                    connection N (0 or none = any), then stop
//   step stage [timeout=S]           Step stage: pauses if running, waits for
//                                    someone at a gate, moves the earliest
//                                    arrival's connection through its next
//                                    stage, and waits until that run ends
//                                    (fails if it ends without reaching the
//                                    next stage; default 10 s)
//   compare [archs=A,B] [references=R,S] [clients=N,M] [scenario=NAME]
//           [protocol=http|ftp] [duration=S] [trace=on|off] [timeout=S]
//                                    the Compare window's Run: switches to the
//                                    compare layout, measures each server in
//                                    turn and waits until the run ends (default
//                                    timeout: each row's duration + 30 s)
//   compare export FILE [timeout=S]  the Compare window's Export (.md, .csv,
//                                    .json, or .png of its charts); waits until
//                                    the file is written and fails if it is not
//   quit
//
// A bad line is refused before anything runs: "FILE:LINE: reason", exit 2.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "compare/compare.h"
#include "lab_controller.h"
#include "stage_step.h"
#include "views/export_view.h"

namespace sockscope::app {

class AppUi;

struct ScriptCommand {
  enum class Op { start, set, stop, lines, clients, wait_children, wait_connections, wait_ms, theme, font_size,
                  dump_model, screenshot, step, export_session, layout, compare, compare_export, quit };
  Op op = Op::quit;
  int line = 0;
  std::string text;        // arch, theme, or file; layout: its verb (layout, present, controls)
  std::string arg;         // layout: the verb's argument
  int number = 0;          // children/connections to wait for, ms, px
  int timeout_ms = 10000;
  lab::ServerSpec spec;    // start; set: the values
  std::vector<servers::SettingId> settings_given;  // set
  bool port_given = false; // start: port=N given (0 = any free port)
  ClientRequest clients;   // clients
  trace::RunTarget until;  // step until
  ExportFormat format = ExportFormat::jsonl;  // export
  compare::CompareOptions compare;             // compare
};

// Parses a whole script. On the first bad line returns nullopt and sets
// `error` to "<name>:<line>: <reason>".
std::optional<std::vector<ScriptCommand>> parse_script(std::istream& in, const std::string& name,
                                                       std::string& error);

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
  int settle_frames_ = 0;
  std::string capture_path_;
  std::uint64_t export_ticket_ = 0;
  std::uint64_t compare_mark_ = 0;  // compare: runs finished / exports done when it began
  StageStepper stage_;        // step stage
  bool stage_started_ = false;
  bool finished_ = false;
  int exit_code_ = 0;
  std::string error_;
};

}  // namespace sockscope::app
