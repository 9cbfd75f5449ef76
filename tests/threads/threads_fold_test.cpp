// The threads folds and the count protocol command, with no sockets: events
// written by hand in the shape the servers emit them, folded, and checked.
#include <gtest/gtest.h>

#include <filesystem>

#include "protocol/protocol.h"
#include "session/session.h"
#include "session/threads_fold.h"
#include "support/events.h"

namespace sockscope::session {
namespace {

using trace::Event;
using trace::Kind;

constexpr std::uint32_t kPid = 1000;

struct EventWriter {
  Session& session;
  std::uint64_t ts = 1'000'000;
  void operator()(Kind k, std::uint32_t tid, std::uint32_t conn = 0, std::int64_t a = 0, std::int64_t b = 0,
                  std::string_view text = {}, std::uint32_t pid = kPid) {
    Event e = test::event(ts += 1000, pid, k, conn, a, b, text);
    e.tid = tid;
    session.add_event(e);
  }
};

TEST(ThreadsFold, LanesFollowSpawnServeAndExit) {
  Session s;
  EventWriter w{s};
  w(Kind::server_start, kPid, 0, 4481, 0, "thread");
  w(Kind::accept, kPid, 1, 50000, 5);
  w(Kind::spawn, 1001, 1, 1001, kPid, "conn-1");
  w(Kind::reply, 1001, 1, 220);
  w(Kind::accept, kPid, 2, 50001, 6);
  w(Kind::spawn, 1002, 2, 1002, kPid, "conn-2");
  w(Kind::work_begin, 1002, 2, 500);

  ThreadsModel m = fold_threads(s);
  const ProcessThreads* p = m.find_process(kPid);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->lanes.size(), 3u);
  EXPECT_EQ(p->lanes[0].tid, static_cast<pid_t>(kPid));
  EXPECT_EQ(p->lanes[0].role, ThreadRole::main);
  EXPECT_EQ(p->lanes[0].activity, ThreadActivity::accepting);
  const ThreadLane* t1 = m.find_thread(1001);
  ASSERT_NE(t1, nullptr);
  EXPECT_EQ(t1->name, "conn-1");
  EXPECT_EQ(t1->role, ThreadRole::handler);
  EXPECT_EQ(t1->conn, 1u);
  EXPECT_EQ(t1->activity, ThreadActivity::waiting_client);
  EXPECT_EQ(m.find_thread(1002)->activity, ThreadActivity::burning_cpu);

  w(Kind::close, 1001, 1, 10, 20);
  w(Kind::thread_exit, 1001, 1, 1001);
  m = fold_threads(s);
  t1 = m.find_thread(1001);
  EXPECT_FALSE(t1->alive());
  EXPECT_EQ(t1->conn, 0u);
  EXPECT_EQ(t1->conns_served, 1u);

  // The kernel reuses tid 1001 for a later connection: a new lane.
  w(Kind::accept, kPid, 3, 50002, 5);
  w(Kind::spawn, 1001, 3, 1001, kPid, "conn-3");
  m = fold_threads(s);
  EXPECT_EQ(m.find_process(kPid)->lanes.size(), 4u);
  EXPECT_EQ(m.find_thread(1001)->name, "conn-3");
  EXPECT_TRUE(m.find_thread(1001)->alive());

