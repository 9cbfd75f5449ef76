// Connection flow: a sequence diagram of the newest few connections. A lane
// per client, the listener (or event loop) and each handler process or
// thread; an arrow per system call between them (connect/accept, the handoff
// by fork, pthread_create or the queue, each request and reply, close), notes
// for what stays inside one thread (recv, exit, the counter), and the reap.
// The step just taken through a gate is highlighted, with one sentence saying
// what its system call did. The picture is session::fold_flow() at the frame's
// instant, so a recording shows what the live run showed.
#pragma once

#include <cstdint>

#include "frame.h"
#include "session/flow.h"

namespace sockscope::app {

struct FlowView {
  int max_connections = 4;  // the "newest N connections" slider
  void draw(FrameContext& ctx);
  // The diagram of the last frame drawn (tests).
  const session::FlowDiagram& diagram() const { return diagram_; }

 private:
  void draw_step();
  void draw_diagram(const FrameContext& ctx);
  session::FlowDiagram diagram_;
  const session::Session* folded_session_ = nullptr;
  std::uint64_t folded_generation_ = ~std::uint64_t{0};
  std::uint64_t folded_at_ = 0;
  int folded_max_ = 0;
  std::size_t shown_messages_ = 0;  // scroll to the bottom when this grows
  int scrolled_to_step_ = -1;
};

}  // namespace sockscope::app
