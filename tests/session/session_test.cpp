// The session model: folds over synthetic event sequences shaped like a real
// fork server run, late events, folding at earlier instants, the sockets and
// backlog of /proc samples, and the shared session's locking. No sockets, no
// processes (the samples are written by hand).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>

#include "session/session.h"
#include "session_fixture.h"

using namespace sockscope;
using namespace sockscope::session;
using sockscope::trace::Kind;

TEST(SessionFold, ForkServerTree) {
  Session s = testing_fixture::fork_server_session();
  const Model& m = s.model();

  const ProcessView* listener = m.find_process(100);
  ASSERT_NE(listener, nullptr);
  EXPECT_EQ(listener->role, ProcessRole::listener);
  EXPECT_EQ(listener->state, 'S');  // from the last snapshot
  EXPECT_TRUE(listener->alive());
  // The refused connection stayed with the listener; the others moved to children.
  EXPECT_EQ(listener->conns, std::vector<std::uint32_t>{4});

  for (pid_t child : {201, 202, 203, 204}) {
    const ProcessView* p = m.find_process(child);
    ASSERT_NE(p, nullptr) << child;
    EXPECT_EQ(p->role, ProcessRole::child) << child;
    EXPECT_EQ(p->ppid, 100) << child;
    EXPECT_NE(p->fork_ns, 0u);
  }
  EXPECT_EQ(m.find_process(201)->conns, std::vector<std::uint32_t>{1});
  EXPECT_EQ(m.find_process(204)->conns, std::vector<std::uint32_t>{5});

  // 201 and 202 exited and were reaped: gone.
  for (pid_t child : {201, 202}) {
    const ProcessView* p = m.find_process(child);
    EXPECT_EQ(p->state, 'X');
    EXPECT_FALSE(p->zombie);
    EXPECT_NE(p->exit_ns, 0u);
    EXPECT_NE(p->reap_ns, 0u);
    EXPECT_FALSE(p->in_proc);
  }
  // 203 exited and nobody waited: a zombie, and /proc agrees.
  const ProcessView* z = m.find_process(203);
  EXPECT_EQ(z->state, 'Z');
  EXPECT_TRUE(z->zombie);
  EXPECT_TRUE(z->in_proc);
  EXPECT_EQ(z->reap_ns, 0u);
  // 204 serves the external client, still running, with /proc's numbers.
  const ProcessView* live = m.find_process(204);
  EXPECT_EQ(live->state, 'S');
  EXPECT_TRUE(live->alive());
  EXPECT_EQ(live->rss_kb, 2048u);
  EXPECT_EQ(live->pss_kb, 700u);
  EXPECT_EQ(live->fds, 5);
  EXPECT_EQ(live->threads, 1);

  const ProcessView* sim = m.find_process(500);
  ASSERT_NE(sim, nullptr);
  EXPECT_EQ(sim->role, ProcessRole::client_sim);

  auto kids = m.children_of(100);
  ASSERT_EQ(kids.size(), 4u);
  EXPECT_EQ(kids[0]->pid, 201);
  EXPECT_EQ(kids[3]->pid, 204);
}

