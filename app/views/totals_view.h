// Totals over time: a strip chart of the server's processes, threads, open
// connections and memory (PSS) at every /proc sample, with the totals now
// in the title - how the tree grew, at any scale. A fold of the samples
// (session/totals.h), so a replay draws the same chart.
#pragma once

#include "frame.h"
#include "session/totals.h"

namespace sockscope::app {

struct TotalsView {
  void draw(FrameContext& ctx);

 private:
  session::TotalsSeries series_;
};

}  // namespace sockscope::app
