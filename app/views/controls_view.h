// Controls: the server (architecture, protocol, port, options, Start/Stop),
// the clients (add 1, add N, presets), and the command lines a student can
// paste to connect by hand. Every button goes through LabController, the same
// path the --script runner uses.
#pragma once

#include "frame.h"

namespace sockscope::app {

struct ControlsView {
  int clients_n = 5;
  int hold_ms = 0;  // 0 = the preset's own timing
  void draw(FrameContext& ctx);
};

}  // namespace sockscope::app