TEST(SessionFold, ConnectionsJoinedWithClients) {
  Session s = testing_fixture::fork_server_session();
  const Model& m = s.model();
  ASSERT_EQ(m.connections.size(), 5u);
  for (std::uint32_t id = 1; id <= 3; ++id) {
    const ConnectionView* c = m.find_connection(id);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->client_id, id);
    EXPECT_EQ(c->peer_port, 50000 + id);
    EXPECT_EQ(c->listener_pid, 100);
    EXPECT_EQ(c->serving_pid, static_cast<pid_t>(200 + id));
    EXPECT_EQ(c->state, ConnState::closed);
    EXPECT_EQ(c->requests, 33u);
    EXPECT_EQ(c->bytes_in, 100u * id);
    EXPECT_EQ(c->bytes_out, 1000u * id);
    EXPECT_NE(c->close_ns, 0u);
    const ClientView* cl = m.find_client(id);
    ASSERT_NE(cl, nullptr);
    EXPECT_EQ(cl->server_conn, id);
    EXPECT_EQ(cl->local_port, 50000 + id);
    EXPECT_EQ(cl->replies, 33u);
    EXPECT_EQ(cl->pid, 500);
  }
  const ConnectionView* refused = m.find_connection(4);
  EXPECT_EQ(refused->state, ConnState::refused);
  EXPECT_EQ(refused->client_id, 4u);
  EXPECT_EQ(refused->serving_pid, 100);

  // The external client (curl) has no client events: joined to nothing, but
  // present with its peer port.
  const ConnectionView* ext = m.find_connection(5);
  EXPECT_EQ(ext->client_id, 0u);
  EXPECT_EQ(ext->peer_port, 60000);
  EXPECT_EQ(ext->state, ConnState::open);
  EXPECT_EQ(ext->serving_pid, 204);
  EXPECT_EQ(ext->bytes_in, 42u);  // summed reads while open
}

// A reply sent whole is its own write (trace::kReplyWhole): its bytes count
// as sent. One that did not fit follows the write of what went, and only
// that counts; so do recordings from before the flag, a write before every
// reply.
TEST(SessionFold, AReplySentWholeCountsItsBytesOutAndAPartialOneOnlyItsWrite) {
  Session s;
  std::uint64_t t = 1000;
  s.add_event(test::event(t++, 100, Kind::accept, 1, 50001, 5));
  trace::Event whole = test::event(t++, 100, Kind::reply, 1, 200, 1234);
  whole.flags = trace::kReplyWhole;
  s.add_event(whole);
  s.add_event(test::event(t++, 100, Kind::write, 1, 700));
  s.add_event(test::event(t++, 100, Kind::reply, 1, 200, 5000));  // 700 of 5000 went, then the client left
  s.add_event(test::event(t++, 100, Kind::accept, 2, 50002, 6));
  s.add_event(test::event(t++, 100, Kind::write, 2, 99));  // an older recording
  s.add_event(test::event(t++, 100, Kind::reply, 2, 226, 99));
  const Model& m = s.model();
  ASSERT_NE(m.find_connection(1), nullptr);
  EXPECT_EQ(m.find_connection(1)->bytes_out, 1234u + 700u);
  EXPECT_EQ(m.find_connection(1)->replies, 2u);
  ASSERT_NE(m.find_connection(2), nullptr);
  EXPECT_EQ(m.find_connection(2)->bytes_out, 99u);
}

TEST(SessionFold, LatencyAndCounts) {
  Session s = testing_fixture::fork_server_session();
  const Model& m = s.model();
  EXPECT_EQ(m.latency.count, 100u);
  EXPECT_EQ(m.latency.p50_ns, 50'000'000u);  // latencies are 1..100 ms
  EXPECT_EQ(m.latency.p99_ns, 99'000'000u);
  EXPECT_EQ(m.latency.max_ns, 100'000'000u);
  EXPECT_DOUBLE_EQ(m.latency.p50_ms(), 50.0);
  EXPECT_NEAR(m.latency.mean_ns, 50.5e6, 1);
  ASSERT_EQ(m.latencies.size(), 100u);
  EXPECT_TRUE(std::is_sorted(m.latencies.begin(), m.latencies.end(),
                             [](const LatencySample& a, const LatencySample& b) { return a.ts_ns < b.ts_ns; }));

  const Counts& c = m.counts;
  EXPECT_EQ(c.connections_accepted, 5u);
  EXPECT_EQ(c.connections_served, 4u);
  EXPECT_EQ(c.connections_open, 1u);
  EXPECT_EQ(c.children_forked, 4u);
  EXPECT_EQ(c.reaped, 2u);
  EXPECT_EQ(c.exited, 3u);
  EXPECT_EQ(c.zombies_now, 1u);
  EXPECT_EQ(c.refused, 1u);
  EXPECT_EQ(c.errors, 1u);
  EXPECT_EQ(c.drops, 7u);
  EXPECT_EQ(c.requests, 99u);
  EXPECT_EQ(c.replies, 100u);
  EXPECT_EQ(c.events, s.events().size());
}

