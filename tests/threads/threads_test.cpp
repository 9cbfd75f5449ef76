// Live tests for issue 5: the thread and pool servers with real clients, their
// threads in /proc, the pool's queue, the shared visitor counter (a real race,
// and its cure), and the threads folds over the real event stream.
//
// Sections:
//   1. The counter over HTTP in one process (real clients against every
//      architecture: tests/servers/every_architecture_test.cpp)
//   2. Thread per connection: threads in /proc, names, the cap, SIGTERM
//   3. Pool: bounded workers, the queue, refusals
//   4. The visitor counter: lost updates (unsafe), none (mutex), per-process copies (fork)
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "../servers/server_harness.h"
#include "observe/proc_sampler.h"
#include "session/session.h"
#include "session/threads_fold.h"
#include "support/events.h"
#include "trace/ring.h"

namespace sockscope::test {
namespace {

using session::ThreadActivity;
using session::ThreadRole;
using trace::Kind;

const std::string kTimeout = "timeout 20 ";

std::string url(const ServerProcess& s, const std::string& scheme, const std::string& path) {
  return scheme + "://127.0.0.1:" + std::to_string(s.port()) + path;
}

// ---- helpers ----------------------------------------------------------------------

// ThreadSanitizer runs one background thread of its own in every process it
// instruments: /proc counts it, the server did not start it.
#ifdef __SANITIZE_THREAD__
constexpr std::size_t kRuntimeThreads = 1;
#else
constexpr std::size_t kRuntimeThreads = 0;
#endif

// The threads of `pid` as /proc lists them (the sanitizer's own excluded from
// the count by the callers through kRuntimeThreads).
std::vector<pid_t> task_tids(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    out.push_back(static_cast<pid_t>(std::stol(e.path().filename().string())));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string thread_comm(pid_t pid, pid_t tid) {
  std::string s = read_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/comm");
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// A server with a trace ring, and the session built from what it emitted.
struct TracedServer {
  trace::TraceRing ring = trace::TraceRing::create(1 << 16);
  std::unique_ptr<ServerProcess> server;
  session::Session session;

  explicit TracedServer(std::vector<std::string> args) {
    server = std::make_unique<ServerProcess>(std::move(args),
                                             std::vector<std::string>{"SOCKSCOPE_TRACE_FD=" + std::to_string(ring.fd())});
    session::SessionMeta meta;
    meta.server_pid = server->pid();
    session.set_meta(meta);
  }
  // Drains the ring into the session and adds a /proc snapshot of the server.
  void collect(bool snapshot = true) {
    for (const auto& e : drain(ring)) session.add_event(e);
    if (snapshot) session.add_snapshot(observe::sample_subtree(server->pid()));
    session.set_drops(ring.drops());
  }
  std::vector<trace::Event> of_kind(Kind k) const {
    std::vector<trace::Event> out;
    for (const auto& e : session.events())
      if (e.kind == k) out.push_back(e);
    return out;
  }
};

// One keep-alive HTTP connection, for /count.
class HttpConn {
 public:
  explicit HttpConn(std::uint16_t port) : c_(port) {}
  // GET path; returns the body ("" on failure).
  std::string get(const std::string& path) {
    if (!c_.send_all("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) return {};
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      std::size_t end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string head = buf_.substr(0, end);
        std::size_t at = head.find("Content-Length: ");
        if (at == std::string::npos) return {};
        std::size_t len = std::stoul(head.substr(at + 16));
        if (buf_.size() >= end + 4 + len) {
          std::string body = buf_.substr(end + 4, len);
          buf_.erase(0, end + 4 + len);
          return body;
        }
      }
      pollfd p{c_.fd(), POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char b[4096];
      ssize_t n = recv(c_.fd(), b, sizeof b, 0);
      if (n <= 0) return {};
      buf_.append(b, static_cast<std::size_t>(n));
    }
    return {};
  }

 private:
  RawClient c_;
  std::string buf_;
};

// `clients` connections in parallel, each asking for the count `per_client`
// times (FTP SITE COUNT or HTTP /count). Returns every value a visitor was told.
std::vector<long> count_concurrently(const ServerProcess& s, bool http, int clients, int per_client) {
  // Built once, before the threads: compiling a std::regex touches the shared
  // locale cache, which ThreadSanitizer reports when several threads do it.
  const std::regex visitor_count("Visitor count: (\\d+)");
  std::vector<std::vector<long>> seen(clients);
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      if (http) {
        HttpConn c(s.port());
        ready.fetch_add(1);
        while (ready.load() < clients) std::this_thread::yield();
        for (int k = 0; k < per_client; ++k) {
          std::string body = c.get("/count");
          if (!body.empty()) seen[i].push_back(std::stol(body));
        }
      } else {
        RawClient c(s.port());
        bool ok = c.login();
        ready.fetch_add(1);
        while (ready.load() < clients) std::this_thread::yield();
        if (!ok) return;
        for (int k = 0; k < per_client; ++k) {
          std::string text;
          if (c.command("SITE COUNT", &text) != 200) continue;
          std::smatch m;
          if (std::regex_search(text, m, visitor_count)) seen[i].push_back(std::stol(m[1]));
        }
        c.command("QUIT");
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<long> all;
  for (const auto& v : seen) all.insert(all.end(), v.begin(), v.end());
  return all;
}

long one_count(const ServerProcess& s, bool http) {
  auto v = count_concurrently(s, http, 1, 1);
  return v.size() == 1 ? v[0] : -1;
}

std::vector<std::unique_ptr<RawClient>> logged_in_clients(const ServerProcess& s, int n) {
  std::vector<std::unique_ptr<RawClient>> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(std::make_unique<RawClient>(s.port()));
    EXPECT_TRUE(out.back()->login()) << "client " << i;
  }
  return out;
}

// ---- 1. The visitor counter over HTTP ---------------------------------------------------

// (Real clients against every architecture: tests/servers/every_architecture_test.cpp.)
// One process holds the counter for every connection: two visits in turn count 1, then 2.
TEST(ThreadedServers, CountEndpointCountsEveryVisitInOneProcess) {
  for (const std::string arch : {"thread", "pool"}) {
    SCOPED_TRACE(arch);
    ServerProcess s({"--arch", arch, "--port", "0", "--protocol", "http"});
    auto c1 = run_command(kTimeout + "curl -s " + url(s, "http", "/count"));
    auto c2 = run_command(kTimeout + "curl -s " + url(s, "http", "/count"));
    EXPECT_EQ(c1.output, "1\n");
    EXPECT_EQ(c2.output, "2\n");
    EXPECT_EQ(s.stop(), 0);
  }
}

// ---- 2. Thread per connection --------------------------------------------------------------

TEST(ThreadServer, EightClientsHeldOpenAreEightNamedThreadsAndTheSessionAgrees) {
  TracedServer t({"--arch", "thread", "--port", "0"});
  pid_t pid = t.server->pid();
  // (The sanitizer starts its thread lazily, with the first thread we create.)
  EXPECT_EQ(task_tids(pid).size(), 1u) << "only the main thread before any client";
  auto clients = logged_in_clients(*t.server, 8);
  auto tids = task_tids(pid);
  ASSERT_EQ(tids.size(), 9 + kRuntimeThreads) << "8 handler threads besides the main thread";
  std::set<std::string> names;
  std::set<pid_t> handler_tids;
  std::size_t others = 0;
  for (pid_t tid : tids) {
    if (tid == pid) continue;
    std::string name = thread_comm(pid, tid);
    if (name.rfind("conn-", 0) != 0) {
      ++others;
      continue;
    }
    names.insert(name);
    handler_tids.insert(tid);
  }
  EXPECT_EQ(others, kRuntimeThreads);
  std::set<std::string> expected;
  for (int i = 1; i <= 8; ++i) expected.insert("conn-" + std::to_string(i));
  EXPECT_EQ(names, expected);

  // A handler emits its reply event just after the client has the bytes:
  // wait until all eight have said they are back to reading.
  session::ThreadsModel threads;
  ASSERT_TRUE(wait_until([&] {
    t.collect();
    threads = session::fold_threads(t.session);
    const auto* p = threads.find_process(pid);
    return p && std::count_if(p->lanes.begin(), p->lanes.end(), [](const auto& l) {
                  return l.activity == ThreadActivity::waiting_client;
                }) == 8;
  }));
  const auto* p = threads.find_process(pid);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->threads_in_proc, static_cast<int>(9 + kRuntimeThreads));
  std::set<pid_t> lanes;
  std::size_t unnamed = 0;
  for (const auto& l : p->lanes) {
    if (l.role == ThreadRole::other) {
      ++unnamed;  // in /proc, but no event of ours names it: the sanitizer's
      continue;
    }
    if (l.role == ThreadRole::main) {
      EXPECT_EQ(l.tid, pid);
      EXPECT_EQ(l.activity, ThreadActivity::accepting);
      continue;
    }
    EXPECT_EQ(l.role, ThreadRole::handler);
    EXPECT_TRUE(l.in_proc) << l.tid;
    EXPECT_TRUE(l.alive());
    EXPECT_EQ(l.name, "conn-" + std::to_string(l.conn));
    EXPECT_EQ(l.activity, ThreadActivity::waiting_client) << "logged in, blocked reading";
    EXPECT_EQ(thread_comm(pid, l.tid), l.name) << "the event's name is the kernel's";
    lanes.insert(l.tid);
  }
  EXPECT_EQ(lanes, handler_tids);
  EXPECT_EQ(unnamed, kRuntimeThreads);
  EXPECT_EQ(t.of_kind(Kind::spawn).size(), 8u);

  // Clients leave: each thread ends and is joined; /proc and the session agree.
  for (auto& c : clients) EXPECT_EQ(c->command("QUIT"), 221);
  ASSERT_TRUE(wait_until([&] { return task_tids(pid).size() == 1 + kRuntimeThreads; })) << "handler threads joined";
  ASSERT_TRUE(wait_until([&] {
    t.collect(false);
    return t.of_kind(Kind::thread_exit).size() == 8;
  }));
  t.collect();
  threads = session::fold_threads(t.session);
  for (const auto& l : threads.find_process(pid)->lanes) {
    if (l.role == ThreadRole::handler) {
      EXPECT_FALSE(l.alive());
      EXPECT_FALSE(l.in_proc);
      EXPECT_EQ(l.conns_served, 1u);
    }
  }
  EXPECT_EQ(t.server->stop(), 0);
}

TEST(ThreadServer, MaxThreadsRefusesWith421) {
  TracedServer t({"--arch", "thread", "--port", "0", "--max-threads", "2"});
  auto clients = logged_in_clients(*t.server, 2);
  RawClient third(t.server->port());
  auto r = third.reply(3000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->substr(0, 3), "421") << *r;
  EXPECT_TRUE(third.sees_close());
  EXPECT_EQ(task_tids(t.server->pid()).size(), 3 + kRuntimeThreads);
  t.collect();
  auto refused = t.of_kind(Kind::refuse);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].a, 2);
  EXPECT_EQ(refused[0].b, 2);
  // A finished thread frees its slot once joined.
  EXPECT_EQ(clients[0]->command("QUIT"), 221);
  ASSERT_TRUE(wait_until([&] { return task_tids(t.server->pid()).size() == 2 + kRuntimeThreads; }));
  RawClient fourth(t.server->port());
  EXPECT_TRUE(fourth.login());
  auto http = ServerProcess({"--arch", "thread", "--port", "0", "--protocol", "http", "--max-threads", "1"});
  RawClient hold(http.port());
  ASSERT_TRUE(wait_until([&] { return task_tids(http.pid()).size() == 2 + kRuntimeThreads; }));
  auto c = run_command(kTimeout + "curl -s -D - " + url(http, "http", "/hello.txt"));
  EXPECT_NE(c.output.find("HTTP/1.1 503"), std::string::npos) << c.output;
}

// ---- 3. Pool -------------------------------------------------------------------------------

TEST(PoolServer, FourWorkersSixteenClientsTwelveQueuedAllServedInTheEnd) {
  TracedServer t({"--arch", "pool", "--port", "0", "--workers", "4", "--queue", "12"});
  pid_t pid = t.server->pid();
  ASSERT_TRUE(wait_until([&] { return task_tids(pid).size() == 5 + kRuntimeThreads; })) << "main + 4 workers, up front";
  // Each worker names itself as its first step, so a freshly created thread
  // may still carry the process's name for a moment: wait for all four.
  const std::set<std::string> want{"worker-0", "worker-1", "worker-2", "worker-3"};
  std::set<std::string> names;
  auto read_names = [&] {
    names.clear();
    for (pid_t tid : task_tids(pid)) {
      std::string name = thread_comm(pid, tid);
      if (tid != pid && name.rfind("worker-", 0) == 0) names.insert(name);
    }
    return names == want;
  };
  wait_until(read_names);
  EXPECT_EQ(names, want);

  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 16; ++i) clients.push_back(std::make_unique<RawClient>(t.server->port()));
  std::vector<bool> greeted(16, false), done(16, false);
  auto poll_greetings = [&](int ms) {
    int n = 0;
    for (int i = 0; i < 16; ++i) {
      if (!greeted[i]) {
        auto r = clients[i]->reply(ms);
        if (r) {
          EXPECT_EQ(r->substr(0, 3), "220") << *r;
          greeted[i] = true;
        }
      }
      n += greeted[i] ? 1 : 0;
    }
    return n;
  };
  ASSERT_TRUE(wait_until([&] { return poll_greetings(10) == 4; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(poll_greetings(10), 4) << "only 4 workers: 12 clients wait in the queue, not greeted";
  EXPECT_EQ(task_tids(pid).size(), 5 + kRuntimeThreads) << "the pool never grows";

  t.collect();
  auto threads = session::fold_threads(t.session);
  ASSERT_EQ(threads.queues.size(), 1u);
  EXPECT_EQ(threads.queues[0].waiting.size(), 12u);
  EXPECT_EQ(threads.queues[0].capacity, 12);
  EXPECT_EQ(threads.queues[0].workers, 4);
  EXPECT_EQ(threads.queues[0].busy, 4);

  // Release the served clients one by one; each freed worker takes the next.
  std::size_t max_tasks = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::count(done.begin(), done.end(), true) < 16 && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 16; ++i) {
      if (greeted[i] && !done[i]) {
        EXPECT_EQ(clients[i]->command("QUIT"), 221);
        done[i] = true;
      }
    }
    max_tasks = std::max(max_tasks, task_tids(pid).size());
    poll_greetings(20);
  }
  EXPECT_EQ(std::count(greeted.begin(), greeted.end(), true), 16) << "all served in the end";
  EXPECT_EQ(max_tasks, 5 + kRuntimeThreads);

  t.collect();
  // From the events: never more than 4 connections served at once, by 4 worker tids.
  int serving = 0, max_serving = 0;
  std::set<std::uint32_t> worker_tids;
  for (const auto& e : t.session.events()) {
    if (e.kind == Kind::dequeue) {
      ++serving;
      worker_tids.insert(e.tid);
      EXPECT_NE(e.tid, static_cast<std::uint32_t>(pid));
    }
    if (e.kind == Kind::close && e.tid != static_cast<std::uint32_t>(pid)) --serving;
    max_serving = std::max(max_serving, serving);
  }
  EXPECT_EQ(max_serving, 4);
  EXPECT_LE(worker_tids.size(), 4u);
  EXPECT_EQ(t.of_kind(Kind::enqueue).size(), 16u);
  EXPECT_EQ(t.of_kind(Kind::dequeue).size(), 16u);
  EXPECT_TRUE(t.of_kind(Kind::refuse).empty());
  threads = session::fold_threads(t.session);
  // 12 wait for good; up to 4 more sat there for an instant until an idle
  // worker woke up to take them.
  EXPECT_GE(threads.queues[0].peak_depth, 12u);
  EXPECT_LE(threads.queues[0].peak_depth, 16u);
  EXPECT_TRUE(threads.queues[0].waiting.empty());
  EXPECT_EQ(t.server->stop(), 0);
}

TEST(PoolServer, FullQueueRefusesWith421AndRefuseEvents) {
  TracedServer t({"--arch", "pool", "--port", "0", "--workers", "4", "--queue", "4"});
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 16; ++i) clients.push_back(std::make_unique<RawClient>(t.server->port()));
  // Every refusal is answered at once; let the main thread get through all 16.
  ASSERT_TRUE(wait_until([&] {
    t.collect(false);
    return t.of_kind(Kind::accept).size() == 16;
  }));
  std::map<std::string, int> first;
  for (auto& c : clients) {
    auto r = c->reply(300);
    first[r ? r->substr(0, 3) : "none"]++;
  }
  EXPECT_EQ(first["220"], 4);
  EXPECT_EQ(first["421"], 8);
  EXPECT_EQ(first["none"], 4) << "queued: accepted, waiting for a worker";
  // The refuse event follows its accept (and may trail the 421 itself): wait
  // for all of them to arrive before counting (slow under ThreadSanitizer).
  wait_until([&] {
    t.collect(false);
    return t.of_kind(Kind::refuse).size() >= 8;
  });
  auto refused = t.of_kind(Kind::refuse);
  ASSERT_EQ(refused.size(), 8u);
  for (const auto& e : refused) {
    // Depth at refusal: the 4 that wait, plus any an idle worker had not
    // picked up yet (room is capacity + idle workers).
    EXPECT_GE(e.a, 4) << "queue depth at refusal";
    EXPECT_LE(e.a, 8) << "queue depth at refusal";
    EXPECT_EQ(e.b, 4) << "queue capacity";
  }
  t.collect();
  auto threads = session::fold_threads(t.session);
  ASSERT_EQ(threads.queues.size(), 1u);
  EXPECT_EQ(threads.queues[0].refused, 8u);
  EXPECT_EQ(threads.queues[0].waiting.size(), 4u);
  EXPECT_EQ(t.server->stop(), 0) << "queued connections are closed at shutdown";
}

// ---- 4. The visitor counter ------------------------------------------------------------------

struct CounterCase {
  std::string arch;
  bool http;
};

class UnsafeCounter : public ::testing::TestWithParam<CounterCase> {};

TEST_P(UnsafeCounter, ConcurrentVisitsLoseUpdatesAndTheSessionNamesThem) {
  const auto& c = GetParam();
  TracedServer t({"--arch", c.arch, "--port", "0", "--protocol", c.http ? "http" : "ftp", "--workers", "8",
                  "--unsafe-counter", "--race-window-us", "300"});
  const int clients = 8, per_client = 25;
  auto seen = count_concurrently(*t.server, c.http, clients, per_client);
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(clients * per_client));
  // Visitors were told duplicate numbers: the tell-tale of lost updates.
  std::set<long> distinct(seen.begin(), seen.end());
  EXPECT_LT(distinct.size(), seen.size());
  long final_value = one_count(*t.server, c.http);  // alone: no race, the true value + 1
  ASSERT_GT(final_value, 0);
  t.collect();
  ASSERT_EQ(t.session.drops(), 0u);

