// The timeline: what to draw, computed apart from drawing it (Tracy's split),
// so it can be tested and timed with no window.
//
// Two parts:
//  * TimelineIndex — built from a Session's events, kept up to date
//    incrementally while the store only grows at its end (a late insert in the
//    middle rebuilds it). It holds one Lane per process and per thread (thread
//    lanes right after their process), and per lane: state spans (accepting,
//    supervising, waiting, handling connection N, zombie), activity spans nested by depth
//    (working, sleeping, blocked on the shared counter's lock, parked at a
//    stepping gate, running an event-loop handler), the lane's events as markers, and arrows between
//    lanes (fork, spawn, handoff through a queue).
//  * TimelineIndex::layout() — for one viewport (a time range, a pixel width,
//    a vertical range of rows) returns only what is on screen: spans and
//    markers are found by binary search on time; runs of spans or markers
//    narrower than `min_px` fold into one item with a count; lanes outside the
//    vertical range are skipped. Its cost grows with the pixels drawn, not with
//    the events stored.
//
// Every span row is sorted by begin and, because spans on one row never
// overlap (nesting goes to the next row), also by end; that is what makes the
// binary search valid. Open spans (still going at the end of the store) end at
// kOpenEnd and are clamped to the viewport's `now_ns` when laid out.
//
// Plain data; not thread-safe. The UI keeps one TimelineIndex and updates it
// inside the session's read lock (see session.h, "Concurrency contract").
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "session/session.h"
#include "trace/event.h"

namespace sockscope::session {

enum class SpanKind : std::uint8_t {
  accepting,  // a listener (or prefork worker) sits in accept()
  waiting,    // a pool worker waits for the queue; a child not yet serving
  handling,   // serving one connection (conn), or several at once (conn 0, count = how many)
  working,    // SITE WORK / /work: burning CPU
  sleeping,   // SITE SLEEP / /sleep: blocked in the handler
  blocked,    // waiting for the shared counter's mutex (lock_wait .. lock_acquire)
  handler,    // the event loop runs one handler (handler_begin .. handler_end)
  zombie,     // exited, not yet reaped (exit .. reap)
  at_gate,    // parked at a stepping gate until released (gate_wait .. gate_pass)
  supervising,  // forked prestarted workers that accept; never accepts itself (prefork/hybrid master)
  count_
};
std::string_view span_kind_name(SpanKind k);

enum class ArrowKind : std::uint8_t { fork, spawn, handoff };
std::string_view arrow_kind_name(ArrowKind k);

inline constexpr std::uint64_t kOpenEnd = std::numeric_limits<std::uint64_t>::max();

struct TimelineSpan {
  std::uint64_t begin_ns = 0;
  std::uint64_t end_ns = kOpenEnd;
  SpanKind kind = SpanKind::waiting;
  std::uint32_t conn = 0;   // handling: the connection (0 = several)
  std::uint32_t count = 1;  // handling several: how many connections
};

struct TimelineArrow {
  std::uint64_t from_ns = 0;
  std::uint64_t to_ns = 0;
  std::uint32_t from_lane = 0;
  std::uint32_t to_lane = 0;
  ArrowKind kind = ArrowKind::fork;
  std::uint32_t conn = 0;
};

struct Lane {
  pid_t pid = 0;
  std::uint32_t tid = 0;      // == pid for a process lane
  bool is_thread = false;     // a thread lane, drawn under its process
  bool client_sim = false;    // the client simulator (emits client_* events)
  std::string label;          // "pid 4213 listener", "tid 4220"
  std::uint64_t begin_ns = 0; // fork/spawn or first event
  std::uint64_t end_ns = kOpenEnd;  // reap (process), thread_exit (thread); kOpenEnd = still there
  // rows[0]: state spans; rows[1..]: activity spans by nesting depth.
  std::vector<std::vector<TimelineSpan>> rows;
  // The lane's events (markers): timestamps and indices into Session::events().
  std::vector<std::uint64_t> event_ts;
  std::vector<std::uint32_t> event_index;
  std::vector<trace::Kind> event_kind;
};

// One viewport.
struct TimelineViewport {
  std::uint64_t t0_ns = 0;
  std::uint64_t t1_ns = 1;       // > t0_ns
  float width_px = 1000.0f;      // pixels for [t0, t1]
  float min_px = 3.0f;           // narrower items fold
  std::uint64_t now_ns = 0;      // where open spans end (live clock or end of recording)
  // Vertical culling in row units: lane i occupies rows [row_of(i), row_of(i) + rows_of(i)).
  float first_row = 0.0f;
  float last_row = std::numeric_limits<float>::max();
};

// What to draw. x in pixels from the viewport's left edge (may extend past it
// for spans that start before t0 or end after t1: clipped to [-1, width+1]).
struct DrawSpan {
  float x0 = 0, x1 = 0;
  std::uint32_t lane = 0;
  std::uint16_t row = 0;
  SpanKind kind = SpanKind::waiting;
  std::uint32_t conn = 0;
  std::uint32_t folded = 1;       // > 1: this many spans folded into one item
  std::uint32_t concurrent = 1;   // handling several connections at once
  std::uint64_t begin_ns = 0, end_ns = 0;  // of the (folded) item, end clamped to now
};
struct DrawMarker {
  float x = 0;
  std::uint32_t lane = 0;
  std::uint32_t count = 1;        // events folded into this marker
  std::uint32_t first_event = 0;  // index into Session::events()
  trace::Kind kind = trace::Kind::error;  // of the first event
};
struct DrawArrow {
  float x0 = 0, x1 = 0;
  std::uint32_t from_lane = 0, to_lane = 0;
  ArrowKind kind = ArrowKind::fork;
  std::uint32_t conn = 0;
};
struct TimelineLayout {
  std::vector<std::uint32_t> lanes;  // visible lanes, top to bottom
  std::vector<DrawSpan> spans;
  std::vector<DrawMarker> markers;
  std::vector<DrawArrow> arrows;
  std::size_t folded_spans = 0;    // spans hidden inside folded items
  std::size_t folded_events = 0;   // events hidden inside folded markers
};

class TimelineIndex {
 public:
  // Brings the index up to date with `s`: appends what is new when the store
  // only grew at its end, rebuilds otherwise. Cheap when nothing changed.
  void update(const Session& s);
  void clear();