TEST(SessionFold, EarlierInstant) {
  Session s = testing_fixture::fork_server_session();
  // Just after connection 1 was handed to child 201, before anything else.
  std::uint64_t t = testing_fixture::kConnStart + 40;
  Model m = s.fold(t);
  EXPECT_EQ(m.at_ns, t);
  EXPECT_EQ(m.counts.children_forked, 1u);
  EXPECT_EQ(m.counts.reaped, 0u);
  EXPECT_EQ(m.connections.size(), 1u);
  const ConnectionView* c = m.find_connection(1);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->state, ConnState::open);
  EXPECT_EQ(c->serving_pid, 201);
  EXPECT_EQ(c->client_id, 1u);
  const ProcessView* child = m.find_process(201);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->exit_ns, 0u);
  EXPECT_EQ(child->role, ProcessRole::child);
  EXPECT_EQ(m.find_process(202), nullptr);
  // The live model is untouched by folding the past.
  EXPECT_EQ(s.model().counts.children_forked, 4u);

  // Folding at the end is the live model.
  EXPECT_EQ(s.fold(), s.model());
  EXPECT_EQ(s.fold(s.last_ns()), s.model());

  // A fold at t equals a session that only ever saw what happened up to t.
  Session prefix;
  prefix.set_meta(s.meta());
  prefix.set_drops(s.drops());
  for (const auto& e : s.events())
    if (e.ts_ns <= t) prefix.add_event(e);
  for (const auto& sn : s.snapshots())
    if (sn.ts_ns <= t) prefix.add_snapshot(sn);
  Model expect = prefix.model();
  expect.at_ns = t;
  EXPECT_EQ(m, expect);
}

TEST(SessionFold, ZombieFromEventsBeforeProcSeesIt) {
  Session s;
  auto ev = [&](std::uint64_t t, std::uint32_t pid, Kind k, std::uint32_t conn, std::int64_t a) {
    s.add_event(test::event(t, pid, k, conn, a));
  };
  ev(10, 100, Kind::server_start, 0, 4481);
  ev(20, 100, Kind::accept, 1, 40000);
  ev(30, 100, Kind::fork, 1, 300);
  ev(40, 300, Kind::child_start, 1, 100);
  ev(50, 300, Kind::exit, 0, 0);
  EXPECT_TRUE(s.model().find_process(300)->zombie);
  EXPECT_EQ(s.model().counts.zombies_now, 1u);
  // /proc then shows it gone (init reaped it after the server died): not a zombie.
  ProcSnapshot snap;
  snap.ts_ns = 60;
  snap.root = 100;
  snap.procs.push_back(testing_fixture::proc(100, 1, 'S'));
  snap.procs.push_back(testing_fixture::proc(300, 100, 'Z'));
  s.add_snapshot(snap);
  EXPECT_TRUE(s.model().find_process(300)->zombie);
  snap.ts_ns = 70;
  snap.procs.pop_back();
  s.add_snapshot(snap);
  const ProcessView* p = s.model().find_process(300);
  EXPECT_FALSE(p->zombie);
  EXPECT_EQ(p->state, 'X');
  EXPECT_EQ(p->gone_ns, 70u);
  EXPECT_EQ(s.model().counts.zombies_now, 0u);
}