  // Folding at an earlier instant shows the earlier picture.
  ThreadsModel early = fold_threads(s, 1'000'000 + 4 * 1000);
  EXPECT_EQ(early.find_process(kPid)->lanes.size(), 2u);
}

TEST(ThreadsFold, PoolQueueHoldsWhatNoWorkerTookYet) {
  Session s;
  EventWriter w{s};
  w(Kind::server_start, kPid, 0, 4481, 0, "pool");
  w(Kind::worker_start, 1001, 0, 0, 1001, "worker-0");
  for (std::uint32_t c = 1; c <= 3; ++c) {
    w(Kind::accept, kPid, c, 50000 + c, 5);
    w(Kind::enqueue, kPid, c, c, 2);
  }
  w(Kind::dequeue, 1001, 1, 2, 0);
  w(Kind::accept, kPid, 4, 50004, 8);
  w(Kind::refuse, kPid, 4, 2, 2);
  ThreadsModel m = fold_threads(s);
  ASSERT_EQ(m.queues.size(), 1u);
  const PoolQueueView& q = m.queues[0];
  EXPECT_EQ(q.waiting, (std::vector<std::uint32_t>{2, 3}));
  EXPECT_EQ(q.capacity, 2);
  EXPECT_EQ(q.workers, 1);
  EXPECT_EQ(q.busy, 1);
  EXPECT_EQ(q.refused, 1u);
  EXPECT_EQ(q.peak_depth, 3u);
  const ThreadLane* worker = m.find_thread(1001);
  ASSERT_NE(worker, nullptr);
  EXPECT_EQ(worker->role, ThreadRole::worker);
  EXPECT_EQ(worker->name, "worker-0");
  EXPECT_EQ(worker->conn, 1u);
  w(Kind::close, 1001, 1, 1, 1);
  EXPECT_EQ(fold_threads(s).find_thread(1001)->activity, ThreadActivity::idle_in_pool);
}

// The pool's queue at an earlier instant, and its capacity before any
// enqueue or refuse told it (the run's own "queue" option).
TEST(ThreadsFold, PoolQueueDepthAtTheInstantAndCapacityFromTheRun) {
  Session s;
  SessionMeta meta;
  meta.architecture = "pool";
  meta.server_pid = kPid;
  meta.options = {{"workers", "1"}, {"queue", "4"}};
  s.set_meta(meta);
  EventWriter w{s};
  w(Kind::server_start, kPid, 0, 4481, 0, "pool");
  w(Kind::worker_start, 1001, 0, 0, 1001, "worker-0");
  ThreadsModel before = fold_threads(s);
  ASSERT_NE(before.find_queue(kPid), nullptr);
  EXPECT_EQ(before.find_queue(kPid)->capacity, 4) << "from the session's options";
  EXPECT_EQ(before.find_queue(kPid)->depth(), 0u);
  w(Kind::accept, kPid, 1, 50001, 5);
  w(Kind::enqueue, kPid, 1, 1, 4);
  w(Kind::dequeue, 1001, 1, 0, 0);
  w(Kind::accept, kPid, 2, 50002, 6);
  w(Kind::enqueue, kPid, 2, 1, 4);
  w(Kind::accept, kPid, 3, 50003, 7);
  w(Kind::enqueue, kPid, 3, 2, 4);
  const std::uint64_t two_waiting = w.ts;
  w(Kind::close, 1001, 1);
  w(Kind::dequeue, 1001, 2, 1, 0);
  ThreadsModel then = fold_threads(s, two_waiting);
  const PoolQueueView* q = then.find_queue(kPid);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->depth(), 2u);
  EXPECT_EQ(q->waiting, (std::vector<std::uint32_t>{2, 3}));
  EXPECT_EQ(q->depth_since_ns, two_waiting);
  EXPECT_EQ(q->busy, 1);
  const ThreadsModel latest = fold_threads(s);
  const PoolQueueView* now = latest.find_queue(kPid);
  ASSERT_NE(now, nullptr);
  EXPECT_EQ(now->depth(), 1u);
  EXPECT_EQ(now->depth_since_ns, w.ts);
  EXPECT_EQ(now->peak_depth, 2u);
  EXPECT_EQ(fold_threads(s).find_queue(kPid + 1), nullptr);
}

// A prefork master never accepts: its workers do. After listen it forks them
// (fork with conn 0) and from then on supervises, whatever it does (reap).
TEST(ThreadsFold, PreforkMasterSupervisesWhileWorkersAccept) {
  Session s;
  EventWriter w{s};
  w(Kind::server_start, kPid, 0, 4481, 0, "prefork");
  w(Kind::listen, kPid, 0, 4481, 3);
  w(Kind::fork, kPid, 0, 1001, 0);
  w(Kind::child_start, 1001, 0, kPid, 0, {}, 1001);
  w(Kind::worker_start, 1001, 0, 0, 0, {}, 1001);
  w(Kind::accept, 1001, 1, 50001, 5, {}, 1001);
  w(Kind::reap, kPid, 0, 1002, 0);
  ThreadsModel m = fold_threads(s);
  const ThreadLane* master = m.find_thread(kPid);
  ASSERT_NE(master, nullptr);
  EXPECT_EQ(master->activity, ThreadActivity::supervising);
  EXPECT_EQ(thread_activity_name(master->activity), "supervising");
  EXPECT_EQ(m.find_thread(1001)->activity, ThreadActivity::accepting);

  // The worker's child_start alone (its parent's fork not in the store yet)
  // already tells.
  Session early;
  EventWriter e{early};
  e(Kind::listen, kPid, 0, 4481, 3);
  e(Kind::child_start, 1001, 0, kPid, 0, {}, 1001);
  EXPECT_EQ(fold_threads(early).find_thread(kPid)->activity, ThreadActivity::supervising);

  // A serial server's listener is accepting, and back to it after a close.
  Session serial;
  EventWriter sw{serial};
  sw(Kind::listen, kPid, 0, 4481, 3);
  sw(Kind::accept, kPid, 1, 50001, 5);
  sw(Kind::close, kPid, 1);
  EXPECT_EQ(fold_threads(serial).find_thread(kPid)->activity, ThreadActivity::accepting);
}

