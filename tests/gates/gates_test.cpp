// Gates (issue 7): real servers started by a Lab in step mode, stepped one
// release at a time, with real clients. Every check reads the lab's gate table
// and the session's event log.
//
//   1. GateTable in-process: claim, release order, leaving step mode
//   2. Fork server, 2 clients: nothing moves without a release, each release
//      moves one waiter by one gate, the chosen order is the logged order
//   3. Thread server, unsafe counter: a chosen interleaving loses one update
//   4. Leaving step mode mid-run lets every client finish
//   5. Killing the lab while 5 processes wait at gates leaves nothing behind
//   6. The event loop stops before every handler
//   7. Stopping a thread server with every thread parked
//   8. Run to (a breakpoint): the table in-process, then real fork and thread
//      servers run until a gate kind, or until connection N reaches a gate
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "lab/lab.h"
#include "lab_steps.h"
#include "proc_marker.h"
#include "session/threads_fold.h"
#include "trace/gate.h"
#include "trace/ring.h"

using namespace sockscope;
using namespace std::chrono_literals;
using trace::GateKind;
using trace::GateMode;
using trace::GateWaiter;

namespace {

// The shared scaffolding (tests/lab_steps.h) under the names used here.
lab::LabOptions test_options() { return test::lab_options(); }
using test::count_of;
using test::eventually;
using test::events_of;
using test::quick_clients;
using test::settled;

// Releases `w` and waits until its gate_pass is in the session (the ingest
// thread is the only reader of the ring, so the test polls the session).
void release_and_wait(lab::Lab& lab, const GateWaiter& w, std::size_t passes_before) {
  ASSERT_TRUE(lab.gates().release(w)) << "slot " << w.slot;
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::gate_pass) >= passes_before + 1; }, 5s))
      << "no gate_pass after releasing " << trace::gate_name(w.kind) << " of conn " << w.conn;
}

using test::pids_with_marker;

}  // namespace

// ---- 1. The table itself ----------------------------------------------------------

TEST(GateTable, RunModeNeverParksAndStepModeParksUntilReleasedInArrivalOrder) {
  trace::GateTable g = trace::GateTable::create();
  trace::set_process_gates(&g);
  trace::gate(GateKind::accept, 1);  // run mode: returns at once
  EXPECT_TRUE(g.waiters().empty());

  g.set_mode(GateMode::step);
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (std::uint32_t conn = 1; conn <= 3; ++conn) {
    threads.emplace_back([&, conn] {
      trace::gate(GateKind::read, conn);
      passed.fetch_add(1);
    });
    // Arrival order = conn order.
    ASSERT_TRUE(eventually([&] { return g.waiters().size() == conn; }, 2s));
  }
  std::this_thread::sleep_for(300ms);  // longer than the 200 ms re-check: still parked
  EXPECT_EQ(passed.load(), 0);
  auto w = g.waiters();
  ASSERT_EQ(w.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(w[i].conn, i + 1);
    EXPECT_EQ(w[i].kind, GateKind::read);
    EXPECT_EQ(w[i].pid, getpid());
    EXPECT_NE(w[i].tid, 0);
    EXPECT_GT(w[i].since_ns, 0u);
    if (i) {
      EXPECT_GT(w[i].seq, w[i - 1].seq);
    }
  }
  ASSERT_TRUE(g.release_next());  // conn 1, the earliest
  ASSERT_TRUE(eventually([&] { return passed.load() == 1; }, 2s));
  w = g.waiters();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].conn, 2u);
  ASSERT_TRUE(g.release(w[1]));  // conn 3, chosen
  ASSERT_TRUE(eventually([&] { return passed.load() == 2; }, 2s));
  ASSERT_EQ(g.waiters().size(), 1u);
  EXPECT_EQ(g.waiters()[0].conn, 2u);
  EXPECT_FALSE(g.release(w[1])) << "that arrival already left";
  g.set_mode(GateMode::run);  // leaving step mode releases everyone
  ASSERT_TRUE(eventually([&] { return passed.load() == 3; }, 2s));
  for (auto& t : threads) t.join();
  EXPECT_TRUE(g.waiters().empty());
  EXPECT_FALSE(g.release_next());

  g.set_mode(GateMode::slow, 120);
  auto t0 = std::chrono::steady_clock::now();
  trace::gate(GateKind::reply, 9);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 110ms) << "slow motion waits the delay";
  trace::set_process_gates(nullptr);
}

TEST(GateTable, AWaiterNoGateCouldHaveWrittenIsNeverShownAndGoesOn) {
  // Every process can write the shared table; one with undefined behaviour
  // (hybrid with notify_fork off) may write anything. The lab shows only
  // what a gate() call could have written.
  trace::GateTable g = trace::GateTable::create();
  g.set_mode(GateMode::step);
  std::atomic<bool> passed{false};
  std::thread t([&] {
    g.pass(static_cast<GateKind>(200), 1);  // no such gate
    passed = true;
  });
  // The lab looks (as the GUI does every frame): nothing to show, and the
  // waiter is released rather than left parked out of sight.
  EXPECT_TRUE(eventually([&] { return g.waiters().empty() && passed.load(); }, 2s));
  t.join();
  std::thread real([&] { g.pass(GateKind::read, 2); });
  ASSERT_TRUE(eventually([&] { return g.waiters().size() == 1; }, 2s));
  EXPECT_EQ(g.waiters()[0].kind, GateKind::read);
  g.set_mode(GateMode::run);
  real.join();
}

