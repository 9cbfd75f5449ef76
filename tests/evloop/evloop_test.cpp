// Live tests of what is particular to the event loop, prefork and hybrid
// servers: the real `sockscope serve` process, /proc for processes and
// threads, and the trace ring for events and the loop fold. (Real clients
// against every architecture, with the process shape checked in /proc, are
// tests/servers/every_architecture_test.cpp.)
//
// Sections:
//   1. evloop: 2,000 idle clients, one process, one thread, all served; the
//      fold's pending operations match
//   2. evloop: one SITE WORK 500 delays everyone, and the fold blames it; the
//      pool server does not
//   3. Replay: the exported log rebuilds the same queue states
//   4. prefork: N+1 processes under load, a killed worker is replaced,
//      connections spread across workers
//   5. hybrid: the notify_fork lesson
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "servers/server_harness.h"
#include "session/export.h"
#include "session/loop_fold.h"
#include "session/session.h"
#include "support/events.h"
#include "trace/ring.h"

namespace sockscope::test {
namespace {

using trace::Kind;
const std::string kTimeout = "timeout 20 ";

std::string url(const ServerProcess& s, const std::string& scheme, const std::string& path) {
  return scheme + "://127.0.0.1:" + std::to_string(s.port()) + path;
}

int thread_count(pid_t pid) {
  int n = 0;
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/task").c_str());
  if (!d) return 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

// ---- 1. 2,000 idle clients on one thread -----------------------------------------------

TEST(Evloop, TwoThousandIdleClientsOneThreadAllServed) {
  constexpr int kClients = 2000;
  // The test holds 2,000 sockets and the server (which inherits this limit
  // through fork and exec) 2,000 more.
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  rlim_t want = 3 * kClients;
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < want) GTEST_SKIP() << "hard RLIMIT_NOFILE too low";
  rlimit raised = lim;
  raised.rlim_cur = std::max<rlim_t>(lim.rlim_cur, want);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &raised), 0);

  auto ring = trace::TraceRing::create(1 << 18);
  session::Session session;
  auto pull = [&] {
    auto evs = drain(ring);
    session.add_events(evs.data(), evs.size());
  };
  {
    ServerProcess s({"--arch", "evloop", "--port", "0"}, {"SOCKSCOPE_TRACE_FD=" + std::to_string(ring.fd())});
    auto started = std::chrono::steady_clock::now();
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.push_back(std::make_unique<RawClient>(s.port()));
      if (i % 200 == 0) pull();
    }
    for (auto& c : clients) {
      auto g = c->reply();
      ASSERT_TRUE(g.has_value());
      ASSERT_EQ(g->substr(0, 3), "220");
    }
    // Everyone connected and greeted, nobody talking: one process, one thread.
    EXPECT_TRUE(children_of(s.pid()).empty());
    EXPECT_EQ(thread_count(s.pid()), 1);

    // The fold sees what the loop waits for: one read per client, the accept.
    session::LoopState st;
    bool matched = wait_until(
        [&] {
          pull();
          st = session::fold_loop(session, s.pid());
          return st.pending_count("async_receive") == static_cast<std::size_t>(kClients);
        },
        std::chrono::milliseconds(10000));
    EXPECT_TRUE(matched) << st.pending_count("async_receive") << " reads pending";
    EXPECT_EQ(st.pending_count("socket:async_wait"), 1u) << "the wait on the listener, the loop's front door";
    EXPECT_EQ(st.pending_count("timer:async_wait"), 1u)
        << "one timer for the loop, sweeping every connection's idle timeout";
    for (const auto& p : st.pending)
      if (p.op == "timer:async_wait") EXPECT_EQ(p.conn, 0u) << "the loop's timer is on the listener's row";
    std::set<std::uint32_t> reading;
    for (const auto& p : st.pending) {
      if (p.op.find("async_receive") != std::string::npos) reading.insert(p.conn);
    }
    EXPECT_EQ(reading.size(), static_cast<std::size_t>(kClients)) << "one read per distinct connection";
    EXPECT_TRUE(st.running.empty());
    EXPECT_EQ(ring.drops(), 0u);