TEST(ThreadsFold, InterleavedReadModifyWriteIsALostUpdateNamingBothThreads) {
  Session s;
  EventWriter w{s};
  // Thread A and B both read 0; A writes 1; B writes 1 over it (b = 1 seen in memory).
  w(Kind::counter_read, 1001, 1, 0);
  w(Kind::counter_read, 1002, 2, 0);
  w(Kind::counter_write, 1001, 1, 1, 0);
  w(Kind::counter_write, 1002, 2, 1, 1);
  // A clean one afterwards.
  w(Kind::counter_read, 1001, 1, 1);
  w(Kind::counter_write, 1001, 1, 2, 1);
  ThreadsModel m = fold_threads(s);
  const CounterView* c = m.find_counter(kPid);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->increments, 3u);
  EXPECT_EQ(c->expected(), 3);
  EXPECT_EQ(c->actual, 2);
  EXPECT_EQ(c->lost_total(), 1);
  ASSERT_EQ(c->lost.size(), 1u);
  EXPECT_EQ(c->lost[0].stale_tid, 1002);
  EXPECT_EQ(c->lost[0].overwritten_tid, 1001);
  EXPECT_EQ(c->lost[0].stale_conn, 2u);
  EXPECT_EQ(c->lost[0].overwritten_conn, 1u);
  EXPECT_EQ(c->lost[0].read_value, 0);
  EXPECT_EQ(c->lost[0].overwritten_value, 1);
  EXPECT_FALSE(c->mutex);
}

// The write a stale write erased is never the stale thread's own: a thread
// writes nothing between its read and its write. Here B once wrote 2, A's
// stale write took the counter back to 1, and B's next increment erased a 2
// that C wrote meanwhile, whose event comes in after B's (C emitted late).
// The fold names C, not B's old write of the same value.
TEST(ThreadsFold, ALostUpdateNeverNamesTheStaleThreadAsTheOneItOverwrote) {
  Session s;
  EventWriter w{s};
  w(Kind::counter_read, 1001, 1, 0);
  w(Kind::counter_read, 1002, 2, 0);
  w(Kind::counter_write, 1002, 2, 1, 0);
  w(Kind::counter_read, 1002, 2, 1);
  w(Kind::counter_write, 1002, 2, 2, 1);
  w(Kind::counter_write, 1001, 1, 1, 2);  // A read 0: erases B's two increments
  w(Kind::counter_read, 1002, 2, 1);
  w(Kind::counter_read, 1003, 3, 1);
  w(Kind::counter_write, 1002, 2, 2, 2);  // B read 1, memory held C's 2
  w(Kind::counter_write, 1003, 3, 2, 1);  // C's write of 2, its event late
  ThreadsModel m = fold_threads(s);
  const CounterView* c = m.find_counter(kPid);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->lost.size(), 2u);
  EXPECT_EQ(c->lost[0].stale_tid, 1001);
  EXPECT_EQ(c->lost[0].overwritten_tid, 1002);
  EXPECT_EQ(c->lost[1].stale_tid, 1002);
  EXPECT_EQ(c->lost[1].overwritten_tid, 1003);
  EXPECT_EQ(c->lost[1].overwritten_conn, 3u);
}

