// Threads: per server process, one lane per thread (tid, name, what it is
// doing now, which connection it serves), the pool's queue as boxes, the
// shared visitor counter (expected vs actual, every lost update with the two
// threads involved), and memory per connection measured from PSS.
//
// Everything drawn comes from session::fold_threads() (session/threads_fold.h),
// so a replayed session draws the same picture. The fold is cached per session
// generation: it is recomputed only when the session changed.
#pragma once

#include <cstdint>
#include <vector>

#include "frame.h"
#include "session/threads_fold.h"

namespace sockscope::app {

// One row of the lanes table: which process and lane (indices into the fold).
struct ThreadRow {
  std::size_t process = 0;
  std::size_t lane = 0;
};

// The rows to draw, computed apart from drawing (testable without a window):
// alive threads of every process, plus exited ones when `show_exited`.
std::vector<ThreadRow> compute_thread_rows(const session::ThreadsModel& model, bool show_exited);

struct ThreadsView {
  bool show_exited = false;
  void draw(FrameContext& ctx);

 private:
  void draw_lanes(const FrameContext& ctx);
  void draw_queues();
  void draw_counters();
  void draw_memory(const FrameContext& ctx);

  session::ThreadsModel fold_;
  std::uint64_t fold_generation_ = ~std::uint64_t{0};
  const void* fold_session_ = nullptr;
  std::vector<ThreadRow> rows_;
};

}  // namespace sockscope::app