  auto threads = session::fold_threads(t.session);
  const auto* counter = threads.find_counter(t.server->pid());
  ASSERT_NE(counter, nullptr);
  const std::uint64_t increments = clients * per_client + 1;
  EXPECT_EQ(counter->increments, increments);
  EXPECT_EQ(counter->initial, 0);
  EXPECT_EQ(counter->expected(), static_cast<std::int64_t>(increments));
  EXPECT_EQ(counter->actual, final_value) << "the session's actual is the server's real value";
  EXPECT_GT(counter->lost_total(), 0) << "expected > actual under concurrent load";
  EXPECT_EQ(counter->lost_total(), static_cast<std::int64_t>(increments) - final_value);
  EXPECT_FALSE(counter->mutex);
  ASSERT_FALSE(counter->lost.empty());
  std::int64_t erased = 0;
  for (const auto& lu : counter->lost) {
    EXPECT_NE(lu.stale_tid, 0);
    EXPECT_NE(lu.overwritten_tid, 0) << "the overwritten write is found";
    EXPECT_NE(lu.stale_tid, lu.overwritten_tid) << "a lost update takes two threads";
    EXPECT_LT(lu.read_value, lu.overwritten_value);
    EXPECT_EQ(lu.written_value, lu.read_value + 1);
    const auto* stale = threads.find_thread(lu.stale_tid);
    ASSERT_NE(stale, nullptr);
    EXPECT_NE(stale->role, ThreadRole::main) << "handlers count, not the accepting thread";
    erased += lu.overwritten_value - lu.read_value;
  }
  // A stale write can also land on a lower value and raise it again, so the
  // increments erased are at least the visits lost.
  EXPECT_GE(erased, counter->lost_total());
  EXPECT_EQ(t.server->stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Threads, UnsafeCounter,
                         ::testing::Values(CounterCase{"thread", false}, CounterCase{"pool", true},
                                           CounterCase{"thread", true}, CounterCase{"pool", false}),
                         [](const auto& info) {
                           return info.param.arch + (info.param.http ? "_http" : "_ftp");
                         });

TEST(MutexCounter, NoUpdateIsLostAndThreadsWaitForTheLock) {
  for (std::string arch : {"thread", "pool"}) {
    TracedServer t({"--arch", arch, "--port", "0", "--workers", "8", "--mutex", "--race-window-us", "300"});
    const int clients = 8, per_client = 25;
    auto seen = count_concurrently(*t.server, false, clients, per_client);
    ASSERT_EQ(seen.size(), static_cast<std::size_t>(clients * per_client)) << arch;
    std::sort(seen.begin(), seen.end());
    for (int i = 0; i < clients * per_client; ++i) EXPECT_EQ(seen[i], i + 1) << arch << ": every visitor a new number";
    long final_value = one_count(*t.server, false);
    EXPECT_EQ(final_value, clients * per_client + 1);
    t.collect();
    auto threads = session::fold_threads(t.session);
    const auto* counter = threads.find_counter(t.server->pid());
    ASSERT_NE(counter, nullptr);
    EXPECT_TRUE(counter->mutex);
    EXPECT_EQ(counter->expected(), counter->actual) << arch;
    EXPECT_EQ(counter->actual, final_value);
    EXPECT_TRUE(counter->lost.empty());
    EXPECT_EQ(counter->lock_waits, static_cast<std::uint64_t>(clients * per_client + 1));
    EXPECT_GT(counter->max_lock_wait_ns, 300'000u) << "someone waited out another's window";
    EXPECT_EQ(t.server->stop(), 0);
  }
}

TEST(ForkCounter, EachChildCountsOnItsOwnCopyAndTheParentNeverMoves) {
  TracedServer t({"--arch", "fork", "--port", "0"});
  for (int i = 0; i < 3; ++i) {
    RawClient c(t.server->port());
    ASSERT_TRUE(c.login());
    std::string text;
    EXPECT_EQ(c.command("SITE COUNT", &text), 200);
    EXPECT_NE(text.find("Visitor count: 1."), std::string::npos) << "each child starts from the parent's 0: " << text;
    EXPECT_EQ(c.command("SITE COUNT", &text), 200);
    EXPECT_NE(text.find("Visitor count: 2."), std::string::npos) << text;
    EXPECT_EQ(c.command("QUIT"), 221);
  }
  ASSERT_TRUE(wait_until([&] { return children_of(t.server->pid()).empty(); }));
  t.collect();
  auto threads = session::fold_threads(t.session);
  EXPECT_EQ(threads.find_counter(t.server->pid()), nullptr) << "the parent's counter never moves";
  ASSERT_EQ(threads.counters.size(), 3u);
  EXPECT_EQ(threads.counter_increments, 6u);
  std::set<pid_t> pids;
  for (const auto& c : threads.counters) {
    EXPECT_EQ(c.role, session::ProcessRole::child);
    EXPECT_EQ(c.initial, 0);
    EXPECT_EQ(c.actual, 2);
    EXPECT_TRUE(c.lost.empty());
    pids.insert(c.pid);
  }
  EXPECT_EQ(pids.size(), 3u);
  EXPECT_EQ(t.server->stop(), 0);
}

TEST(ServeFlags, UnsafeCounterAndMutexExcludeEachOther) {
  auto r = run_command(std::string("timeout 10 ") + SOCKSCOPE_BIN +
                       " serve --arch thread --port 0 --unsafe-counter --mutex 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  auto w = run_command(std::string("timeout 10 ") + SOCKSCOPE_BIN + " serve --arch pool --port 0 --workers 0 2>&1");
  EXPECT_EQ(w.exit_code, 2) << w.output;
}

}  // namespace
}  // namespace sockscope::test