TEST(GateTable, AttachRefusesSomethingElse) {
  trace::TraceRing ring = trace::TraceRing::create(16);  // a memfd, but not a gate table
  EXPECT_THROW(trace::GateTable::attach(ring.fd()), std::exception);
}

// ---- 2. Fork server, two clients ---------------------------------------------------

TEST(Gates, ForkServerStepsOneWaiterPerReleaseInTheChosenOrder) {
  lab::Lab lab(test_options());
  auto& g = lab.gates();
  test::start_stepped(lab, "fork");
  const pid_t server = lab.server_pid();
  lab.start_clients(quick_clients(2, protocol::Protocol::ftp, {"USER anonymous", "PASS x", "QUIT"}));

  // The parent parks at accept for connection 1; nothing else can move.
  ASSERT_TRUE(eventually([&] { return !g.waiters().empty(); }));
  auto w = settled(g);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].pid, server);
  EXPECT_EQ(w[0].kind, GateKind::accept);
  EXPECT_EQ(w[0].conn, 1u);

  // Nothing progresses without releases.
  auto server_progress = [&] {
    return count_of(lab, trace::Kind::accept) + count_of(lab, trace::Kind::fork) +
           count_of(lab, trace::Kind::reply) + count_of(lab, trace::Kind::read);
  };
  std::size_t progress = server_progress();
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(g.waiters(), w);
  EXPECT_EQ(server_progress(), progress);
  EXPECT_EQ(count_of(lab, trace::Kind::accept), 0u);

  // Chosen interleaving: always release the highest connection first (ties:
  // earliest arrival), so connection 2 is served to the end while 1 waits.
  std::vector<GateWaiter> released;
  for (int step = 0; step < 200; ++step) {
    auto before = settled(g);
    if (before.empty()) {
      if (lab.running_clients() == 0) break;
      continue;
    }
    GateWaiter pick = before[0];
    for (const auto& x : before)
      if (x.conn > pick.conn) pick = x;
    release_and_wait(lab, pick, released.size());
    released.push_back(pick);
    auto after = settled(g);
    // Every other waiter is exactly where it was.
    for (const auto& x : before) {
      if (x.seq == pick.seq) continue;
      EXPECT_NE(std::find(after.begin(), after.end(), x), after.end())
          << "releasing " << trace::gate_name(pick.kind) << "/" << pick.conn << " moved "
          << trace::gate_name(x.kind) << "/" << x.conn;
    }
    // The released one moved on: gone from its gate, at most one gate further.
    int at = 0;
    for (const auto& x : after) {
      EXPECT_NE(x.seq, pick.seq);
      if (x.pid == pick.pid && x.tid == pick.tid) ++at;
    }
    EXPECT_LE(at, 1);
  }
  EXPECT_EQ(lab.wait_clients(20s), 0) << "both clients finished normally";
  for (const auto& e : events_of(lab, trace::Kind::client_error))
    ADD_FAILURE() << "client " << e.conn << " error " << e.a << " at " << e.text_view();
  for (const auto& e : events_of(lab, trace::Kind::client_reply))
    EXPECT_LT(e.a, 400) << "client " << e.conn << " got " << e.a;
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::reap) >= 2; }, 5s));
  // Per connection: accept, fork, child_start, reply (greeting), 3 x (read,
  // reply), close, exit, reap = 13 gates, at least.
  EXPECT_GE(released.size(), 26u);

  // The log holds exactly the chosen order.
  auto passes = events_of(lab, trace::Kind::gate_pass);
  ASSERT_EQ(passes.size(), released.size());
  for (std::size_t i = 0; i < passes.size(); ++i) {
    EXPECT_EQ(static_cast<pid_t>(passes[i].pid), released[i].pid) << "step " << i;
    EXPECT_EQ(passes[i].a, static_cast<std::int64_t>(released[i].kind)) << "step " << i;
    EXPECT_EQ(passes[i].conn, released[i].conn) << "step " << i;
    EXPECT_EQ(passes[i].text_view(), trace::gate_name(released[i].kind));
  }
  EXPECT_EQ(count_of(lab, trace::Kind::gate_wait), released.size());
  // And the servers did what that order says: connection 2 closed before the
  // child of connection 1 even started.
  auto when = [&](trace::Kind k, std::uint32_t conn) {
    for (const auto& e : events_of(lab, k))
      if (e.conn == conn) return e.ts_ns;
    return std::uint64_t{0};
  };
  ASSERT_NE(when(trace::Kind::close, 2), 0u);
  ASSERT_NE(when(trace::Kind::child_start, 1), 0u);
  EXPECT_LT(when(trace::Kind::close, 2), when(trace::Kind::child_start, 1));
  EXPECT_LT(when(trace::Kind::accept, 1), when(trace::Kind::accept, 2));
  lab.stop_server();
}

