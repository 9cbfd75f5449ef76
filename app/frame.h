// What one frame of the UI sees. Built by the shell once per frame inside the
// session's read lock (see session/session.h: "Concurrency contract"), handed
// to every view's draw(), and dropped before the lock is released: views never
// keep a pointer or reference into the Session or Model past draw().
#pragma once

#include <cstdint>

#include "session/session.h"

namespace sockscope::lab {
class Controller;
}

namespace sockscope::app {

using LabController = lab::Controller;

struct FrameContext {
  const session::Session& session;
  const session::Model& model;
  // The clock ages and animations are measured on: the trace clock
  // (CLOCK_MONOTONIC) while live, the end of the recording when replaying.
  std::uint64_t now_ns = 0;
  // The live lab behind the session; nullptr when showing a recording.
  LabController* lab = nullptr;
  double fps = 0.0;
  // The views show an instant picked on the timeline, not the newest data:
  // views that could read live state (the gate table) fold the log instead.
  bool at_instant = false;
  // Set by a view that is animating and needs the next frame soon.
  bool wants_redraw = false;
};

}  // namespace sockscope::app