TEST(ThreadsFold, MutexSerializesAndMeasuresTheWait) {
  Session s;
  EventWriter w{s};
  w(Kind::lock_wait, 1001, 1);
  w(Kind::lock_acquire, 1001, 1);
  w(Kind::lock_wait, 1002, 2);
  w(Kind::counter_read, 1001, 1, 0);
  EXPECT_EQ(fold_threads(s).find_thread(1002)->activity, ThreadActivity::waiting_lock);
  EXPECT_EQ(fold_threads(s).find_thread(1001)->activity, ThreadActivity::holding_lock);
  w(Kind::counter_write, 1001, 1, 1, 0);
  w(Kind::unlock, 1001, 1);
  w(Kind::lock_acquire, 1002, 2);
  w(Kind::counter_read, 1002, 2, 1);
  w(Kind::counter_write, 1002, 2, 2, 1);
  w(Kind::unlock, 1002, 2);
  ThreadsModel m = fold_threads(s);
  const CounterView* c = m.find_counter(kPid);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->mutex);
  EXPECT_EQ(c->expected(), c->actual);
  EXPECT_TRUE(c->lost.empty());
  EXPECT_EQ(c->lock_waits, 2u);
  EXPECT_EQ(c->max_lock_wait_ns, 4000u) << "1002 waited from its lock_wait to its lock_acquire";
}

TEST(ThreadsFold, ForkedChildrenEachCountOnTheirOwnCopy) {
  Session s;
  EventWriter w{s};
  w(Kind::server_start, kPid, 0, 4481, 0, "fork");
  for (std::uint32_t child = 2001; child <= 2003; ++child) {
    w(Kind::fork, kPid, child - 2000, child);
    w(Kind::child_start, child, child - 2000, kPid, 0, {}, child);
    w(Kind::counter_read, child, child - 2000, 0, 0, {}, child);
    w(Kind::counter_write, child, child - 2000, 1, 0, {}, child);
  }
  ThreadsModel m = fold_threads(s);
  EXPECT_EQ(m.counters.size(), 3u);
  EXPECT_EQ(m.counter_increments, 3u);
  EXPECT_EQ(m.find_counter(kPid), nullptr) << "the parent's counter never moves";
  for (const auto& c : m.counters) {
    EXPECT_EQ(c.initial, 0);
    EXPECT_EQ(c.actual, 1);
    EXPECT_TRUE(c.lost.empty());
  }
}

// The protocol side of the counter: `count` asks the server, counted() replies.
TEST(CountCommand, FtpSiteCountAndHttpCountAskTheServerForTheValue) {
  protocol::SessionConfig cfg;
  cfg.root = std::filesystem::path(SOCKSCOPE_ASSETS) / "ftp-root";
  auto ftp = protocol::make_session(protocol::Protocol::ftp, cfg);
  ftp->greeting();
  ftp->receive("USER anonymous\r\nPASS x@y\r\nSITE COUNT\r\n");
  ftp->next();
  ftp->next();
  auto a = ftp->next();
  ASSERT_TRUE(a);
  ASSERT_FALSE(a->empty());
  EXPECT_EQ(a->back().kind, protocol::ActionKind::count);
  auto reply = ftp->counted(42);
  ASSERT_EQ(reply.size(), 1u);
  EXPECT_EQ(reply[0].code, 200);
  EXPECT_EQ(reply[0].bytes, "200 Visitor count: 42.\r\n");

  auto http = protocol::make_session(protocol::Protocol::http, cfg);
  http->receive("GET /count HTTP/1.1\r\nHost: x\r\n\r\nHEAD /count HTTP/1.0\r\n\r\n");
  auto g = http->next();
  ASSERT_TRUE(g);
  EXPECT_EQ(g->back().kind, protocol::ActionKind::count);
  auto r = http->counted(7);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_NE(r[0].bytes.find("Content-Length: 2\r\n"), std::string::npos);
  EXPECT_TRUE(r[0].bytes.ends_with("\r\n\r\n7\n")) << r[0].bytes;
  auto h = http->next();
  ASSERT_TRUE(h);
  auto hr = http->counted(8);
  ASSERT_EQ(hr.size(), 2u) << "HTTP/1.0 closes after the response";
  EXPECT_EQ(hr[0].bytes.find("8\n"), std::string::npos) << "HEAD has no body";
  EXPECT_EQ(hr[1].kind, protocol::ActionKind::close);
  EXPECT_TRUE(http->counted(9).empty()) << "nothing pending";
}

}  // namespace
}  // namespace sockscope::session