// ---- 3. Thread server, unsafe counter ------------------------------------------------

TEST(Gates, ChosenInterleavingOfTwoCounterUpdatesLosesExactlyOne) {
  lab::Lab lab(test_options());
  auto& g = lab.gates();
  g.set_mode(GateMode::step);
  lab::ServerSpec spec;
  spec.arch = "thread";
  spec.protocol = "http";
  // No race window: the gates alone make the interleaving.
  spec.settings.set(servers::SettingId::counter, 0);  // unsafe
  spec.settings.set(servers::SettingId::race_window_us, 0);
  lab.start_server(spec);
  const pid_t server = lab.server_pid();
  lab.start_clients(quick_clients(2, protocol::Protocol::http, {"GET /count"}));

  // Run everything but the counter gates until both threads stand at counter_read.
  auto pump_until = [&](auto done) {
    for (int i = 0; i < 400; ++i) {
      auto w = g.waiters();
      if (done(w)) return true;
      for (const auto& x : w)
        if (x.kind != GateKind::counter_read && x.kind != GateKind::counter_write) g.release(x);
      std::this_thread::sleep_for(20ms);
    }
    return false;
  };
  auto at = [](const std::vector<GateWaiter>& w, GateKind k) {
    std::vector<GateWaiter> out;
    for (const auto& x : w)
      if (x.kind == k) out.push_back(x);
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.conn < b.conn; });
    return out;
  };
  ASSERT_TRUE(pump_until([&](const auto& w) { return at(w, GateKind::counter_read).size() == 2; }));
  auto reads = at(g.waiters(), GateKind::counter_read);
  const GateWaiter a = reads[0], b = reads[1];
  ASSERT_NE(a.tid, b.tid);
  EXPECT_EQ(a.pid, server);

  auto wait_at = [&](const GateWaiter& who, GateKind k) {
    return eventually([&] {
      for (const auto& x : g.waiters())
        if (x.tid == who.tid && x.kind == k) return true;
      return false;
    }, 5s);
  };
  auto find_at = [&](const GateWaiter& who, GateKind k) {
    for (const auto& x : g.waiters())
      if (x.tid == who.tid && x.kind == k) return x;
    return GateWaiter{};
  };
  // read(A), read(B), write(A), write(B).
  ASSERT_TRUE(g.release(a));
  ASSERT_TRUE(wait_at(a, GateKind::counter_write));
  ASSERT_TRUE(g.release(b));
  ASSERT_TRUE(wait_at(b, GateKind::counter_write));
  ASSERT_TRUE(g.release(find_at(a, GateKind::counter_write)));
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::counter_write) == 1; }, 5s));
  ASSERT_TRUE(g.release(find_at(b, GateKind::counter_write)));
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::counter_write) == 2; }, 5s));

  // Let the rest run.
  g.set_mode(GateMode::run);
  EXPECT_EQ(lab.wait_clients(20s), 0);
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::close) >= 2; }, 5s));

  auto reads_log = events_of(lab, trace::Kind::counter_read);
  auto writes_log = events_of(lab, trace::Kind::counter_write);
  ASSERT_EQ(reads_log.size(), 2u);
  ASSERT_EQ(writes_log.size(), 2u);
  EXPECT_EQ(reads_log[0].conn, a.conn);
  EXPECT_EQ(reads_log[1].conn, b.conn);
  EXPECT_EQ(reads_log[0].a, 0);
  EXPECT_EQ(reads_log[1].a, 0) << "B read before A wrote";
  EXPECT_EQ(writes_log[0].conn, a.conn);
  EXPECT_EQ(writes_log[1].conn, b.conn);
  EXPECT_EQ(writes_log[1].a, 1) << "B wrote 0 + 1 over A's 1";
  EXPECT_EQ(writes_log[1].b, 1);

  lab.session().read([&](const session::Session& s) {
    auto threads = session::fold_threads(s);
    const auto* counter = threads.find_counter(server);
    ASSERT_NE(counter, nullptr);
    EXPECT_EQ(counter->increments, 2u);
    EXPECT_EQ(counter->expected(), 2);
    EXPECT_EQ(counter->actual, 1);
    EXPECT_EQ(counter->lost_total(), 1) << "exactly one update lost";
    ASSERT_EQ(counter->lost.size(), 1u);
    EXPECT_EQ(counter->lost[0].stale_tid, b.tid);
    EXPECT_EQ(counter->lost[0].overwritten_tid, a.tid);
    EXPECT_EQ(counter->lost[0].stale_conn, b.conn);
  });
  lab.stop_server();
}

// ---- 4. Leaving step mode mid-run --------------------------------------------------------