TEST(SessionFold, ProcessSeenOnlyInProc) {
  // A process the server never spoke about (a helper it spawned) still shows
  // in the tree, from /proc alone.
  Session s;
  ProcSnapshot snap;
  snap.ts_ns = 5;
  snap.root = 100;
  snap.procs.push_back(testing_fixture::proc(100, 1, 'S'));
  snap.procs.push_back(testing_fixture::proc(150, 100, 'R', 0, 0, 0, "helper"));
  s.add_snapshot(snap);
  const Model& m = s.model();
  ASSERT_EQ(m.processes.size(), 2u);
  EXPECT_EQ(m.find_process(100)->role, ProcessRole::listener);
  EXPECT_EQ(m.find_process(150)->role, ProcessRole::child);
  EXPECT_EQ(m.find_process(150)->state, 'R');
  EXPECT_EQ(m.find_process(150)->comm, "helper");
}

TEST(SessionFold, ThreadPerConnection) {
  Session s;
  auto ev = [&](std::uint64_t t, std::uint32_t tid, Kind k, std::uint32_t conn, std::int64_t a) {
    trace::Event e = test::event(t, 100, k, conn, a);  // threads of process 100
    e.tid = tid;
    s.add_event(e);
  };
  ev(1, 100, Kind::server_start, 0, 1);
  ev(2, 100, Kind::accept, 1, 40000);
  ev(3, 100, Kind::spawn, 1, 101);
  ev(4, 101, Kind::request, 1, 0);
  ev(5, 101, Kind::close, 1, 10);
  ev(6, 101, Kind::thread_exit, 1, 101);
  const Model& m = s.model();
  const ConnectionView* c = m.find_connection(1);
  EXPECT_EQ(c->serving_pid, 100);
  EXPECT_EQ(c->serving_tid, 101u);
  EXPECT_EQ(c->state, ConnState::closed);
  EXPECT_EQ(m.counts.threads_spawned, 1u);
  EXPECT_EQ(m.processes.size(), 1u);
}

TEST(SessionFold, ParentCloseOfItsCopyIsNotTheEnd) {
  Session s;
  auto ev = [&](std::uint64_t t, std::uint32_t pid, Kind k, std::uint32_t conn, std::int64_t a) {
    s.add_event(test::event(t, pid, k, conn, a));
  };
  ev(1, 100, Kind::accept, 1, 40000);
  ev(2, 100, Kind::fork, 1, 300);
  ev(3, 100, Kind::close, 1, 0);  // the parent's copy
  EXPECT_EQ(s.model().find_connection(1)->state, ConnState::open);
  ev(4, 300, Kind::close, 1, 5);
  EXPECT_EQ(s.model().find_connection(1)->state, ConnState::closed);
  EXPECT_EQ(s.model().find_connection(1)->close_ns, 4u);
}


// The finds read the fold's index, and it says what a search of the rows
// says: a restarted server numbers its connections from 1 again (the latest
// row of an id is the one found), and a model built by hand, with no index,
// is searched.
TEST(SessionFold, FindsAgreeWithTheRowsAcrossARestart) {
  Session s;
  std::uint64_t t = 1;
  for (std::uint32_t server : {100u, 200u}) {
    for (std::uint32_t conn = 1; conn <= 50; ++conn) {
      s.add_event(test::event(t++, server, Kind::accept, conn, 40000 + server + conn));
      s.add_event(test::event(t++, server, Kind::fork, conn, server * 100 + conn));
      s.add_event(test::event(t++, server * 100 + conn, Kind::child_start, conn, server));
      s.add_event(test::event(t++, 500, Kind::client_connect, server + conn, 40000 + server + conn));
    }
  }
  const Model& m = s.model();
  ASSERT_EQ(m.connections.size(), 100u);
  ASSERT_EQ(m.connection_at.size(), 50u);
  for (std::uint32_t conn = 1; conn <= 50; ++conn) {
    const ConnectionView* c = m.find_connection(conn);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->listener_pid, 200);  // the restarted server's
    EXPECT_EQ(c->client_id, 200 + conn);
    EXPECT_EQ(m.find_client(200 + conn)->server_conn, conn);
    EXPECT_EQ(m.find_process(static_cast<pid_t>(100 * 100 + conn))->ppid, 100);
  }
  EXPECT_EQ(m.find_connection(51), nullptr);
  EXPECT_EQ(m.find_process(999), nullptr);

  Model by_hand;
  by_hand.connections = m.connections;
  by_hand.clients = m.clients;
  by_hand.processes = m.processes;
  for (std::uint32_t conn = 1; conn <= 50; ++conn) {
    EXPECT_EQ(by_hand.find_connection(conn)->listener_pid, 200);
    EXPECT_EQ(by_hand.find_client(100 + conn)->server_conn, conn);
  }
  EXPECT_EQ(by_hand.find_connection(51), nullptr);
}
TEST(SessionFold, ClientConnectBeforeAcceptStillJoins) {
  Session s;
  const trace::Event a = test::event(20, 100, Kind::accept, 9, 45678);
  const trace::Event c = test::event(10, 500, Kind::client_connect, 3, 45678);
  s.add_event(a);  // arrives first although it happened later
  s.add_event(c);
  EXPECT_EQ(s.events().front().kind, Kind::client_connect);
  EXPECT_EQ(s.model().find_connection(9)->client_id, 3u);
  EXPECT_EQ(s.model().find_client(3)->server_conn, 9u);
}