    // All of them are still served, in one process and one thread.
    int served = 0;
    for (auto& c : clients) served += c->command("NOOP") == 200;
    EXPECT_EQ(served, kClients);
    EXPECT_TRUE(children_of(s.pid()).empty());
    EXPECT_EQ(thread_count(s.pid()), 1);
    clients.clear();
    EXPECT_EQ(s.stop(), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(60));
  }
  setrlimit(RLIMIT_NOFILE, &lim);
}

// ---- 2. One long handler blocks the loop ---------------------------------------------------

struct WorkRun {
  int other_latency_ms = 0;
  pid_t server = 0;
  std::vector<trace::Event> events;
};

// Two logged-in clients; A sends SITE WORK 500, then B sends NOOP. Returns how
// long B waited for its 200.
WorkRun work_blocks_others(const std::string& arch, trace::TraceRing& ring) {
  WorkRun out;
  ServerProcess s({"--arch", arch, "--port", "0"}, {"SOCKSCOPE_TRACE_FD=" + std::to_string(ring.fd())});
  out.server = s.pid();
  RawClient a(s.port());
  EXPECT_TRUE(a.login());
  RawClient b(s.port());
  EXPECT_TRUE(b.login());
  EXPECT_TRUE(a.send_all("SITE WORK 500\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(b.command("NOOP"), 200);
  out.other_latency_ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
  auto r = a.reply();
  EXPECT_TRUE(r.has_value() && r->substr(0, 3) == "200") << (r ? *r : "no reply");
  EXPECT_EQ(a.command("QUIT"), 221);
  EXPECT_EQ(b.command("QUIT"), 221);
  EXPECT_EQ(s.stop(), 0);
  out.events = drain(ring);
  return out;
}

bool arch_exists(const std::string& arch) {
  auto r = run_command(std::string("timeout 10 ") + SOCKSCOPE_BIN + " serve --help 2>&1");
  return r.output.find("  " + arch + ": ") != std::string::npos;
}

TEST(Evloop, SiteWorkDelaysEveryoneAndTheFoldBlamesThatHandler) {
  auto ring = trace::TraceRing::create(1 << 16);
  WorkRun run = work_blocks_others("evloop", ring);
  // B's NOOP was ready 50 ms into A's 500 ms of work: it waits ~450 ms.
  EXPECT_GE(run.other_latency_ms, 350) << "the other client was not delayed";
  EXPECT_LE(run.other_latency_ms, 2000);

  session::Session s;
  s.add_events(run.events.data(), run.events.size());
  session::LoopState st = session::fold_loop(s, run.server);
  // conn 1 = A (connected first), conn 2 = B.
  auto work = std::find_if(st.long_runs.begin(), st.long_runs.end(), [](const auto& h) { return h.conn == 1; });
  ASSERT_NE(work, st.long_runs.end()) << "no long handler on conn 1";
  EXPECT_GE(work->duration_ns(), 450'000'000u);
  auto delayed = std::find_if(st.delayed.begin(), st.delayed.end(), [](const auto& h) { return h.conn == 2; });
  ASSERT_NE(delayed, st.delayed.end()) << "B's handler was not seen waiting";
  EXPECT_EQ(delayed->behind_id, work->id) << "B's wait is attributed to A's handler";
  EXPECT_EQ(delayed->behind_conn, 1u);
  EXPECT_GE(delayed->held_ns, 300'000'000u) << "A held the loop while B's read waited";

  // While A's handler ran, the fold shows it running, the loop stalled, and
  // B's read as unknown: its bytes may be in the kernel, but a loop stuck in
  // a handler does not poll epoll, so nobody can see them yet.
  std::uint64_t mid = work->begin_ns + (work->end_ns - work->begin_ns) * 9 / 10;
  session::LoopState at = session::fold_loop(s, run.server, mid);
  ASSERT_EQ(at.running.size(), 1u);
  EXPECT_EQ(at.running[0].conn, 1u);
  EXPECT_TRUE(at.stalled(50'000'000));
  auto b_read = std::find_if(at.pending.begin(), at.pending.end(),
                             [](const auto& p) { return p.conn == 2 && p.op == "socket:async_receive"; });
  ASSERT_NE(b_read, at.pending.end());
  EXPECT_EQ(b_read->certainty, session::Certainty::unknown);
  EXPECT_NE(b_read->reason.find("loop busy"), std::string::npos) << b_read->reason;
}

TEST(Pool, SiteWorkDoesNotDelayOthers) {
  if (!arch_exists("pool")) GTEST_SKIP() << "no pool architecture in this build";
  auto ring = trace::TraceRing::create(1 << 16);
  WorkRun run = work_blocks_others("pool", ring);
  EXPECT_LT(run.other_latency_ms, 200) << "a pool worker runs B's NOOP while another works";
}

// ---- 3. Replay ----------------------------------------------------------------------------

TEST(Evloop, ReplayRebuildsTheSameQueueStates) {
  auto ring = trace::TraceRing::create(1 << 16);
  WorkRun run = work_blocks_others("evloop", ring);
  session::Session live;
  live.add_events(run.events.data(), run.events.size());
  TempDir tmp;
  std::string error;
  ASSERT_TRUE(session::write_jsonl(live, tmp / "run.jsonl", error)) << error;
  auto replayed = session::read_jsonl(tmp / "run.jsonl", error);
  ASSERT_TRUE(replayed.has_value()) << error;
  ASSERT_EQ(replayed->events().size(), live.events().size());

  // Fold both, event by event, and compare the state at every recorded instant.
  session::LoopFolder a, b;
  std::size_t compared = 0;
  for (std::size_t i = 0; i < live.events().size(); ++i) {
    a.apply(live.events()[i]);
    b.apply(replayed->events()[i]);
    std::uint64_t t = live.events()[i].ts_ns;
    ASSERT_EQ(a.state(run.server, t), b.state(run.server, t)) << "event " << i;
    ++compared;
  }
  EXPECT_GT(compared, 50u);
  EXPECT_GT(a.state(run.server, 0).handlers_run, 10u);
  // And the whole-session fold agrees with the incremental one.
  EXPECT_EQ(session::fold_loop(*replayed, run.server, live.last_ns()), a.state(run.server, live.last_ns()));
}

// ---- 4. Prefork ---------------------------------------------------------------------------

TEST(Prefork, FourWorkersAreForkedUpFrontAsWorkers) {
  auto ring = trace::TraceRing::create(1 << 14);
  ServerProcess s({"--arch", "prefork", "--port", "0"}, {"SOCKSCOPE_TRACE_FD=" + std::to_string(ring.fd())});
  ASSERT_TRUE(wait_until([&] { return children_of(s.pid()).size() == 4; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto events = drain(ring);
  int forks = 0, starts = 0;
  for (const auto& e : events) {
    if (e.kind == Kind::fork) {
      ++forks;
      EXPECT_EQ(e.conn, 0u) << "a worker fork names no connection";
      EXPECT_EQ(e.pid, static_cast<std::uint32_t>(s.pid()));
    }
    if (e.kind == Kind::worker_start) ++starts;
    EXPECT_NE(e.kind, Kind::accept) << "no client yet";
  }
  EXPECT_EQ(forks, 4);
  EXPECT_EQ(starts, 4);
  EXPECT_EQ(s.stop(), 0);
}

TEST(Prefork, KilledWorkerIsReplacedVisibly) {
  auto ring = trace::TraceRing::create(1 << 14);
  ServerProcess s({"--arch", "prefork", "--port", "0", "--workers", "3"},
                  {"SOCKSCOPE_TRACE_FD=" + std::to_string(ring.fd())});
  ASSERT_TRUE(wait_until([&] { return children_of(s.pid()).size() == 3; }));
  pid_t victim = children_of(s.pid())[0].pid;
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] {
    auto kids = children_of(s.pid());
    return kids.size() == 3 && std::none_of(kids.begin(), kids.end(), [&](const auto& k) { return k.pid == victim; });
  })) << "the master did not replace the dead worker";
  // The replacement serves.
  auto r = run_command(kTimeout + "curl -s " + url(s, "ftp", "/hello.txt"));
  EXPECT_EQ(r.output, read_file(assets_root() / "hello.txt"));
  EXPECT_EQ(s.stop(), 0);
  auto events = drain(ring);
  bool reaped = false, exited = false;
  int forks_after = 0;
  for (const auto& e : events) {
    if (e.kind == Kind::reap && e.a == victim) reaped = WIFSIGNALED(e.b) && WTERMSIG(e.b) == SIGKILL;
    if (e.kind == Kind::worker_exit && reaped && !exited) exited = true;
    if (e.kind == Kind::fork && exited) ++forks_after;
  }
  EXPECT_TRUE(reaped);
  EXPECT_TRUE(exited);
  EXPECT_GE(forks_after, 1) << "a new fork after the worker_exit";
}

TEST(Prefork, ConnectionsSpreadAcrossWorkersWithUniqueIds) {
  auto ring = trace::TraceRing::create(1 << 14);
  ServerProcess s({"--arch", "prefork", "--port", "0"}, {"SOCKSCOPE_TRACE_FD=" + std::to_string(ring.fd())});
  ASSERT_TRUE(wait_until([&] { return children_of(s.pid()).size() == 4; }));
  std::set<pid_t> workers;
  for (const auto& k : children_of(s.pid())) workers.insert(k.pid);
  {
    // A blocking worker serves one client at a time: four held clients need
    // all four workers.
    std::vector<std::unique_ptr<RawClient>> held;
    for (int i = 0; i < 4; ++i) {
      held.push_back(std::make_unique<RawClient>(s.port()));
      ASSERT_TRUE(held.back()->login()) << "client " << i;
    }
    // A fifth waits in the backlog until one leaves: the price of the bound.
    RawClient fifth(s.port());
    EXPECT_FALSE(fifth.reply(300).has_value());
    EXPECT_EQ(held[0]->command("QUIT"), 221);
    held[0]->close_now();
    auto g = fifth.reply();
    ASSERT_TRUE(g.has_value());
    EXPECT_EQ(g->substr(0, 3), "220");
    EXPECT_EQ(children_of(s.pid()).size(), 4u) << "exactly 5 processes";
  }
  EXPECT_EQ(s.stop(), 0);
  auto events = drain(ring);
  std::set<std::uint32_t> conns;
  std::set<pid_t> accepted_by;
  for (const auto& e : events) {
    if (e.kind != Kind::accept) continue;
    EXPECT_TRUE(conns.insert(e.conn).second) << "connection id " << e.conn << " used twice";
    accepted_by.insert(static_cast<pid_t>(e.pid));
    EXPECT_TRUE(workers.count(static_cast<pid_t>(e.pid))) << "accepted by a non-worker";
  }
  EXPECT_EQ(conns.size(), 5u);
  EXPECT_EQ(accepted_by.size(), 4u) << "the four held clients are in four different workers";
}

// ---- 5. Hybrid: the notify_fork lesson -----------------------------------------------------

struct HybridRun {
  int served = 0;
  int worker_deaths = 0;  // worker_exit events before shutdown
};

HybridRun hybrid_clients(bool notify_fork, int clients) {
  auto ring = trace::TraceRing::create(1 << 16);
  std::vector<std::string> args = {"--arch", "hybrid", "--port", "0"};
  if (!notify_fork) args.push_back("--no-notify-fork");
  HybridRun out;
  {
    ServerProcess s(args, {"SOCKSCOPE_TRACE_FD=" + std::to_string(ring.fd())});
    EXPECT_TRUE(wait_until([&] { return children_of(s.pid()).size() == 4; }));
    for (int i = 0; i < clients; ++i) {
      auto r = run_command("timeout 2 curl -s " + url(s, "ftp", "/hello.txt"));
      out.served += r.output == read_file(assets_root() / "hello.txt");
    }
    for (const auto& e : drain(ring)) out.worker_deaths += e.kind == Kind::worker_exit;
  }
  return out;
}

TEST(Hybrid, WithNotifyForkEveryClientIsServed) {
  HybridRun r = hybrid_clients(true, 8);
  EXPECT_EQ(r.served, 8);
  EXPECT_EQ(r.worker_deaths, 0);
}

TEST(Hybrid, WithoutNotifyForkWorkersShareOneEpollSetAndClientsSuffer) {
  // Every worker waits on the master's epoll instance: readiness of one
  // worker's socket is delivered to another, whose memory at that address
  // means something else. Clients hang, workers crash and are replaced. The
  // exact damage is a race; that there is damage is not.
  HybridRun r = hybrid_clients(false, 8);
  EXPECT_TRUE(r.served < 8 || r.worker_deaths > 0)
      << "served " << r.served << "/8 with " << r.worker_deaths << " worker deaths: the bug did not show";
}

}  // namespace
}  // namespace sockscope::test