TEST(Gates, LeavingStepModeMidRunLetsEveryClientFinish) {
  lab::Lab lab(test_options());
  auto& g = lab.gates();
  test::start_stepped(lab, "fork");
  lab.start_clients(quick_clients(3, protocol::Protocol::ftp, {}));  // the default FTP script, RETR included
  std::size_t passes = 0;
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(eventually([&] { return !g.waiters().empty(); }));
    auto w = settled(g);
    release_and_wait(lab, w.front(), passes++);
  }
  EXPECT_EQ(count_of(lab, trace::Kind::close), 0u) << "still mid-run";
  EXPECT_FALSE(g.waiters().empty());
  g.set_mode(GateMode::run);
  EXPECT_EQ(lab.wait_clients(30s), 0) << "every client finished normally";
  EXPECT_TRUE(g.waiters().empty());
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::close) == 3; }, 5s));
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::reap) == 3; }, 5s));
  auto replies = events_of(lab, trace::Kind::client_reply);
  for (const auto& e : replies) EXPECT_LT(e.a, 400) << "client " << e.conn << " got " << e.a;
  lab.stop_server();
}

// ---- 5. The lab dies while processes wait at gates -------------------------------------

TEST(Gates, KillingTheLabWhileFiveProcessesWaitAtGatesLeavesNoProcessBehind) {
  std::string marker = "SOCKSCOPE_GATES_TEST_MARK=" + std::to_string(getpid()) + "-" +
                       std::to_string(std::random_device{}());
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t lab_pid = fork();
  ASSERT_GE(lab_pid, 0);
  if (lab_pid == 0) {
    // The lab, in a child of its own so that it can be SIGKILLed. Every
    // process it starts inherits the marker through the environment.
    close(ready[0]);
    putenv(marker.data());
    int code = 1;
    try {
      lab::Lab lab(test_options());
      auto& g = lab.gates();
      test::start_stepped(lab, "fork");
      clients::Scenario sc = quick_clients(5, protocol::Protocol::ftp, {"USER anonymous", "PASS x", "QUIT"});
      lab.start_clients(sc);
      // Release only the parent (accept, fork): five children pile up at child_start.
      auto deadline = std::chrono::steady_clock::now() + 20s;
      while (std::chrono::steady_clock::now() < deadline) {
        auto w = g.waiters();
        int children = 0;
        for (const auto& x : w) {
          if (x.kind == GateKind::child_start) ++children;
          else if (x.pid == lab.server_pid()) g.release(x);
        }
        if (children == 5) {
          char c = 'r';
          [[maybe_unused]] ssize_t n = write(ready[1], &c, 1);
          pause();  // until SIGKILL
        }
        std::this_thread::sleep_for(20ms);
      }
    } catch (...) {
    }
    _exit(code);
  }
  close(ready[1]);
  char c = 0;
  ssize_t n = read(ready[0], &c, 1);
  close(ready[0]);
  ASSERT_EQ(n, 1) << "the lab never got five processes to wait at gates";
  // Two processes per client (server child + nothing else) plus the server and
  // the client simulator carry the marker now.
  auto before = pids_with_marker(marker);
  EXPECT_GE(before.size(), 7u);  // server + 5 children + clients process
  kill(lab_pid, SIGKILL);
  int st = 0;
  ASSERT_EQ(waitpid(lab_pid, &st, 0), lab_pid);
  bool none_left = eventually([&] { return pids_with_marker(marker).empty(); }, 10s);
  auto left = pids_with_marker(marker);
  for (pid_t p : left) kill(p, SIGKILL);  // never leave them, even when failing
  EXPECT_TRUE(none_left) << left.size() << " processes outlived the lab";
}

// ---- 6. The event loop: one gate per handler -----------------------------------------

TEST(Gates, EventLoopStopsBeforeEveryHandlerOneAtATime) {
  lab::Lab lab(test_options());
  auto& g = lab.gates();
  g.set_mode(GateMode::step);
  lab::ServerSpec spec;
  spec.arch = "evloop";
  spec.protocol = "http";
  lab.start_server(spec);
  const pid_t server = lab.server_pid();
  lab.start_clients(quick_clients(2, protocol::Protocol::http, {"GET /hello.txt"}));

  ASSERT_TRUE(eventually([&] { return !g.waiters().empty(); }));
  auto w = settled(g);
  ASSERT_EQ(w.size(), 1u) << "one loop thread: one waiter";
  EXPECT_EQ(w[0].pid, server);
  EXPECT_EQ(w[0].kind, GateKind::handler_begin);
  const std::size_t begun = count_of(lab, trace::Kind::handler_begin);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(count_of(lab, trace::Kind::handler_begin), begun) << "no handler runs without a release";

  std::size_t released = 0;
  for (int i = 0; i < 400 && (lab.running_clients() > 0 || !g.waiters().empty()); ++i) {
    auto now = g.waiters();
    EXPECT_LE(now.size(), 1u);
    if (now.empty()) {
      std::this_thread::sleep_for(10ms);
      continue;
    }
    release_and_wait(lab, now[0], released++);
  }
  EXPECT_EQ(lab.wait_clients(20s), 0);
  g.set_mode(GateMode::run);
  lab.stop_server();
  // Every handler that ran was stepped through its gate first.
  std::size_t handler_passes = 0;
  for (const auto& e : events_of(lab, trace::Kind::gate_pass))
    handler_passes += e.a == static_cast<std::int64_t>(GateKind::handler_begin) && e.pid == static_cast<std::uint32_t>(server);
  EXPECT_GE(handler_passes, released);
  EXPECT_GE(released, 6u) << "accept, reads and writes of two clients are handlers";
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::close) >= 2; }, 5s));
}

