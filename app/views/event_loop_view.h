// Event loop: the loop drawn as a loop. Completed handlers (the ready queue)
// flow as boxes into "running now"; operations waiting on the kernel are
// listed grouped by connection with their ages. A handler running longer than
// ~50 ms turns the loop red, and the view lists who is being held up behind
// it: the operations that may be ready but cannot be polled, the handlers
// already delayed by it, and the clients whose latency is climbing.
//
// For prefork and hybrid: the workers, how many connections each took, and a
// per-worker loop picker (each hybrid worker runs its own loop).
//
// Everything comes from session::LoopFolder (session/loop_fold.h), fed the
// session's events incrementally (refolded from scratch only when an event was
// inserted out of order), so a replayed session draws the same picture. What
// the Asio hooks cannot see is drawn as "unknown", never guessed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "frame.h"
#include "session/loop_fold.h"

namespace sockscope::app {

// What to draw for one loop, computed apart from drawing (testable without a window).
struct LoopPicture {
  struct ConnGroup {
    std::uint32_t conn = 0;             // 0 = the listener / the loop itself
    std::vector<std::size_t> ops;       // indices into state.pending
    std::uint64_t oldest_age_ns = 0;
    std::size_t unknown = 0;            // ops whose state the hooks cannot tell
  };
  struct Worker {
    pid_t pid = 0;
    std::size_t connections = 0;        // accepted by this worker
    bool alive = true;
    bool has_loop = false;
  };
  session::LoopState state;
  std::vector<ConnGroup> groups;        // by connection, oldest first
  std::vector<Worker> workers;          // prefork / hybrid
  bool stalled = false;                 // a handler runs longer than the threshold
  std::uint64_t running_ns = 0;
  std::vector<std::uint32_t> climbing_clients;  // clients whose recent latency exceeds the threshold
};

LoopPicture compute_loop_picture(const session::LoopState& state, const session::Model& model,
                                 std::uint64_t now_ns, std::uint64_t stall_ns);

struct EventLoopView {
  std::uint64_t stall_ns = 50'000'000;  // red beyond this
  void draw(FrameContext& ctx);

 private:
  void feed(const session::Session& s);
  void draw_loop(const LoopPicture& pic);
  void draw_pending(const LoopPicture& pic, std::uint64_t now_ns);
  void draw_history(const LoopPicture& pic);
  void draw_workers(const LoopPicture& pic);

  session::LoopFolder folder_;
  const void* fed_session_ = nullptr;
  std::size_t fed_ = 0;
  std::uint64_t fed_last_ts_ = 0;
  pid_t selected_ = 0;  // which process's loop (hybrid: one per worker)
};

}  // namespace sockscope::app