// Many events, some arriving late, with the live model read as ingest goes:
// the incremental fold (with its checkpoint rewinds) must equal a fold from
// scratch of the same store.
TEST(SessionFold, LateEventsIncrementalEqualsFromScratch) {
  Session ordered = testing_fixture::big_session(20000, 1);
  std::vector<trace::Event> arrival(ordered.events().begin(), ordered.events().end());
  // Swap neighbours here and there, and move a few far back, as several
  // producers racing for the ring would.
  std::mt19937 rng(42);
  for (std::size_t i = 1; i < arrival.size(); ++i)
    if (rng() % 7 == 0) std::swap(arrival[i - 1], arrival[i]);
  for (int k = 0; k < 20; ++k) {
    std::size_t from = 100 + rng() % (arrival.size() - 200);
    std::size_t to = std::min(arrival.size() - 1, from + 1 + rng() % 6000);
    std::rotate(arrival.begin() + static_cast<std::ptrdiff_t>(from),
                arrival.begin() + static_cast<std::ptrdiff_t>(from) + 1,
                arrival.begin() + static_cast<std::ptrdiff_t>(to) + 1);
  }
  Session live;
  live.set_meta(ordered.meta());
  std::size_t snap = 0;
  for (std::size_t i = 0; i < arrival.size(); ++i) {
    live.add_event(arrival[i]);
    if (i % 97 == 0) (void)live.model();  // the UI reading at its own pace
    if (i % 500 == 0 && snap < ordered.snapshots().size()) live.add_snapshot(ordered.snapshots()[snap++]);
  }
  while (snap < ordered.snapshots().size()) live.add_snapshot(ordered.snapshots()[snap++]);
  ASSERT_TRUE(live.same_store(ordered));
  Session scratch = live;  // a copy folds from nothing
  EXPECT_EQ(live.model(), scratch.model());
  EXPECT_EQ(live.model(), ordered.model());
  EXPECT_GT(live.model().counts.connections_served, 1000u);

  // fold(t) at a few instants equals a fresh prefix session.
  for (double frac : {0.1, 0.5, 0.93}) {
    std::uint64_t t = live.first_ns() + static_cast<std::uint64_t>(frac * (live.last_ns() - live.first_ns()));
    Session prefix;
    prefix.set_meta(live.meta());
    for (const auto& e : live.events())
      if (e.ts_ns <= t) prefix.add_event(e);
    for (const auto& sn : live.snapshots())
      if (sn.ts_ns <= t) prefix.add_snapshot(sn);
    Model expect = prefix.model();
    expect.at_ns = t;
    EXPECT_EQ(live.fold(t), expect) << frac;
  }
}

