// Connections: one row per accepted connection, joined with the client that
// made it: client, serving process, state, bytes, requests, latency. Live.
#pragma once

#include "frame.h"

namespace sockscope::app {

struct ConnectionsView {
  bool open_only = false;
  bool follow = true;  // keep the newest rows in view
  void draw(FrameContext& ctx);

 private:
  std::vector<std::uint32_t> rows_;  // indices into model.connections
};

}  // namespace sockscope::app
