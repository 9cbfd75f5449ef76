// Stepping: the step controls (Run / Step / Slow motion / Pause, with the
// keyboard shortcuts Space, R, P) and the "Waiting at gates" panel - who is
// parked where (process/thread, gate, connection, since when), each with its
// own Release button.
//
// It drives the lab's gate table (engine/trace/gate.h) directly: the table
// lives in shared memory, so reading it each frame costs a scan of its slots
// and no lock. Nothing here is part of the session; a recording shows no
// controls (there is nothing left to release).
#pragma once

#include <cstdint>
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

struct StepView {
  int slow_ms = 300;  // the slow-motion slider
  void draw(FrameContext& ctx);

 private:
  void handle_keys(trace::GateTable& gates);
  void draw_toolbar(trace::GateTable& gates);
  void draw_waiters(FrameContext& ctx, trace::GateTable& gates);
  std::vector<trace::GateWaiter> waiters_;
};

}  // namespace sockscope::app