TEST(SessionFold, LowerBound) {
  Session s = testing_fixture::fork_server_session();
  EXPECT_EQ(s.lower_bound(0), 0u);
  EXPECT_EQ(s.lower_bound(UINT64_MAX), s.events().size());
  std::size_t i = s.lower_bound(testing_fixture::kConnStart);
  ASSERT_LT(i, s.events().size());
  EXPECT_GE(s.events()[i].ts_ns, testing_fixture::kConnStart);
  EXPECT_LT(s.events()[i - 1].ts_ns, testing_fixture::kConnStart);
}

TEST(SessionSummary, HasEveryLine) {
  Session s = testing_fixture::fork_server_session();
  std::string text = summary(s.model(), s);
  EXPECT_NE(text.find("connections served: 4"), std::string::npos) << text;
  EXPECT_NE(text.find("children forked:    4"), std::string::npos) << text;
  EXPECT_NE(text.find("reaped:             2"), std::string::npos) << text;
  EXPECT_NE(text.find("zombies:            1"), std::string::npos) << text;
  EXPECT_NE(text.find("refused:            1"), std::string::npos) << text;
  EXPECT_NE(text.find("ring drops:         7"), std::string::npos) << text;
  EXPECT_NE(text.find("p50 50.00 ms, p99 99.00 ms"), std::string::npos) << text;
  EXPECT_NE(text.find("events recorded:    " + std::to_string(s.events().size())), std::string::npos) << text;
  // Drops are shown even when zero.
  Session empty;
  EXPECT_NE(summary(empty.model(), empty).find("ring drops:         0"), std::string::npos);
}

TEST(SharedSession, WriterAndReaderThreads) {
  SharedSession shared;
  Session source = testing_fixture::big_session(5000, 2);
  std::thread ingest([&] {
    const std::vector<trace::Event> ev(source.events().begin(), source.events().end());
    for (std::size_t i = 0; i < ev.size(); i += 64) {
      shared.write([&](Session& s) {
        s.add_events(ev.data() + i, std::min<std::size_t>(64, ev.size() - i));
      });
    }
    for (const auto& snap : source.snapshots()) shared.write([&](Session& s) { s.add_snapshot(snap); });
  });
  std::uint64_t last = 0;
  bool monotonic = true;
  for (int frame = 0; frame < 200; ++frame) {
    std::uint64_t n = shared.read([](const Session& s) { return s.model().counts.events; });
    monotonic = monotonic && n >= last;
    last = n;
    std::this_thread::yield();
  }
  ingest.join();
  EXPECT_TRUE(monotonic);
  EXPECT_EQ(shared.read([](const Session& s) { return s.model().counts.events; }), source.events().size());
  EXPECT_EQ(shared.copy().model(), source.model());
}

// ---- sockets and the accept backlog ---------------------------------------------

