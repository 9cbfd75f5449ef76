// Ingest: the trace ring and the /proc samples into the session, in time order.
//
// Events reach the ring in the order processes push them, which is not quite
// the order they happened: a process stamps an event, is preempted, and
// another process pushes an event stamped later before it. The session puts
// a late event in its place, but its live fold has to rewind for it (a copy
// of the whole model from the checkpoint, then a refold): under load, with
// four workers on two cores, that happened on almost every batch and the
// ring overflowed while the fold caught up. So ingest holds what it drains
// for a short reorder window, in time order, and hands the session only what
// is older than the window: a late event lands in place before anything after
// it was folded. The picture runs the window (20 ms) behind the servers, and
// up to one of the lab's poll periods (LabOptions::poll_period) more, which
// nobody can see; flush() hands over everything at once.
//
// The /proc samples go through the same window: a sample is stamped when it
// starts and handed over when it ends, and while one is being taken nothing
// stamped after its start is handed over. When ingest falls behind (a full
// batch), the window is counted back from the newest event drained rather
// than from now. Either way, a late item is one the window could not hold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "observe/proc_sampler.h"
#include "session/session.h"
#include "trace/event.h"
#include "trace/ring.h"

namespace sockscope::lab {

class Ingest {
 public:
  static constexpr std::uint64_t kReorderWindowNs = 20'000'000;
  static constexpr std::size_t kBatch = 16384;
  // pending_ is compacted when what was handed over is this many times what
  // is still held (see step()).
  static constexpr std::size_t kCompactRatio = 8;

  Ingest(trace::TraceRing& ring, session::SharedSession& session) : ring_(ring), session_(session) {}

  // Drains up to kBatch events from the ring, takes `snapshots`, and hands
  // the session what is older than the reorder window, or everything when
  // `all` (and then drains the ring to the end). Nothing stamped at or after
  // `hold_from` is handed over unless `all`: a /proc sample that began then
  // is still being taken, and will be stamped with its start (a sample can
  // take longer than the window: the TCP dump walks every TIME_WAIT socket).
  // Also brings the session's drop count up to date. Returns how many events
  // it drained from the ring. Safe to call from two threads (the ingest
  // thread and flush()).
  std::size_t step(std::deque<observe::ProcSnapshot> snapshots, bool all,
                   std::uint64_t hold_from = UINT64_MAX);
  // Forgets what it holds that is stamped before `ts_ns` (the session is
  // about to be cleared for a new server).
  void discard_before(std::uint64_t ts_ns);

 private:
  trace::TraceRing& ring_;
  session::SharedSession& session_;
  std::mutex mutex_;
  void compact();  // drops pending_[0, head_)

  std::vector<trace::Event> pending_;               // by time; [head_, end) drained, not handed over
  std::size_t head_ = 0;
  std::deque<observe::ProcSnapshot> pending_snaps_;  // the same for samples
  std::uint64_t drops_told_ = 0;  // the ring's drop count the session has
};

}  // namespace sockscope::lab
