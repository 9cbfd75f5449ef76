// The script verbs: one command a line, '#' starts a comment. `--script FILE`
// runs them in the app; a lesson's actions and solutions are the same verbs
// (engine/lesson/lesson.h). This file parses them and runs the lab's verbs on
// a lab::Controller; the window's verbs are parsed and run by the app.
//
// The lab's verbs (here):
//   start ARCH [port=N (0 = any free)] [protocol=ftp|http] [SETTING=VALUE ...]
//                                    SETTING: any row of the settings table the
//                                    architecture uses (reap=on|off, max_children=N,
//                                    workers=N, queue=N, counter=unsafe|mutex, ...);
//                                    what the line leaves out is the controls'
//                                    form (the last `set`s and starts). A server
//                                    already running is stopped first.
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
//           [protocol=http|ftp] [duration=MS] [trace=on|off] [timeout=S]
//                                    measure each server in turn and wait until
//                                    the run ends (default timeout: each row's
//                                    duration + 30 s)
//   compare export FILE [timeout=S]  the last comparison as .md, .csv, .json
//                                    (or, in the app, .png of its charts)
//   quit
//
// The window's verbs (app/script.h): theme, font-size, layout, present,
// controls, dump-model, screenshot, export, start-here, lesson.
//
// A bad line is refused before anything runs: "FILE:LINE: reason".
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "compare/compare.h"
#include "lab/controller.h"
#include "lab/stage_step.h"

namespace sockscope::lesson {

struct ScriptCommand {
  enum class Op { start, set, stop, lines, clients, wait_children, wait_connections, wait_ms, theme, font_size,
                  dump_model, screenshot, step, export_session, layout, compare, compare_export, lesson, quit };
  Op op = Op::quit;
  int line = 0;
  std::string source;      // the line as written (trimmed, comment removed)
  std::string text;        // arch, theme, or file; layout: its verb (layout, present, controls)
  std::string arg;         // layout: the verb's argument
  int number = 0;          // children/connections to wait for, ms, px; export: the format's index
  int timeout_ms = 10000;
  lab::ServerSpec spec;    // start; set: the values
  std::vector<servers::SettingId> settings_given;  // set, start
  bool protocol_given = false;  // start
  bool port_given = false; // start: port=N given (0 = any free port)
  lab::ClientRequest clients;  // clients
  trace::RunTarget until;  // step until
  compare::CompareOptions compare;  // compare
  // compare in a lesson: references not installed where it runs are left
  // out then (drop_unavailable_references), not refused when it is read.
  bool references_if_installed = false;
};

// The argument helpers every verb uses, the window's too. Each returns false
// with `error` set when the words are wrong.
struct VerbArgs {
  const std::vector<std::string>& words;
  std::string& error;
  // lo..hi words, the verb included; else "usage: ...".
  bool want(std::size_t lo, std::size_t hi, const char* usage);
  bool number(const std::string& what, const std::string& s, int lo, int hi, int& out);
  // key=value.
  bool option(const std::string& w, std::string& key, std::string& value);
  // An optional last word `timeout=S` at `index` (1..600 s) into `ms`.
  bool timeout(std::size_t index, const std::string& verb, int& ms);
};

// True for the verbs the window runs (theme, font-size, layout, present,
// controls, dump-model, screenshot, export, start-here, lesson): a headless
// run skips them.
bool is_window_op(ScriptCommand::Op op);

// Parses the window's verbs. Returns false when `words[0]` is not one of
// them; true when it is, with `error` set when the line is bad.
using WindowVerbParser =
    std::function<bool(const std::vector<std::string>& words, ScriptCommand& c, std::string& error)>;

// One line at a time, keeping what a line leaves for the next (the custom
// preset's `lines`).
class ScriptParser {
 public:
  // `lesson`: a lesson's lines (see ScriptCommand::references_if_installed).
  explicit ScriptParser(WindowVerbParser window = {}, bool lesson = false)
      : window_(std::move(window)), lesson_(lesson) {}
  // Parses `line` (a comment and surrounding blanks allowed). Returns false
  // with `error` (no file or line prefix) on a bad line; `blank` is set when
  // the line holds no command.
  bool parse(const std::string& line, ScriptCommand& out, bool& blank, std::string& error);

 private:
  WindowVerbParser window_;
  bool lesson_ = false;
  std::vector<std::string> lines_;
};

// Parses a whole script. On the first bad line returns nullopt and sets
// `error` to "<name>:<line>: <reason>".
std::optional<std::vector<ScriptCommand>> parse_script(std::istream& in, const std::string& name,
                                                       std::string& error, const WindowVerbParser& window = {});

// Runs the lab's verbs, one command at a time, without blocking: call tick()
// once per frame (or poll) with the same command until it is not `running`;
// call begin() before each new command.
class LabCommandRunner {
 public:
  enum class Status { running, done, failed };
  // True for the verbs tick() runs (all but compare, compare export, quit
  // and the window's).
  static bool runs(ScriptCommand::Op op);

  void begin();
  // `live` may be null (a replay): then only `wait ms` runs, the rest fail.
  Status tick(const ScriptCommand& c, lab::Controller* live, std::uint64_t now_ns);
  const std::string& error() const { return error_; }
  // The stage stepper a `step stage` drives (the Stepping window shows it).
  const lab::StageStepper& stage() const { return stage_; }

 private:
  Status fail(std::string reason);

  bool started_ = false;
  std::uint64_t deadline_ns_ = 0;
  lab::StageStepper stage_;
  bool stage_started_ = false;
  std::string error_;
};

}  // namespace sockscope::lesson