TEST(SessionSockets, CopiesAndBacklogFromTheSamples) {
  using observe::TcpState;
  Session s = testing_fixture::fork_server_session();
  // Just after the first sample: child 201 still holds its copies of the
  // listener and of connection 1's socket, and so does its parent.
  Model early = s.fold(testing_fixture::kConnStart + 40);
  const ProcessView* parent = early.find_process(100);
  const ProcessView* child = early.find_process(201);
  ASSERT_NE(parent, nullptr);
  ASSERT_NE(child, nullptr);
  ASSERT_EQ(child->sockets.size(), 2u);
  EXPECT_EQ(child->sockets[0].state, TcpState::listen);
  EXPECT_EQ(child->sockets[0].holders, 2);
  EXPECT_TRUE(child->sockets[1].copy());
  EXPECT_TRUE(child->socket_copies);
  EXPECT_TRUE(parent->socket_copies);
  EXPECT_EQ(early.backlog.sampled_ns, testing_fixture::kConnStart + 35);
  EXPECT_EQ(early.backlog.owner, 100) << "the root's own copy, not the child's";
  EXPECT_EQ(early.backlog.fd, 3);
  EXPECT_EQ(early.backlog.inode, 9000u);
  EXPECT_EQ(early.backlog.port, 4481);
  EXPECT_EQ(early.backlog.depth, 1u);
  EXPECT_EQ(early.backlog.limit, 128u);
  EXPECT_TRUE(early.backlog.known());

  // Before any sample: nothing known.
  EXPECT_FALSE(s.fold(testing_fixture::kConnStart + 1).backlog.known());
  EXPECT_EQ(s.fold(testing_fixture::kConnStart + 1).backlog.sampled_ns, 0u);

  // The last sample: each socket has one holder, nobody waits.
  const Model& m = s.model();
  EXPECT_EQ(m.backlog.sampled_ns, testing_fixture::kConnStart + 500'000);
  EXPECT_EQ(m.backlog.depth, 0u);
  EXPECT_EQ(m.backlog.limit, 128u);
  const ProcessView* live = m.find_process(204);
  ASSERT_EQ(live->sockets.size(), 1u);
  EXPECT_EQ(live->sockets[0].remote_port, 60000);
  EXPECT_EQ(live->sockets[0].rx_queue, 3u);
  EXPECT_FALSE(live->socket_copies);
  EXPECT_FALSE(m.find_process(100)->socket_copies);
  EXPECT_TRUE(m.find_process(203)->sockets.empty()) << "a zombie holds no descriptor";
}

TEST(SessionSockets, BacklogFollowsTheListenerWhenTheRootClosedItsCopy) {
  using observe::TcpState;
  using testing_fixture::proc;
  using testing_fixture::sock;
  Session s;
  SessionMeta meta;
  meta.architecture = "prefork";
  meta.port = 4481;
  meta.server_pid = 100;
  s.set_meta(meta);
  ProcSnapshot snap;
  snap.ts_ns = 1000;
  snap.root = 100;
  snap.procs.push_back(proc(100, 1, 'S'));  // the master closed its copy
  snap.procs.push_back(proc(101, 100, 'S'));
  // An FTP passive data listener on another port comes first: not the server's.
  snap.procs.back().sockets = {sock(3, 7000, TcpState::listen, 50123, 0, 0, 1),
                               sock(4, 7001, TcpState::listen, 4481, 0, 2, 64)};
  snap.procs.push_back(proc(102, 100, 'S'));
  snap.procs.back().sockets = {sock(4, 7001, TcpState::listen, 4481, 0, 2, 64),
                               sock(5, 7001, TcpState::listen, 4481, 0, 2, 64)};  // dup: one holder
  s.add_snapshot(snap);
  const Model& m = s.model();
  EXPECT_EQ(m.backlog.owner, 101);
  EXPECT_EQ(m.backlog.fd, 4);
  EXPECT_EQ(m.backlog.depth, 2u);
  EXPECT_EQ(m.backlog.limit, 64u);
  EXPECT_EQ(m.find_process(102)->sockets[0].holders, 2) << "101 and 102, not 102 twice";
  EXPECT_FALSE(m.find_process(101)->sockets[0].copy());
  EXPECT_FALSE(m.find_process(100)->socket_copies);

  // Meta set after the sample (the port was not known when it was folded).
  Session late;
  late.add_snapshot(snap);
  EXPECT_EQ(late.model().backlog.port, 50123) << "port unknown: the first listener";
  late.set_meta(meta);
  EXPECT_EQ(late.model().backlog.port, 4481);
  EXPECT_EQ(late.model().backlog.owner, 101);

  // The listener gone from the tree: sampled, and nobody listens.
  ProcSnapshot gone;
  gone.ts_ns = 2000;
  gone.root = 100;
  gone.procs.push_back(proc(100, 1, 'S'));
  s.add_snapshot(gone);
  EXPECT_EQ(s.model().backlog.sampled_ns, 2000u);
  EXPECT_FALSE(s.model().backlog.known());
  EXPECT_EQ(s.model().backlog.depth, 0u);
}