// ---- 7. Stopping a server whose threads are parked ------------------------------------

TEST(Gates, StoppingAThreadServerWithEveryThreadParkedIsPromptAndClean) {
  lab::Lab lab(test_options());
  auto& g = lab.gates();
  test::start_stepped(lab, "thread");
  const pid_t server = lab.server_pid();
  lab.start_clients(quick_clients(3, protocol::Protocol::ftp, {"USER anonymous", "PASS x", "QUIT"}));
  // Step the main thread (accept, spawn) until three handler threads stand at
  // their first gate and the main thread waits at nothing or accept.
  ASSERT_TRUE(eventually([&] {
    int handlers = 0;
    for (const auto& x : g.waiters()) {
      if (x.tid != server) ++handlers;
      else g.release(x);
    }
    return handlers == 3;
  }));
  auto t0 = std::chrono::steady_clock::now();
  lab.stop_server();  // SIGTERM: parked threads give up their gates and the server joins them
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 2500ms) << "no SIGKILL backstop needed";
  EXPECT_FALSE(lab.server_running());
  lab.stop_clients();
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::reap) >= 1; }, 3s));
  auto reaps = events_of(lab, trace::Kind::reap);
  const auto& last = reaps.back();
  EXPECT_EQ(last.a, server);
  EXPECT_TRUE(WIFEXITED(last.b) && WEXITSTATUS(last.b) == 0) << "status " << last.b;
  EXPECT_EQ(count_of(lab, trace::Kind::server_stop), 1u);
  EXPECT_TRUE(g.waiters().empty());
}

// ---- 8. Run to: a breakpoint ------------------------------------------------------------

namespace {

// A thread that walks through gates in order, counting how many it passed.
struct Walker {
  std::atomic<int> passed{0};
  std::atomic<pid_t> tid{0};
  std::thread thread;
  explicit Walker(std::vector<std::pair<GateKind, std::uint32_t>> gates) {
    thread = std::thread([this, gates] {
      tid.store(gettid());
      for (auto [kind, conn] : gates) {
        trace::gate(kind, conn);
        passed.fetch_add(1);
      }
    });
  }
  ~Walker() {
    if (thread.joinable()) thread.join();
  }
};

std::optional<GateWaiter> waiter_of(trace::GateTable& g, pid_t tid) {
  for (const auto& w : g.waiters())
    if (w.tid == tid) return w;
  return std::nullopt;
}

// The waiter that reached the run_until() target, once the table stopped.
std::optional<GateWaiter> breakpoint_waiter(trace::GateTable& g) {
  for (const auto& w : g.waiters())
    if (w.seq == g.breakpoint_seq()) return w;
  return std::nullopt;
}

// Waits until the breakpoint was reached and the waiter list settled.
std::vector<GateWaiter> stopped_at_breakpoint(trace::GateTable& g) {
  EXPECT_TRUE(eventually([&] { return g.breakpoint_seq() != 0 && breakpoint_waiter(g).has_value(); }, 15s))
      << "the run_until() target was never reached (mode " << trace::gate_mode_name(g.mode()) << ")";
  return settled(g, 300ms);
}

}  // namespace

