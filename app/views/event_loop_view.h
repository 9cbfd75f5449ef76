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

// Where the loop is drawn, computed apart from drawing (testable without a
// window): the ring, the running handler's label inside it, and the ready
// queue's boxes on it, the next to run at the top, clockwise. The ring is
// made large enough that no box can touch the label, whatever the text size;
// when such a ring is wider than the window, the label goes above a smaller ring.
struct LoopBox {
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool overlaps(const LoopBox& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};
struct LoopRing {
  float cx = 0, cy = 0, radius = 0;
  LoopBox running;              // the running handler's label (text inset by `pad`)
  std::vector<LoopBox> boxes;   // the ready queue, at most `slots`
  std::size_t slots = 0;        // boxes the ring has room for; more are counted, not drawn
  bool label_inside = true;     // false: the label stands above the ring
  float width = 0, height = 0;  // the space the picture takes from its top-left corner
};
// `label` is the running label's text size, `box` one ready box's size, `pad`
// the label's inner margin, `min_radius` the smallest ring worth drawing,
// `avail_w` the width there is (0 = no limit).
LoopRing layout_loop_ring(float label_w, float label_h, float box_w, float box_h, float pad, float min_radius,
                          std::size_t ready, std::size_t max_boxes, float avail_w = 0.0f);

struct EventLoopView {
  std::uint64_t stall_ns = 50'000'000;  // red beyond this
  void draw(FrameContext& ctx);
  // What the last frame drew (tests): the "loop is blocked" sentence's
  // screen rows (0, 0 = not drawn), and the ring.
  struct Drawn {
    float blocked_y0 = 0, blocked_y1 = 0;
    LoopRing ring;
  };
  const Drawn& drawn() const { return drawn_; }

 private:
  void feed(const session::Session& s);
  void draw_blocked(const LoopPicture& pic);
  void draw_loop(const LoopPicture& pic, std::uint64_t now_ns);
  void draw_pending(const LoopPicture& pic, std::uint64_t now_ns);
  void draw_history(const LoopPicture& pic);
  void draw_workers(const LoopPicture& pic);

  session::LoopFolder folder_;
  const void* fed_session_ = nullptr;
  std::size_t fed_ = 0;
  std::uint64_t fed_last_ts_ = 0;
  pid_t selected_ = 0;  // which process's loop (hybrid: one per worker)
  Drawn drawn_;
};

}  // namespace sockscope::app
