// Stepping: the step controls (Run / Step / Slow motion / Pause, with the
// keyboard shortcuts Space, R, P), "Run to" (U: a breakpoint - run until the
// next gate of a kind, for one connection or any, then stop everyone) and the
// "Waiting at gates" panel - who is parked where (process/thread, gate,
// connection, since when), each with its own Release button.
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
#include "trace/gate.h"

namespace sockscope::app {

// One sentence per gate: what the system call at that gate does.
std::string_view gate_explanation(trace::GateKind kind);

// What the shortcuts and buttons do, apart from drawing (testable headless).
enum class StepCommand { run, step, pause, slow };
void apply_step_command(trace::GateTable& gates, StepCommand command, std::uint32_t slow_ms);

// The "Run to" control apart from drawing. `conn_text` is the connection
// field: blank or 0 = any connection; nullopt when it is not a number.
std::optional<trace::RunTarget> parse_run_to(trace::GateKind kind, std::string_view conn_text);
// The "Run to" button (and the script's `step until`): releases everyone
// parked and runs until `target`, then everyone stops as after Pause.
void apply_run_to(trace::GateTable& gates, trace::RunTarget target);
// The toolbar's mode text: "mode: step", "running until connection 3 reaches
// reply", "running until the next accept (any connection)".
std::string step_mode_text(trace::GateMode mode, std::optional<trace::RunTarget> target);

struct StepView {
  int slow_ms = 300;  // the slow-motion slider
  trace::GateKind run_to_kind = trace::GateKind::reply;  // the "Run to" combo
  char run_to_conn[12] = "";                               // ... and its connection field
  void draw(FrameContext& ctx);

 private:
  void handle_keys(trace::GateTable& gates);
  void draw_toolbar(trace::GateTable& gates);
  void draw_run_to(FrameContext& ctx, trace::GateTable& gates);
  void draw_mode(trace::GateTable& gates);
  void draw_waiters(FrameContext& ctx, trace::GateTable& gates);
  std::vector<trace::GateWaiter> waiters_;
  // The table's target as last seen: a new one (the script's `step until`)
  // is copied into the control once, then the teacher edits it freely.
  std::optional<trace::RunTarget> seen_target_;
};

}  // namespace sockscope::app