TEST(GateTable, RunUntilStopsEveryoneAtTheFirstMatchingGateAndNeverWhereAWaiterStands) {
  trace::GateTable g = trace::GateTable::create();
  trace::set_process_gates(&g);
  EXPECT_EQ(trace::gate_mode_name(GateMode::run_to), "run_to");
  EXPECT_FALSE(g.run_target().has_value()) << "no target outside run_to";

  // Gates that do not match run at full speed: another connection's read,
  // and other kinds of gate.
  g.run_until(GateKind::read, 2);
  EXPECT_EQ(g.mode(), GateMode::run_to);
  ASSERT_TRUE(g.run_target().has_value());
  EXPECT_EQ(*g.run_target(), (trace::RunTarget{GateKind::read, 2}));
  EXPECT_EQ(g.breakpoint_seq(), 0u);
  {
    Walker other({{GateKind::read, 1}, {GateKind::reply, 1}, {GateKind::read, 3}, {GateKind::reply, 2}});
    ASSERT_TRUE(eventually([&] { return other.passed.load() == 4; }, 2s));
  }
  EXPECT_TRUE(g.waiters().empty());
  EXPECT_EQ(g.mode(), GateMode::run_to);

  // Connection 2's read is the breakpoint: its thread parks there and the
  // table is in step mode.
  Walker a({{GateKind::accept, 2}, {GateKind::read, 2}, {GateKind::reply, 2}, {GateKind::read, 2}});
  ASSERT_TRUE(eventually([&] { return waiter_of(g, a.tid.load()).has_value(); }, 2s));
  EXPECT_EQ(a.passed.load(), 1) << "passed accept, stopped at read";
  EXPECT_EQ(g.mode(), GateMode::step);
  EXPECT_FALSE(g.run_target().has_value());
  auto at = *waiter_of(g, a.tid.load());
  EXPECT_EQ(at.kind, GateKind::read);
  EXPECT_EQ(at.conn, 2u);
  EXPECT_EQ(at.seq, g.breakpoint_seq()) << "the one that reached the target is known";

  // All-stop: anyone else now parks at their next gate, whatever it is.
  Walker c({{GateKind::close, 7}});
  ASSERT_TRUE(eventually([&] { return waiter_of(g, c.tid.load()).has_value(); }, 2s));
  std::this_thread::sleep_for(300ms);  // longer than the 200 ms re-check: still parked
  EXPECT_EQ(a.passed.load(), 1);
  EXPECT_EQ(c.passed.load(), 0);
  EXPECT_EQ(g.waiters().size(), 2u);

  // Running to the same target again releases everyone; A goes on past the
  // read it stands at (no re-parking there), past reply, and stops at its
  // NEXT read of connection 2.
  const std::uint64_t first_breakpoint = g.breakpoint_seq();
  g.run_until(GateKind::read, 2);
  ASSERT_TRUE(eventually([&] { return c.passed.load() == 1; }, 2s)) << "released by leaving step mode";
  ASSERT_TRUE(eventually([&] { return a.passed.load() == 3 && waiter_of(g, a.tid.load()).has_value(); }, 2s));
  at = *waiter_of(g, a.tid.load());
  EXPECT_EQ(at.kind, GateKind::read);
  EXPECT_GT(at.seq, first_breakpoint) << "a new arrival, not the old one";
  EXPECT_EQ(at.seq, g.breakpoint_seq());
  EXPECT_EQ(g.mode(), GateMode::step);

  // Two threads reaching the target at once both park, whoever wins the switch.
  g.run_until(GateKind::counter_write);  // any connection
  ASSERT_TRUE(eventually([&] { return a.passed.load() == 4; }, 2s));
  {
    Walker d({{GateKind::counter_write, 1}});
    Walker e({{GateKind::counter_write, 2}});
    ASSERT_TRUE(eventually([&] { return g.waiters().size() == 2; }, 2s));
    EXPECT_EQ(g.mode(), GateMode::step);
    auto w = g.waiters();
    EXPECT_TRUE(w[0].seq == g.breakpoint_seq() || w[1].seq == g.breakpoint_seq());
    for (const auto& x : w) EXPECT_EQ(x.kind, GateKind::counter_write);
    // Leaving for run releases both.
    g.set_mode(GateMode::run);
    ASSERT_TRUE(eventually([&] { return d.passed.load() == 1 && e.passed.load() == 1; }, 2s));
  }
  EXPECT_TRUE(g.waiters().empty());

  // Leaving run_to before the target is reached: nobody parks any more.
  g.run_until(GateKind::exit, 5);
  g.set_mode(GateMode::run);
  {
    Walker f({{GateKind::exit, 5}});
    ASSERT_TRUE(eventually([&] { return f.passed.load() == 1; }, 2s));
  }
  EXPECT_TRUE(g.waiters().empty());
  trace::set_process_gates(nullptr);
}

