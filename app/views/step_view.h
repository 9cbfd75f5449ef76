// Stepping: the step controls (Run / Step / Step stage / Slow motion / Pause,
// with the keyboard shortcuts Space, Shift+Space, R, P), "Run to" (U: a breakpoint - run until the
// next gate of a kind, for one connection or any, then stop everyone) and the
// "Waiting at gates" panel - who is parked where (process/thread, gate,
// connection, since when), each with its own Release button; clicking a row
// chooses its connection for Step stage.
//
// Step stage (app/stage_step.h) moves one connection through its next
// lifecycle stage over the frames that follow: the view starts the run and
// ticks it once per frame, never waiting on it.
//
// It drives the lab's gate table (engine/trace/gate.h) directly: the table
// lives in shared memory, so reading it each frame costs a scan of its slots
// and no lock. Nothing here is part of the session; a recording shows no
// controls (there is nothing left to release).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frame.h"
#include "stage_step.h"
#include "trace/gate.h"

namespace sockscope::app {

// One sentence per gate: what the system call at that gate does.
std::string_view gate_explanation(trace::GateKind kind);

// What the shortcuts and buttons do, apart from drawing (testable headless).

// Step stage (button, Shift+Space) apart from drawing: from run or slow
// motion it pauses, as Step does; paused, it starts moving connection `conn`
// (0 = the earliest arrival's) through its next stage. A run in progress
// keeps going: pressing again does nothing until it ends.
void apply_step_stage(trace::GateTable& gates, StageStepper& stepper, std::uint32_t conn, StagePlan plan);

// The "Run to" control apart from drawing. `conn_text` is the connection
// field: blank or 0 = any connection; nullopt when it is not a number.
std::optional<trace::RunTarget> parse_run_to(trace::GateKind kind, std::string_view conn_text);
// The toolbar's mode text: "mode: step", "running until connection 3 reaches
// reply", "running until the next accept (any connection)".
std::string step_mode_text(trace::GateMode mode, std::optional<trace::RunTarget> target);

struct StepView {
  int slow_ms = 300;  // the slow-motion slider
  trace::GateKind run_to_kind = trace::GateKind::reply;  // the "Run to" combo
  char run_to_conn[12] = "";                               // ... and its connection field
  // Every frame, drawn or not (presentation mode and the collapsed controls
  // hide the window): the keys (Space, Shift+Space, R, P, U) and the Step
  // stage run's next release. Call on the live context, before draw().
  void update(FrameContext& ctx);
  void draw(FrameContext& ctx);
  // The Step stage run the buttons and keys drive.
  const StageStepper& stage_stepper() const { return stage_; }
  // The connection clicked in "Waiting at gates" (0 = none: the earliest arrival).
  std::uint32_t chosen_conn = 0;

 private:
  void handle_keys(FrameContext& ctx, trace::GateTable& gates);
  void draw_toolbar(FrameContext& ctx, trace::GateTable& gates);
  void step_stage(FrameContext& ctx, trace::GateTable& gates);
  // Run, Pause, Step, Release all: a stage run in progress ends first.
  void command(trace::GateTable& gates, StepCommand cmd);
  void draw_run_to(FrameContext& ctx, trace::GateTable& gates);
  void draw_mode(trace::GateTable& gates);
  void draw_waiters(FrameContext& ctx, trace::GateTable& gates);
  std::vector<trace::GateWaiter> waiters_;
  // The table's target as last seen: a new one (the script's `step until`)
  // is copied into the control once, then the teacher edits it freely.
  std::optional<trace::RunTarget> seen_target_;
  StageStepper stage_;
};

}  // namespace sockscope::app
