// Controls: the server (architecture, protocol, port, options, Start/Stop),
// the clients (add 1, add N, presets), and the command lines a student can
// paste to connect by hand. Every button goes through LabController, the same
// path the --script runner uses.
#pragma once

#include <string>

#include "frame.h"

namespace sockscope::app {

struct ControlsView {
  int clients_n = 5;
  int hold_ms = 0;  // 0 = the preset's own timing
  int work_ms = 0;  // 0 = the preset's own (heavy: 200 ms)
  // The custom preset's lines, one per line of the box (filled with the
  // default script the first time it is shown).
  char lines[1024] = {};
  bool lines_filled = false;
  std::string lines_protocol;  // the protocol `lines` was filled for
  void draw(FrameContext& ctx);
};

}  // namespace sockscope::app