// (a) Any connection's reply: the first greeting about to be sent stops
// everyone. Nothing is sent, and nobody passes a gate after that instant.
TEST(Gates, RunUntilReplyStopsAtTheFirstReplyAndEveryoneElseAtTheirNextGate) {
  lab::Lab lab(test_options());
  auto& g = lab.gates();
  test::start_stepped(lab, "fork");
  const pid_t server = lab.server_pid();
  lab.start_clients(quick_clients(2, protocol::Protocol::ftp, {"USER anonymous", "PASS x", "QUIT"}));
  ASSERT_TRUE(eventually([&] { return !g.waiters().empty(); }));
  auto parked = settled(g);
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(parked[0].kind, GateKind::accept);

  g.run_until(GateKind::reply);
  auto w = stopped_at_breakpoint(g);
  EXPECT_EQ(g.mode(), GateMode::step);
  auto bp = breakpoint_waiter(g);
  ASSERT_TRUE(bp.has_value());
  EXPECT_EQ(bp->kind, GateKind::reply);
  EXPECT_NE(bp->pid, server) << "a forked child sends the greeting";
  EXPECT_TRUE(bp->conn == 1 || bp->conn == 2) << bp->conn;
  EXPECT_GE(count_of(lab, trace::Kind::accept), bp->conn) << "the parent passed accept without stopping";
  // Others stand at their next gate. One that also came to a reply at the
  // same instant parks there too; none stands past a reply.
  for (const auto& x : w) EXPECT_NE(x.kind, GateKind::read) << "pid " << x.pid << " got past its greeting";

  // Nothing moves: no reply left a server, no client got one, and no gate
  // was passed after the breakpoint's arrival.
  std::this_thread::sleep_for(500ms);
  lab.flush();
  EXPECT_EQ(g.waiters(), w);
  EXPECT_EQ(count_of(lab, trace::Kind::reply), 0u);
  EXPECT_EQ(count_of(lab, trace::Kind::client_reply), 0u);
  std::uint64_t bp_wait_ts = 0;
  for (const auto& e : events_of(lab, trace::Kind::gate_wait))
    if (static_cast<pid_t>(e.pid) == bp->pid && (e.b & 0xffffffff) == bp->slot &&
        e.a == static_cast<std::int64_t>(GateKind::reply))
      bp_wait_ts = e.ts_ns;
  ASSERT_NE(bp_wait_ts, 0u) << "the breakpoint's gate_wait is in the log";
  for (const auto& e : events_of(lab, trace::Kind::gate_pass))
    EXPECT_LT(e.ts_ns, bp_wait_ts) << "pid " << e.pid << " passed " << e.text_view() << " after the breakpoint";
  // Exactly the one released by run_until passed a gate: the parent, at accept.
  auto passes = events_of(lab, trace::Kind::gate_pass);
  ASSERT_EQ(passes.size(), 1u);
  EXPECT_EQ(static_cast<pid_t>(passes[0].pid), server);
  EXPECT_EQ(passes[0].a, static_cast<std::int64_t>(GateKind::accept));

  // Releasing the breakpoint sends exactly that greeting.
  ASSERT_TRUE(g.release(*bp));
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::reply) == 1; }, 5s));
  EXPECT_EQ(events_of(lab, trace::Kind::reply)[0].conn, bp->conn);
  EXPECT_EQ(events_of(lab, trace::Kind::reply)[0].a, 220);

  g.set_mode(GateMode::run);
  EXPECT_EQ(lab.wait_clients(20s), 0);
  for (const auto& e : events_of(lab, trace::Kind::client_error))
    ADD_FAILURE() << "client " << e.conn << " error " << e.a << " at " << e.text_view();
  lab.stop_server();
}

// (b) Until connection 2 reaches read: connection 1 runs its whole session
// through gates that do not match; connection 2 stops before its first recv().
TEST(Gates, RunUntilConnectionTwoReachesReadLetsConnectionOneRunPast) {
  lab::Lab lab(test_options());
  auto& g = lab.gates();
  g.set_mode(GateMode::step);
  lab::ServerSpec spec;
  spec.arch = "fork";
  spec.protocol = "http";
  lab.start_server(spec);
  const pid_t server = lab.server_pid();
  lab.start_clients(quick_clients(1, protocol::Protocol::http, {"GET /hello.txt"}));
  ASSERT_TRUE(eventually([&] { return !g.waiters().empty(); }));
  ASSERT_EQ(settled(g).size(), 1u);

  g.run_until(GateKind::read, 2);
  // Connection 1 passes every gate of its own, reads included, to the end.
  EXPECT_EQ(lab.wait_clients(20s), 0) << "connection 1 never stopped";
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::close) == 1; }, 5s));
  auto of_conn = [&](trace::Kind k, std::uint32_t conn) {
    std::size_t n = 0;
    for (const auto& e : events_of(lab, k)) n += e.conn == conn;
    return n;
  };
  EXPECT_GE(of_conn(trace::Kind::read, 1), 1u);
  EXPECT_EQ(of_conn(trace::Kind::reply, 1), 1u);
  EXPECT_EQ(g.mode(), GateMode::run_to);
  EXPECT_TRUE(g.waiters().empty());
  EXPECT_EQ(count_of(lab, trace::Kind::gate_wait), 1u) << "only the first accept ever parked";

  // Connection 2 arrives and stops at its read.
  lab.start_clients(quick_clients(1, protocol::Protocol::http, {"GET /hello.txt"}));
  auto w = stopped_at_breakpoint(g);
  auto bp = breakpoint_waiter(g);
  ASSERT_TRUE(bp.has_value());
  EXPECT_EQ(bp->kind, GateKind::read);
  EXPECT_EQ(bp->conn, 2u);
  EXPECT_NE(bp->pid, server);
  EXPECT_EQ(g.mode(), GateMode::step);
  for (const auto& x : w) {
    if (x.seq == bp->seq) continue;
    EXPECT_EQ(x.pid, server) << "besides connection 2's child, only the parent is alive";
  }
  std::this_thread::sleep_for(300ms);
  lab.flush();
  EXPECT_EQ(of_conn(trace::Kind::read, 2), 0u) << "stopped before recv()";
  EXPECT_EQ(of_conn(trace::Kind::reply, 2), 0u);
  EXPECT_EQ(of_conn(trace::Kind::accept, 2), 1u);

  g.set_mode(GateMode::run);
  EXPECT_EQ(lab.wait_clients(20s), 0);
  ASSERT_TRUE(eventually([&] { return of_conn(trace::Kind::reply, 2) == 1; }, 5s));
  lab.stop_server();
}