  const std::vector<Lane>& lanes() const { return lanes_; }
  const std::vector<TimelineArrow>& arrows() const { return arrows_; }
  std::size_t events_indexed() const { return indexed_; }
  std::size_t rebuilds() const { return rebuilds_; }
  // Lanes top to bottom: processes in order of appearance (the client
  // simulator last), each followed by its threads.
  const std::vector<std::uint32_t>& order() const { return order_; }
  // Total rows of all lanes, and where each lane starts (in rows).
  float total_rows() const { return total_rows_; }
  float row_of(std::uint32_t lane) const { return lane_row_[lane]; }
  std::uint32_t rows_of(std::uint32_t lane) const;
  // Lane index of (pid, tid), or -1.
  int find_lane(pid_t pid, std::uint32_t tid) const;

  TimelineLayout layout(const TimelineViewport& vp) const;

 private:
  struct LaneState {
    // Its own process accepts, or is about to: it listens (serial, fork,
    // thread, pool, evloop) or has accepted (a prefork worker). Not a master
    // whose workers accept (that one is a supervisor).
    bool acceptor = false;
    bool accepted = false;    // emitted accept itself
    bool supervisor = false;  // forked prestarted workers (fork with conn 0) and never accepted
    bool worker = false;      // emitted worker_start: waits for work
    std::vector<std::uint32_t> open_conns;  // connections it serves now
    std::vector<std::size_t> activity;      // open activity spans: row index per depth
    std::uint32_t last_closed = 0;          // a stray event after close must not reopen it
    bool exited = false;
  };
  struct PendingArrow {
    std::uint64_t ts = 0;
    std::uint32_t from_lane = 0;
    ArrowKind kind = ArrowKind::fork;
    std::uint32_t conn = 0;
  };

  void add(const trace::Event& e, std::uint32_t index);
  std::uint32_t lane_for(pid_t pid, std::uint32_t tid, std::uint64_t ts);
  void set_state(std::uint32_t lane, std::uint64_t ts);
  void supervises(std::uint32_t lane, std::uint64_t ts);
  void open_conn(std::uint32_t lane, std::uint32_t conn, std::uint64_t ts);
  void close_conn(std::uint32_t lane, std::uint32_t conn, std::uint64_t ts);
  void begin_activity(std::uint32_t lane, SpanKind kind, std::uint32_t conn, std::uint64_t ts);
  void end_activity(std::uint32_t lane, SpanKind kind, std::uint32_t conn, bool match_conn, std::uint64_t ts);
  void end_lane(std::uint32_t lane, std::uint64_t ts);
  void arrow_to(std::uint32_t from_lane, std::uint64_t ts, pid_t pid, std::uint32_t tid, ArrowKind kind,
                std::uint32_t conn);
  void relayout_rows();

  std::vector<Lane> lanes_;
  std::vector<LaneState> state_;
  std::vector<TimelineArrow> arrows_;  // sorted by from_ns (events arrive in time order)
  std::uint64_t max_arrow_ns_ = 0;     // longest arrow, to widen the culling window
  std::unordered_map<std::uint64_t, std::uint32_t> lane_of_;  // (pid << 32 | tid) -> lane
  // Arrows waiting for their target lane's first event: key (pid << 32 | tid).
  std::unordered_map<std::uint64_t, PendingArrow> pending_;
  std::unordered_map<std::uint32_t, PendingArrow> enqueued_;  // conn -> enqueue
  std::vector<std::uint32_t> order_;
  std::vector<float> lane_row_;
  float total_rows_ = 0.0f;
  std::size_t indexed_ = 0;
  trace::Event last_indexed_{};  // to notice a late insert before the indexed prefix
  std::size_t rebuilds_ = 0;
};

}  // namespace sockscope::session
