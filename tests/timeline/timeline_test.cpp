// The timeline's "what to draw" computation, with no window: lanes, spans,
// arrows from hand-built sessions of each shape; culling by time and rows;
// folding of narrow items; incremental updates equal a rebuild; and the cost
// at 1,000,000 events.
#include <gtest/gtest.h>

#include <chrono>
#include <numeric>

#include "session/session.h"
#include "session/timeline.h"
#include "support/events.h"

namespace sockscope::session {
namespace {

using trace::Kind;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kT0 = 1'000 * kMs;

// test::event, with a handler thread's tid when one is given (0: tid = pid).
trace::Event ev(std::uint64_t t, pid_t pid, Kind kind, std::uint32_t conn = 0, std::int64_t a = 0, std::int64_t b = 0,
                std::uint32_t tid = 0) {
  trace::Event e = test::event(t, pid, kind, conn, a, b);
  if (tid != 0) e.tid = tid;
  return e;
}

// A fork server serving one connection: listen, accept, fork, the child
// serves (with 5 ms of work) and exits, the parent reaps it.
Session fork_session() {
  Session s;
  s.add_event(ev(kT0, 100, Kind::listen, 0, 4481, 3));
  s.add_event(ev(kT0 + 10 * kMs, 100, Kind::accept, 1, 50000, 4));
  s.add_event(ev(kT0 + 11 * kMs, 100, Kind::fork, 1, 101));
  s.add_event(ev(kT0 + 12 * kMs, 101, Kind::child_start, 1, 100));
  s.add_event(ev(kT0 + 13 * kMs, 101, Kind::read, 1, 10));
  s.add_event(ev(kT0 + 14 * kMs, 101, Kind::work_begin, 1, 5));
  s.add_event(ev(kT0 + 19 * kMs, 101, Kind::work_end, 1, 5));
  s.add_event(ev(kT0 + 20 * kMs, 101, Kind::close, 1, 10, 20));
  s.add_event(ev(kT0 + 21 * kMs, 101, Kind::exit, 1, 0));
  s.add_event(ev(kT0 + 30 * kMs, 100, Kind::reap, 1, 101, 0));
  return s;
}

void expect_span(const TimelineSpan& s, SpanKind kind, std::uint64_t begin, std::uint64_t end, std::uint32_t conn = 0) {
  EXPECT_EQ(s.kind, kind) << span_kind_name(s.kind) << " vs " << span_kind_name(kind);
  EXPECT_EQ(s.begin_ns, begin);
  EXPECT_EQ(s.end_ns, end);
  EXPECT_EQ(s.conn, conn);
}

TEST(Timeline, ForkServerLanesSpansAndArrow) {
  Session s = fork_session();
  TimelineIndex t;
  t.update(s);
  ASSERT_EQ(t.lanes().size(), 2u);
  const Lane& parent = t.lanes()[0];
  const Lane& child = t.lanes()[1];
  EXPECT_EQ(parent.pid, 100);
  EXPECT_EQ(child.pid, 101);
  EXPECT_FALSE(child.is_thread);

  // Parent: in accept() until the connection arrives, handles it until the
  // fork hands it over, then back in accept() (still open).
  ASSERT_EQ(parent.rows[0].size(), 3u);
  expect_span(parent.rows[0][0], SpanKind::accepting, kT0, kT0 + 10 * kMs);
  expect_span(parent.rows[0][1], SpanKind::handling, kT0 + 10 * kMs, kT0 + 11 * kMs, 1);
  expect_span(parent.rows[0][2], SpanKind::accepting, kT0 + 11 * kMs, kOpenEnd);

  // Child: serves connection 1, works 5 ms, is a zombie from exit to reap.
  ASSERT_EQ(child.rows.size(), 2u);
  ASSERT_EQ(child.rows[0].size(), 2u);
  expect_span(child.rows[0][0], SpanKind::handling, kT0 + 12 * kMs, kT0 + 20 * kMs, 1);
  expect_span(child.rows[0][1], SpanKind::zombie, kT0 + 21 * kMs, kT0 + 30 * kMs);
  ASSERT_EQ(child.rows[1].size(), 1u);
  expect_span(child.rows[1][0], SpanKind::working, kT0 + 14 * kMs, kT0 + 19 * kMs, 1);
  EXPECT_EQ(child.end_ns, kT0 + 30 * kMs);
  EXPECT_EQ(parent.end_ns, kOpenEnd);

  ASSERT_EQ(t.arrows().size(), 1u);
  EXPECT_EQ(t.arrows()[0].kind, ArrowKind::fork);
  EXPECT_EQ(t.arrows()[0].from_lane, 0u);
  EXPECT_EQ(t.arrows()[0].to_lane, 1u);
  EXPECT_EQ(t.arrows()[0].from_ns, kT0 + 11 * kMs);
  EXPECT_EQ(t.arrows()[0].to_ns, kT0 + 12 * kMs);

  // Markers: every event on its own lane.
  EXPECT_EQ(parent.event_ts.size(), 4u);
  EXPECT_EQ(child.event_ts.size(), 6u);
  EXPECT_EQ(t.total_rows(), 3.0f);
}

TEST(Timeline, ChildStampedBeforeForkStillGetsItsArrow) {
  // The child's first event is stamped before the parent's fork event.
  Session s;
  s.add_event(ev(kT0, 100, Kind::listen));
  s.add_event(ev(kT0 + 1, 100, Kind::accept, 1));
  s.add_event(ev(kT0 + 2, 101, Kind::child_start, 1, 100));
  s.add_event(ev(kT0 + 3, 100, Kind::fork, 1, 101));
  TimelineIndex t;
  t.update(s);
  ASSERT_EQ(t.arrows().size(), 1u);
  EXPECT_EQ(t.arrows()[0].from_ns, kT0 + 3);
  EXPECT_EQ(t.arrows()[0].to_ns, kT0 + 2);
}

TEST(Timeline, ThreadLanesSitUnderTheirProcessAndSpawnArrows) {
  Session s;
  s.add_event(ev(kT0, 200, Kind::listen));
  s.add_event(ev(kT0 + 1 * kMs, 300, Kind::client_connect, 1, 50000, 0));  // the simulator appears
  s.add_event(ev(kT0 + 2 * kMs, 200, Kind::accept, 1));
  // The new thread announces itself: a = its tid, b = the spawning tid.
  s.add_event(ev(kT0 + 4 * kMs, 200, Kind::spawn, 1, 201, 200, 201));
  s.add_event(ev(kT0 + 4 * kMs + 1, 200, Kind::read, 1, 5, 0, 201));
  s.add_event(ev(kT0 + 5 * kMs, 200, Kind::lock_wait, 1, 0, 0, 201));
  s.add_event(ev(kT0 + 7 * kMs, 200, Kind::lock_acquire, 1, 0, 0, 201));
  s.add_event(ev(kT0 + 7 * kMs + 10, 200, Kind::gate_wait, 1, 0, 0, 201));  // parked at a step gate
  s.add_event(ev(kT0 + 7 * kMs + 20, 200, Kind::gate_pass, 1, 0, 0, 201));
  s.add_event(ev(kT0 + 8 * kMs, 200, Kind::close, 1, 5, 5, 201));
  s.add_event(ev(kT0 + 9 * kMs, 200, Kind::thread_exit, 1, 201, 0, 201));
  s.add_event(ev(kT0 + 9 * kMs, 300, Kind::client_close, 1, 100));
  TimelineIndex t;
  t.update(s);
  ASSERT_EQ(t.lanes().size(), 3u);
  // Display order: process 200, its thread, then the simulator (last).
  const auto& order = t.order();
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(t.lanes()[order[0]].tid, 200u);
  EXPECT_EQ(t.lanes()[order[1]].tid, 201u);
  EXPECT_TRUE(t.lanes()[order[1]].is_thread);
  EXPECT_TRUE(t.lanes()[order[2]].client_sim);
  const int thread = t.find_lane(200, 201);
  ASSERT_GE(thread, 0);
  const Lane& th = t.lanes()[static_cast<std::size_t>(thread)];
  ASSERT_EQ(th.rows[0].size(), 1u);
  expect_span(th.rows[0][0], SpanKind::handling, kT0 + 4 * kMs, kT0 + 8 * kMs, 1);
  ASSERT_EQ(th.rows.size(), 2u);
  expect_span(th.rows[1][0], SpanKind::blocked, kT0 + 5 * kMs, kT0 + 7 * kMs, 1);
  ASSERT_EQ(th.rows[1].size(), 2u);
  expect_span(th.rows[1][1], SpanKind::at_gate, kT0 + 7 * kMs + 10, kT0 + 7 * kMs + 20, 1);
  EXPECT_EQ(th.end_ns, kT0 + 9 * kMs);
  ASSERT_EQ(t.arrows().size(), 1u);
  EXPECT_EQ(t.arrows()[0].kind, ArrowKind::spawn);
  EXPECT_EQ(t.arrows()[0].to_lane, static_cast<std::uint32_t>(thread));
  // The simulator's lane shows the client connected.
  const Lane& sim = t.lanes()[order[2]];
  ASSERT_EQ(sim.rows[0].size(), 1u);
  expect_span(sim.rows[0][0], SpanKind::handling, kT0 + 1 * kMs, kT0 + 9 * kMs, 1);
}

// A prefork master (100) forks two workers that accept on its listener; it
// never accepts itself, so its lane is "supervising" from its listen on,
// never "accepting". A worker is waiting until its first accept shows it was
// in accept() all along, and goes back to accepting after each connection.
TEST(Timeline, PreforkMasterSupervisesWorkersAccept) {
  Session s;
  s.add_event(ev(kT0, 100, Kind::listen, 0, 4481, 3));
  s.add_event(ev(kT0 + 1, 100, Kind::fork, 0, 101, 0));
  s.add_event(ev(kT0 + 2, 101, Kind::child_start, 0, 100));
  s.add_event(ev(kT0 + 3, 101, Kind::worker_start, 0, 0));
  // The second worker's first events are stamped before its parent's fork.
  s.add_event(ev(kT0 + 4, 102, Kind::child_start, 0, 100));
  s.add_event(ev(kT0 + 5, 102, Kind::worker_start, 0, 1));
  s.add_event(ev(kT0 + 6, 100, Kind::fork, 0, 102, 1));
  s.add_event(ev(kT0 + 10, 101, Kind::accept, 1, 50001, 5));
  s.add_event(ev(kT0 + 20, 101, Kind::close, 1));
  s.add_event(ev(kT0 + 30, 100, Kind::reap, 0, 102, 9));
  TimelineIndex t;
  t.update(s);
  const Lane& master = t.lanes()[static_cast<std::size_t>(t.find_lane(100, 100))];
  ASSERT_EQ(master.rows[0].size(), 1u);
  expect_span(master.rows[0][0], SpanKind::supervising, kT0, kOpenEnd);
  EXPECT_EQ(span_kind_name(SpanKind::supervising), "supervising");
  const Lane& w0 = t.lanes()[static_cast<std::size_t>(t.find_lane(101, 101))];
  ASSERT_EQ(w0.rows[0].size(), 3u);
  expect_span(w0.rows[0][0], SpanKind::accepting, kT0 + 3, kT0 + 10);
  expect_span(w0.rows[0][1], SpanKind::handling, kT0 + 10, kT0 + 20, 1);
  expect_span(w0.rows[0][2], SpanKind::accepting, kT0 + 20, kOpenEnd);
  const Lane& w1 = t.lanes()[static_cast<std::size_t>(t.find_lane(102, 102))];
  ASSERT_EQ(w1.rows[0].size(), 1u);
  expect_span(w1.rows[0][0], SpanKind::waiting, kT0 + 5, kT0 + 30);  // killed, reaped

  // Built event by event, the index ends the same.
  TimelineIndex live;
  Session grow;
  for (const auto& e : s.events()) {
    grow.add_event(e);
    live.update(grow);
  }
  const Lane& m2 = live.lanes()[static_cast<std::size_t>(live.find_lane(100, 100))];
  ASSERT_EQ(m2.rows[0].size(), 1u);
  expect_span(m2.rows[0][0], SpanKind::supervising, kT0, kOpenEnd);
}

// A fork server forks children for connections (fork with a conn): its lane
// stays accepting between them.
TEST(Timeline, ForkServerListenerStaysAccepting) {
  Session s = fork_session();
  TimelineIndex t;
  t.update(s);
  for (const auto& span : t.lanes()[0].rows[0]) EXPECT_NE(span.kind, SpanKind::supervising);
}

TEST(Timeline, PoolHandoffArrowAndWaitingWorkers) {
  Session s;
  s.add_event(ev(kT0, 400, Kind::listen));
  s.add_event(ev(kT0 + 1, 400, Kind::worker_start, 0, 0, 401, 401));
  s.add_event(ev(kT0 + 10, 400, Kind::accept, 7));
  s.add_event(ev(kT0 + 11, 400, Kind::enqueue, 7, 1));
  s.add_event(ev(kT0 + 20, 400, Kind::dequeue, 7, 0, 0, 401));
  s.add_event(ev(kT0 + 30, 400, Kind::close, 7, 0, 0, 401));
  TimelineIndex t;
  t.update(s);
  const int w = t.find_lane(400, 401);
  ASSERT_GE(w, 0);
  const Lane& worker = t.lanes()[static_cast<std::size_t>(w)];
  ASSERT_EQ(worker.rows[0].size(), 3u);
  expect_span(worker.rows[0][0], SpanKind::waiting, kT0 + 1, kT0 + 20);
  expect_span(worker.rows[0][1], SpanKind::handling, kT0 + 20, kT0 + 30, 7);
  expect_span(worker.rows[0][2], SpanKind::waiting, kT0 + 30, kOpenEnd);
  ASSERT_EQ(t.arrows().size(), 1u);
  EXPECT_EQ(t.arrows()[0].kind, ArrowKind::handoff);
  EXPECT_EQ(t.arrows()[0].conn, 7u);
  EXPECT_EQ(t.arrows()[0].from_ns, kT0 + 11);
  EXPECT_EQ(t.arrows()[0].to_ns, kT0 + 20);
}

TEST(Timeline, EventLoopHandlersNestAndSeveralConnectionsShowAsOne) {
  Session s;
  s.add_event(ev(kT0, 500, Kind::listen));
  s.add_event(ev(kT0 + 10, 500, Kind::accept, 1));
  s.add_event(ev(kT0 + 20, 500, Kind::accept, 2));
  s.add_event(ev(kT0 + 30, 500, Kind::handler_begin, 0, 9));
  s.add_event(ev(kT0 + 31, 500, Kind::handler_begin, 0, 10));  // nested (dispatch)
  s.add_event(ev(kT0 + 32, 500, Kind::sleep_begin, 2, 100));
  s.add_event(ev(kT0 + 40, 500, Kind::sleep_end, 2, 100));
  s.add_event(ev(kT0 + 41, 500, Kind::handler_end, 0, 10));
  s.add_event(ev(kT0 + 42, 500, Kind::handler_end, 0, 77, 1));  // destroyed, never ran: ignored
  s.add_event(ev(kT0 + 50, 500, Kind::handler_end, 0, 9));
  s.add_event(ev(kT0 + 60, 500, Kind::close, 1));
  TimelineIndex t;
  t.update(s);
  const Lane& l = t.lanes()[0];
  ASSERT_EQ(l.rows.size(), 4u);
  ASSERT_EQ(l.rows[0].size(), 4u);
  expect_span(l.rows[0][1], SpanKind::handling, kT0 + 10, kT0 + 20, 1);
  expect_span(l.rows[0][2], SpanKind::handling, kT0 + 20, kT0 + 60, 0);
  EXPECT_EQ(l.rows[0][2].count, 2u);
  expect_span(l.rows[0][3], SpanKind::handling, kT0 + 60, kOpenEnd, 2);
  expect_span(l.rows[1][0], SpanKind::handler, kT0 + 30, kT0 + 50, 9);
  expect_span(l.rows[2][0], SpanKind::handler, kT0 + 31, kT0 + 41, 10);
  expect_span(l.rows[3][0], SpanKind::sleeping, kT0 + 32, kT0 + 40, 2);
}

// Many short connections on one serial server: 10,000 handle spans of 1 µs
// separated by 1 µs of accepting.
Session serial_session(int conns) {
  Session s;
  s.add_event(ev(kT0, 600, Kind::listen));
  std::uint64_t t = kT0 + 1000;
  for (int c = 1; c <= conns; ++c) {
    s.add_event(ev(t, 600, Kind::accept, static_cast<std::uint32_t>(c)));
    s.add_event(ev(t + 1000, 600, Kind::close, static_cast<std::uint32_t>(c)));
    t += 2000;
  }
  return s;
}

TEST(Timeline, ZoomedOutFoldsNarrowSpansAndMarkersKeepingCounts) {
  Session s = serial_session(10000);
  TimelineIndex t;
  t.update(s);
  ASSERT_EQ(t.lanes()[0].rows[0].size(), 1u + 2u * 10000u);  // accepting, (handling, accepting) per conn
  TimelineViewport vp;
  vp.t0_ns = s.first_ns();
  vp.t1_ns = s.last_ns();
  vp.now_ns = s.last_ns();
  vp.width_px = 1000.0f;
  TimelineLayout out = t.layout(vp);
  // 20 ms over 1000 px: 20 µs per px; every span is 1 µs wide: all fold.
  EXPECT_LE(out.spans.size(), 400u);
  EXPECT_GT(out.folded_spans, 19000u);
  std::size_t spans = 0;
  for (const auto& d : out.spans) spans += d.folded;
  EXPECT_EQ(spans, t.lanes()[0].rows[0].size());  // the open last span is inside [t0, t1] too
  std::size_t events = 0;
  for (const auto& m : out.markers) events += m.count;
  EXPECT_EQ(events, s.events().size());
  EXPECT_LE(out.markers.size(), 400u);
  for (const auto& m : out.markers) EXPECT_TRUE(m.x >= -1.0f && m.x <= vp.width_px + 1.0f);

  // Zoomed in to 10 µs: single spans, nothing folded, only what is on screen.
  vp.t0_ns = kT0 + 1000 + 5000 * 2000;  // connection 5001 accepted here
  vp.t1_ns = vp.t0_ns + 10'000;
  out = t.layout(vp);
  EXPECT_EQ(out.folded_spans, 0u);
  EXPECT_EQ(out.folded_events, 0u);
  ASSERT_GE(out.spans.size(), 10u);
  EXPECT_LE(out.spans.size(), 12u);
  for (const auto& d : out.spans) {
    EXPECT_EQ(d.folded, 1u);
    EXPECT_LT(d.begin_ns, vp.t1_ns);
    EXPECT_GT(d.end_ns, vp.t0_ns);
    if (d.kind == SpanKind::handling) {
      EXPECT_GE(d.conn, 5000u);
      EXPECT_LE(d.conn, 5006u);
    }
  }
  EXPECT_EQ(out.markers.size(), 11u);  // one event per µs: 10 in [t0, t1) plus the one at t1
}

TEST(Timeline, OffScreenLanesAreCulled) {
  Session s;
  for (pid_t p = 1000; p < 1100; ++p) s.add_event(ev(kT0 + static_cast<std::uint64_t>(p), p, Kind::read, 1, 1));
  TimelineIndex t;
  t.update(s);
  ASSERT_EQ(t.lanes().size(), 100u);
  TimelineViewport vp;
  vp.t0_ns = kT0;
  vp.t1_ns = kT0 + 2000;
  vp.now_ns = vp.t1_ns;
  vp.first_row = 10.0f;
  vp.last_row = 20.0f;
  TimelineLayout out = t.layout(vp);
  ASSERT_EQ(out.lanes.size(), 10u);
  for (auto lane : out.lanes) {
    EXPECT_GE(t.row_of(lane), 10.0f);
    EXPECT_LT(t.row_of(lane), 20.0f);
  }
  for (const auto& m : out.markers) EXPECT_GE(t.row_of(m.lane), 10.0f);
  for (const auto& d : out.spans) EXPECT_LT(t.row_of(d.lane), 20.0f);
}

void expect_same_index(const TimelineIndex& a, const TimelineIndex& b) {
  ASSERT_EQ(a.lanes().size(), b.lanes().size());
  for (std::size_t i = 0; i < a.lanes().size(); ++i) {
    const Lane& x = a.lanes()[i];
    const Lane& y = b.lanes()[i];
    EXPECT_EQ(x.pid, y.pid);
    EXPECT_EQ(x.tid, y.tid);
    EXPECT_EQ(x.end_ns, y.end_ns);
    EXPECT_EQ(x.event_ts, y.event_ts);
    EXPECT_EQ(x.event_index, y.event_index);
    ASSERT_EQ(x.rows.size(), y.rows.size());
    for (std::size_t r = 0; r < x.rows.size(); ++r) {
      ASSERT_EQ(x.rows[r].size(), y.rows[r].size());
      for (std::size_t k = 0; k < x.rows[r].size(); ++k) {
        EXPECT_EQ(x.rows[r][k].begin_ns, y.rows[r][k].begin_ns);
        EXPECT_EQ(x.rows[r][k].end_ns, y.rows[r][k].end_ns);
        EXPECT_EQ(x.rows[r][k].kind, y.rows[r][k].kind);
      }
    }
  }
  EXPECT_EQ(a.arrows().size(), b.arrows().size());
  EXPECT_EQ(a.order(), b.order());
}

TEST(Timeline, IncrementalUpdatesEqualARebuildAndLateEventsRebuild) {
  Session full = fork_session();
  Session live;
  TimelineIndex inc;
  for (const auto& e : full.events()) {
    live.add_event(e);
    inc.update(live);
  }
  EXPECT_EQ(inc.rebuilds(), 0u);
  TimelineIndex fresh;
  fresh.update(full);
  expect_same_index(inc, fresh);

  // A late event (stamped before the last one) lands in the middle: the
  // index notices and rebuilds, and still matches a fresh build.
  live.add_event(ev(kT0 + 40 * kMs, 100, Kind::error, 0, 1));  // appended: no rebuild
  inc.update(live);
  live.add_event(ev(kT0 + 22 * kMs, 100, Kind::error, 0, 2));
  inc.update(live);
  EXPECT_EQ(inc.rebuilds(), 1u);
  TimelineIndex again;
  again.update(live);
  expect_same_index(inc, again);
  EXPECT_EQ(inc.events_indexed(), live.events().size());
}

// 1,000,000 events: a fork server with 1,000 children, each serving one
// connection with reads and writes; work spans on every tenth.
Session million_session() {
  Session s;
  std::vector<trace::Event> batch;
  batch.reserve(1'000'000);
  const pid_t server = 7000;
  std::uint64_t t = kT0;
  batch.push_back(ev(t, server, Kind::listen));
  const int children = 1000;
  const int per_child = 993;  // events per child beyond its lifecycle ones
  for (int c = 1; c <= children; ++c) {
    const pid_t child = server + c;
    const auto conn = static_cast<std::uint32_t>(c);
    batch.push_back(ev(t += 1000, server, Kind::accept, conn));
    batch.push_back(ev(t += 1000, server, Kind::fork, conn, child));
    batch.push_back(ev(t += 1000, child, Kind::child_start, conn, server));
    for (int k = 0; k < per_child; ++k) {
      Kind kind = k % 2 == 0 ? Kind::read : Kind::write;
      if (c % 10 == 0 && k == 10) kind = Kind::work_begin;
      if (c % 10 == 0 && k == 500) kind = Kind::work_end;
      batch.push_back(ev(t += 1000, child, kind, conn, 100));
    }
    batch.push_back(ev(t += 1000, child, Kind::close, conn));
    batch.push_back(ev(t += 1000, child, Kind::exit, conn));
    batch.push_back(ev(t += 1000, server, Kind::reap, conn, child));
  }
  while (batch.size() < 1'000'000) batch.push_back(ev(t += 1000, server, Kind::error, 0, 1));
  s.add_events(batch.data(), batch.size());
  return s;
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

TEST(Timeline, MillionEventsStayFast) {
  Session s = million_session();
  ASSERT_EQ(s.events().size(), 1'000'000u);
  TimelineIndex t;
  auto start = Clock::now();
  t.update(s);
  const double build_ms = ms_since(start);
  EXPECT_EQ(t.lanes().size(), 1001u);
  EXPECT_EQ(t.events_indexed(), 1'000'000u);
  // Generous bounds: the machine is shared and tests may run under sanitizers.
  EXPECT_LT(build_ms, 5000.0);

  TimelineViewport vp;
  vp.t0_ns = s.first_ns();
  vp.t1_ns = s.last_ns();
  vp.now_ns = s.last_ns();
  vp.width_px = 1500.0f;
  vp.first_row = 0.0f;
  vp.last_row = 40.0f;  // about what fits on screen
  start = Clock::now();
  TimelineLayout out;
  for (int i = 0; i < 10; ++i) out = t.layout(vp);
  const double zoomed_out_ms = ms_since(start) / 10.0;
  EXPECT_LT(zoomed_out_ms, 50.0);
  EXPECT_GT(out.folded_events, 0u);
  EXPECT_LE(out.markers.size(), 40u * 1500u / 3u + 40u);

  // All lanes at once (no vertical culling), zoomed out: still bounded by pixels.
  vp.last_row = 1e9f;
  out = t.layout(vp);
  EXPECT_EQ(out.lanes.size(), 1001u);
  std::size_t events = 0;
  for (const auto& m : out.markers) events += m.count;
  EXPECT_EQ(events, 1'000'000u);

  // Zoomed in to 20 µs in the middle of the run.
  const std::uint64_t mid = s.first_ns() + (s.last_ns() - s.first_ns()) / 2;
  vp.t0_ns = mid;
  vp.t1_ns = mid + 20'000;
  vp.last_row = 40.0f;
  start = Clock::now();
  for (int i = 0; i < 10; ++i) out = t.layout(vp);
  const double zoomed_in_ms = ms_since(start) / 10.0;
  EXPECT_LT(zoomed_in_ms, 5.0);
  EXPECT_EQ(out.folded_events, 0u);
  std::printf("timeline 1M events: build %.1f ms, layout zoomed out %.3f ms, zoomed in %.3f ms\n", build_ms,
              zoomed_out_ms, zoomed_in_ms);
}

}  // namespace
}  // namespace sockscope::session