// (c) A thread of the thread server: the first handler thread to write the
// shared counter stops there, inside the server process.
TEST(Gates, RunUntilCounterWriteStopsAHandlerThread) {
  lab::Lab lab(test_options());
  auto& g = lab.gates();
  lab::ServerSpec spec;
  spec.arch = "thread";
  spec.protocol = "http";
  spec.settings.set(servers::SettingId::counter, 0);  // unsafe
  spec.settings.set(servers::SettingId::race_window_us, 0);
  lab.start_server(spec);
  const pid_t server = lab.server_pid();
  g.run_until(GateKind::counter_write);  // from run mode: nobody to release
  lab.start_clients(quick_clients(2, protocol::Protocol::http, {"GET /count"}));

  auto w = stopped_at_breakpoint(g);
  auto bp = breakpoint_waiter(g);
  ASSERT_TRUE(bp.has_value());
  EXPECT_EQ(bp->kind, GateKind::counter_write);
  EXPECT_EQ(bp->pid, server);
  EXPECT_NE(bp->tid, server) << "a handler thread, not the main thread";
  EXPECT_EQ(g.mode(), GateMode::step);
  lab.flush();
  EXPECT_EQ(count_of(lab, trace::Kind::counter_write), 0u) << "stopped before the store";
  EXPECT_GE(count_of(lab, trace::Kind::counter_read), 1u) << "its load went through";
  for (const auto& x : w) EXPECT_EQ(x.pid, server) << "one process, threads only";

  g.release(*bp);
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::counter_write) == 1; }, 5s));
  EXPECT_EQ(events_of(lab, trace::Kind::counter_write)[0].conn, bp->conn);
  g.set_mode(GateMode::run);
  EXPECT_EQ(lab.wait_clients(20s), 0);
  lab.stop_server();
}

// A waiter released by run_until goes on past the gate it stands at: the
// fork server's parent, parked at accept for connection 1, stops at the
// accept of connection 2, having accepted and forked connection 1. (The
// parent reaches its accept gate only once poll() says a client is waiting,
// hence two clients.)
TEST(Gates, RunUntilTheGateAWaiterStandsAtStopsAtItsNextOne) {
  lab::Lab lab(test_options());
  auto& g = lab.gates();
  test::start_stepped(lab, "fork");
  const pid_t server = lab.server_pid();
  lab.start_clients(quick_clients(2, protocol::Protocol::ftp, {"USER anonymous", "PASS x", "QUIT"}));
  ASSERT_TRUE(eventually([&] { return !g.waiters().empty(); }));
  auto parked = settled(g);
  ASSERT_EQ(parked.size(), 1u);
  ASSERT_EQ(parked[0].kind, GateKind::accept);
  ASSERT_EQ(parked[0].conn, 1u);

  g.run_until(GateKind::accept);
  stopped_at_breakpoint(g);
  auto bp = breakpoint_waiter(g);
  ASSERT_TRUE(bp.has_value());
  EXPECT_EQ(bp->pid, server);
  EXPECT_EQ(bp->kind, GateKind::accept);
  EXPECT_EQ(bp->conn, 2u) << "the next accept, not the one it stood at";
  EXPECT_EQ(count_of(lab, trace::Kind::accept), 1u);
  EXPECT_EQ(count_of(lab, trace::Kind::fork), 1u);

  g.set_mode(GateMode::run);
  EXPECT_EQ(lab.wait_clients(20s), 0);
  lab.stop_server();
}

// (d) Stopped at a breakpoint with three connections in flight, Run lets
// every client finish normally.
TEST(Gates, LeavingRunToWithRunReleasesEveryoneAndEveryClientFinishes) {
  lab::Lab lab(test_options());
  auto& g = lab.gates();
  test::start_stepped(lab, "fork");
  lab.start_clients(quick_clients(3, protocol::Protocol::ftp, {}));  // the default FTP script, RETR included
  ASSERT_TRUE(eventually([&] { return !g.waiters().empty(); }));

  g.run_until(GateKind::read, 3);
  auto w = stopped_at_breakpoint(g);
  auto bp = breakpoint_waiter(g);
  ASSERT_TRUE(bp.has_value());
  EXPECT_EQ(bp->kind, GateKind::read);
  EXPECT_EQ(bp->conn, 3u);
  EXPECT_GE(w.size(), 2u) << "the parent and the other children stopped too";
  lab.flush();
  EXPECT_EQ(count_of(lab, trace::Kind::close), 0u) << "still mid-run";

  g.set_mode(GateMode::run);
  EXPECT_EQ(lab.wait_clients(30s), 0) << "every client finished normally";
  EXPECT_TRUE(g.waiters().empty());
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::close) == 3; }, 5s));
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::reap) == 3; }, 5s));
  for (const auto& e : events_of(lab, trace::Kind::client_reply)) EXPECT_LT(e.a, 400) << "client " << e.conn << " got " << e.a;
  for (const auto& e : events_of(lab, trace::Kind::client_error))
    ADD_FAILURE() << "client " << e.conn << " error " << e.a << " at " << e.text_view();
  lab.stop_server();
}
