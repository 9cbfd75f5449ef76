// The loop fold on hand-written event sequences: no sockets, no Asio. Each
// sequence is what the hooks in trace/asio_tracking.cpp emit for one
// situation; the fold must give the three lists the event loop view draws.
#include <gtest/gtest.h>

#include "session/loop_fold.h"
#include "support/events.h"

namespace sockscope::session {
namespace {

using trace::Kind;

constexpr std::uint32_t kPid = 4242;
constexpr std::uint64_t kMs = 1'000'000;

// test::event at `ms` milliseconds, from the loop's process unless told.
trace::Event ev(std::uint64_t ms, Kind kind, std::uint32_t conn, std::int64_t a, std::int64_t b = 0,
                std::string_view text = {}, std::uint32_t pid = kPid) {
  return test::event(ms * kMs, pid, kind, conn, a, b, text);
}

Session session_of(std::initializer_list<trace::Event> events) {
  Session s;
  for (const auto& e : events) s.add_event(e);
  return s;
}

TEST(LoopFold, PendingReadyRunningInOrder) {
  Session s = session_of({
      ev(1, Kind::handler_create, 0, 1, 3, "socket:async_accept"),
      ev(2, Kind::handler_create, 7, 2, 7, "socket:async_receive"),
      ev(3, Kind::handler_create, 8, 3, 8, "socket:async_receive"),
      ev(4, Kind::reactor_ready, 7, 7, 1),
      ev(4, Kind::completion, 7, 2, 0),
      ev(5, Kind::completion, 8, 3, 0),
      ev(6, Kind::handler_begin, 7, 2, 0),
  });
  LoopState at3 = fold_loop(s, kPid, 3 * kMs);
  ASSERT_EQ(at3.pending.size(), 3u);
  EXPECT_TRUE(at3.ready.empty());
  EXPECT_TRUE(at3.running.empty());

  LoopState at5 = fold_loop(s, kPid, 5 * kMs);
  ASSERT_EQ(at5.pending.size(), 1u);
  EXPECT_EQ(at5.pending[0].op, "socket:async_accept");
  ASSERT_EQ(at5.ready.size(), 2u);
  EXPECT_EQ(at5.ready[0].conn, 7u) << "the ready queue keeps completion order";
  EXPECT_EQ(at5.ready[1].conn, 8u);
  EXPECT_EQ(at5.epoll_reports, 1u);

  LoopState at9 = fold_loop(s, kPid, 9 * kMs);
  ASSERT_EQ(at9.running.size(), 1u);
  EXPECT_EQ(at9.running[0].conn, 7u);
  EXPECT_EQ(at9.running[0].op, "socket:async_receive");
  EXPECT_EQ(at9.running[0].elapsed_ns, 3 * kMs) << "elapsed up to the fold instant";
  ASSERT_EQ(at9.ready.size(), 1u);
  EXPECT_EQ(at9.ready[0].conn, 8u);
  EXPECT_EQ(at9.pending_count("async_accept"), 1u);
  EXPECT_FALSE(at9.stalled(50 * kMs));
  EXPECT_TRUE(at9.stalled(2 * kMs));
}

TEST(LoopFold, LongHandlerIsBlamedForTheWaitBehindIt) {
  Session s = session_of({
      ev(0, Kind::handler_create, 1, 1, 5, "socket:async_receive"),
      ev(0, Kind::handler_create, 2, 2, 6, "socket:async_receive"),
      ev(10, Kind::completion, 1, 1, 0),
      ev(11, Kind::handler_begin, 1, 1, 0),  // conn 1's SITE WORK 500 starts
      ev(20, Kind::completion, 2, 2, 0),     // conn 2's NOOP is ready, but the thread is busy
      ev(511, Kind::handler_end, 1, 1, 0),
      ev(511, Kind::handler_begin, 2, 2, 0),
      ev(512, Kind::handler_end, 2, 2, 0),
  });
  LoopState mid = fold_loop(s, kPid, 300 * kMs);
  ASSERT_EQ(mid.running.size(), 1u);
  EXPECT_EQ(mid.running[0].conn, 1u);
  EXPECT_TRUE(mid.stalled(50 * kMs));
  // The view's "longest handler" and the lessons' longest_handler_ms count
  // the one still running: no handler has finished yet.
  EXPECT_EQ(mid.longest_run_ns, 0u);
  EXPECT_EQ(mid.longest_handler_ns(), 289 * kMs);
  ASSERT_EQ(mid.ready.size(), 1u);
  EXPECT_EQ(mid.ready[0].behind_id, 1u) << "conn 2 became ready while handler 1 ran";

  LoopState end = fold_loop(s, kPid);
  EXPECT_EQ(end.handlers_run, 2u);
  ASSERT_EQ(end.long_runs.size(), 1u);
  EXPECT_EQ(end.long_runs[0].conn, 1u);
  EXPECT_EQ(end.long_runs[0].duration_ns(), 500 * kMs);
  ASSERT_EQ(end.delayed.size(), 1u);
  EXPECT_EQ(end.delayed[0].conn, 2u);
  EXPECT_EQ(end.delayed[0].wait_ns(), 491 * kMs);
  EXPECT_EQ(end.delayed[0].behind_conn, 1u) << "the delay is attributed to conn 1's handler";
  EXPECT_EQ(end.longest_run_ns, 500 * kMs);
  EXPECT_EQ(end.longest_handler_ns(), 500 * kMs);
}

TEST(LoopFold, ReadinessUnseenDuringALongHandlerIsBlamedOnIt) {
  // The real single-thread order: while conn 1's handler runs, epoll is not
  // polled, so conn 2's read completes only after it returns.
  Session s = session_of({
      ev(0, Kind::handler_create, 2, 2, 6, "socket:async_receive"),
      ev(10, Kind::handler_begin, 1, 1, 0),
      ev(510, Kind::handler_end, 1, 1, 0),
      ev(511, Kind::reactor_ready, 2, 6, 1),
      ev(511, Kind::completion, 2, 2, 0),
      ev(512, Kind::handler_begin, 2, 2, 0),
      ev(513, Kind::handler_end, 2, 2, 0),
  });
  LoopState mid = fold_loop(s, kPid, 300 * kMs);
  ASSERT_EQ(mid.pending.size(), 1u);
  EXPECT_EQ(mid.pending[0].certainty, Certainty::unknown) << "may be ready, not polled";
  EXPECT_NE(mid.pending[0].reason.find("loop busy"), std::string::npos);
  LoopState early = fold_loop(s, kPid, 20 * kMs);
  EXPECT_EQ(early.pending[0].certainty, Certainty::known) << "a short handler does not blur the picture";

  LoopState end = fold_loop(s, kPid);
  ASSERT_EQ(end.delayed.size(), 1u);
  EXPECT_EQ(end.delayed[0].conn, 2u);
  EXPECT_EQ(end.delayed[0].behind_id, 1u);
  EXPECT_EQ(end.delayed[0].held_ns, 500 * kMs) << "upper bound: the whole run overlapped the wait";
}

TEST(LoopFold, BlindSpotsAreMarkedUnknownNotGuessed) {
  Session s = session_of({
      ev(1, Kind::handler_create, 3, 1, -99, "timer:async_wait"),
      ev(2, Kind::handler_create, 3, 2, 9, "socket:async_receive"),
      ev(3, Kind::handler_create, 3, 0, 9, "socket:close"),
      ev(4, Kind::handler_create, 0, 3, -50, "ctx:post"),
  });
  LoopState st = fold_loop(s, kPid);
  ASSERT_EQ(st.pending.size(), 2u);
  EXPECT_EQ(st.pending[0].certainty, Certainty::unknown) << "a timer may have fired unseen";
  EXPECT_NE(st.pending[0].reason.find("timer"), std::string::npos);
  EXPECT_EQ(st.pending[1].certainty, Certainty::unknown) << "close ended the read with no hook";
  EXPECT_NE(st.pending[1].reason.find("socket:close"), std::string::npos);
  ASSERT_EQ(st.ready.size(), 1u) << "a post is queued at once";
  EXPECT_EQ(st.ready[0].op, "ctx:post");

  // The timer's handler runs with no completion seen: counted as unseen.
  s.add_event(ev(5, Kind::handler_begin, 3, 1, 0));
  s.add_event(ev(6, Kind::handler_end, 3, 1, 0));
  LoopState after = fold_loop(s, kPid);
  EXPECT_EQ(after.unseen_completions, 1u);
  EXPECT_EQ(after.pending.size(), 1u);
  // Shutdown: the queued post is destroyed without running.
  s.add_event(ev(7, Kind::handler_end, 0, 3, 1));
  LoopState done = fold_loop(s, kPid);
  EXPECT_TRUE(done.ready.empty());
  EXPECT_EQ(done.handlers_destroyed, 1u);
}

TEST(LoopFold, OneLoopPerProcessForTheHybrid) {
  Session s = session_of({
      ev(1, Kind::handler_create, 0, 1, 3, "socket:async_accept", 100),
      ev(1, Kind::handler_create, 0, 1, 3, "socket:async_accept", 200),
      ev(2, Kind::completion, 0, 1, 0, {}, 200),
      ev(3, Kind::accept, 1, 5555, 9, {}, 200),  // not a loop kind: ignored by the fold
  });
  auto loops = fold_loops(s);
  ASSERT_EQ(loops.size(), 2u);
  EXPECT_EQ(loops[0].pid, 100);
  EXPECT_EQ(loops[0].pending.size(), 1u);
  EXPECT_EQ(loops[1].pid, 200);
  EXPECT_EQ(loops[1].pending.size(), 0u);
  EXPECT_EQ(loops[1].ready.size(), 1u);
  EXPECT_EQ(fold_loop(s, 300).pending.size(), 0u) << "a process with no loop has an empty state";
}

}  // namespace
}  // namespace sockscope::session
