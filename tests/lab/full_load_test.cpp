// Full load, nothing lost (issue 16): the lab keeps every event of a long run
// and says where each number comes from; an idle connection costs one
// descriptor. Correctness only: the rates are bench_servers' (part e).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "lab/ingest.h"
#include "lab/lab.h"
#include "servers/server_harness.h"
#include "session/session.h"
#include "support/events.h"
#include "support/proc.h"
#include "support/wait.h"
#include "trace/ring.h"

using namespace sockscope;
using namespace std::chrono_literals;

namespace {

lab::LabOptions test_options() {
  lab::LabOptions o;
  o.self_exe = SOCKSCOPE_BIN;
  return o;
}

// Starts an FTP server of architecture `arch` in `lab`; returns its port.
std::uint16_t start_ftp(lab::Lab& lab, const char* arch) {
  lab::ServerSpec spec;
  spec.arch = arch;
  spec.protocol = "ftp";
  return lab.start_server(spec);
}

int open_descriptors(pid_t pid) {
  int n = 0;
  std::error_code ec;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec))
    ++n;
  return n;
}

// Raises this process's descriptor limit (servers the lab starts inherit it).
void allow_descriptors(rlim_t want) {
  rlimit rl{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = std::min(want, rl.rlim_max);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
  }
  ASSERT_GE(rl.rlim_cur, want) << "the hard limit is too low for this test";
}

}  // namespace

// 2,000 connections one after another to a traced fork server: every one is
// forked and reaped in the summary, nothing was dropped, and /proc shows no
// zombie left.
TEST(FullLoad, TwoThousandSequentialForkConnectionsAreForkedReapedAndNothingIsLost) {
  constexpr int kConnections = 2000;
  lab::Lab lab(test_options());
  const std::uint16_t port = start_ftp(lab, "fork");
  const pid_t server = lab.server_pid();
  for (int i = 0; i < kConnections; ++i) {
    test::RawClient c(port);
    auto greeting = c.reply();
    ASSERT_TRUE(greeting && greeting->starts_with("220")) << "connection " << i;
    ASSERT_EQ(c.command("QUIT"), 221) << "connection " << i;
  }
  auto counts = [&] {
    lab.flush();
    return lab.session().read([](const session::Session& s) { return s.model().counts; });
  };
  ASSERT_TRUE(test::eventually([&] { return counts().reaped == kConnections; }, 30s))
      << "reaped " << counts().reaped;
  const session::Counts c = counts();
  EXPECT_EQ(c.connections_served, static_cast<std::uint64_t>(kConnections));
  EXPECT_EQ(c.children_forked, static_cast<std::uint64_t>(kConnections));
  EXPECT_EQ(c.reaped, static_cast<std::uint64_t>(kConnections));
  EXPECT_EQ(lab.ring_drops(), 0u);
  for (const auto& child : test::proc_children(server)) EXPECT_NE(child.state, 'Z') << "pid " << child.pid;

  // The summary says the same, and where each number comes from.
  // A /proc sample after the last reap, taken now: the sampler's own cadence
  // backs off to a second when its samples cost more (a machine full of
  // TIME_WAIT sockets from the tests beside this one), and a sleep of 300 ms
  // then found only a sample from during the load, with its child between
  // exit and reap.
  lab.sample_now();
  lab.flush();
  const std::string text =
      lab.session().read([](const session::Session& s) { return session::summary(s.model(), s); });
  EXPECT_NE(text.find("connections served: 2000       (events)"), std::string::npos) << text;
  EXPECT_NE(text.find("children forked:    2000       (events)"), std::string::npos) << text;
  EXPECT_NE(text.find("reaped:             2000       (events)"), std::string::npos) << text;
  EXPECT_NE(text.find("zombies:            0          (kernel: /proc at"), std::string::npos) << text;
  EXPECT_NE(text.find("ring drops:         0"), std::string::npos) << text;
}

// 2,000 idle FTP connections to the event loop: one descriptor each, and a
// few of its own (the listener, the ring, the gate table, epoll, the shared
// jail root). Each session used to hold its own descriptor on the root too.
TEST(FullLoad, TwoThousandIdleEventLoopConnectionsCostOneDescriptorEach) {
  constexpr int kConnections = 2000;
  allow_descriptors(2 * kConnections + 256);
  lab::Lab lab(test_options());
  const std::uint16_t port = start_ftp(lab, "evloop");
  const pid_t server = lab.server_pid();
  const int before = open_descriptors(server);
  std::vector<std::unique_ptr<test::RawClient>> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(std::make_unique<test::RawClient>(port));
    auto greeting = clients.back()->reply();
    ASSERT_TRUE(greeting && greeting->starts_with("220")) << "connection " << i;
  }
  const int after = open_descriptors(server);
  EXPECT_LE(after, before + kConnections + 8) << "before " << before << ", after " << after;
  EXPECT_GE(after, before + kConnections);
  // And it still serves a new client normally.
  test::RawClient late(port);
  EXPECT_TRUE(late.login());
}

// Ingest hands the session events in time order even when processes pushed
// them out of order, holds the newest for its reorder window, and flush
// hands over everything.
TEST(Ingest, LateEventsLandInOrderAndTheWindowIsHeldUntilFlushed) {
  auto ring = trace::TraceRing::create(1024);
  session::SharedSession shared;
  lab::Ingest ingest(ring, shared);
  const std::uint64_t now = trace::now_ns();
  const std::uint64_t old = now - 10 * lab::Ingest::kReorderWindowNs;
  // Two processes: 20's events were stamped before 10's but pushed after.
  for (std::uint64_t i = 0; i < 50; ++i) ring.push(test::event(old + 100 + i, 10, trace::Kind::read, 1));
  for (std::uint64_t i = 0; i < 50; ++i) ring.push(test::event(old + 50 + i, 20, trace::Kind::read, 2));
  // One stamped now: inside the window.
  ring.push(test::event(now, 10, trace::Kind::write, 1));
  EXPECT_EQ(ingest.step({}, false), 101u);
  shared.read([&](const session::Session& s) {
    EXPECT_EQ(s.events().size(), 100u);
    EXPECT_TRUE(std::is_sorted(s.events().begin(), s.events().end(),
                               [](const trace::Event& a, const trace::Event& b) { return a.ts_ns < b.ts_ns; }));
    EXPECT_EQ(s.events().front().pid, 20u);
    return 0;
  });
  EXPECT_EQ(ingest.step({}, true), 0u);
  shared.read([&](const session::Session& s) {
    EXPECT_EQ(s.events().size(), 101u);
    EXPECT_EQ(s.events().back().kind, trace::Kind::write);
    return 0;
  });
}

// Many steps, two producers (one stamping its events up to half a window
// before it pushes them), the pending events skipped and compacted many
// times over: every event reaches the session exactly once, in time order,
// with no rewind.
TEST(Ingest, ManyStepsOfInterleavedProducersHandOverEveryEventOnceInOrder) {
  auto ring = trace::TraceRing::create(1 << 16);
  session::SharedSession shared;
  lab::Ingest ingest(ring, shared);
  std::uint64_t seed = 7;
  auto next_random = [&seed] { return seed = seed * 6364136223846793005ULL + 1442695040888963407ULL; };
  std::int64_t id = 0;
  for (int step = 0; step < 1000; ++step) {
    const std::uint64_t now = trace::now_ns();
    for (int i = 0; i < 400; ++i) {
      const std::uint64_t lag = i % 2 ? (next_random() >> 33) % (lab::Ingest::kReorderWindowNs / 2) : 0;
      ring.push(test::event(now - lag, 10 + static_cast<std::uint32_t>(i % 2), trace::Kind::read, 1, id++));
    }
    ingest.step({}, false);
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  ingest.step({}, true);
  shared.read([&](const session::Session& s) {
    EXPECT_EQ(s.events().size(), static_cast<std::size_t>(id));
    EXPECT_TRUE(std::is_sorted(s.events().begin(), s.events().end(),
                               [](const trace::Event& a, const trace::Event& b) { return a.ts_ns < b.ts_ns; }));
    std::vector<bool> seen(static_cast<std::size_t>(id), false);
    std::size_t twice = 0;
    for (const trace::Event& e : s.events()) {
      if (seen[static_cast<std::size_t>(e.a)]) ++twice;
      seen[static_cast<std::size_t>(e.a)] = true;
    }
    EXPECT_EQ(twice, 0u);
    EXPECT_EQ(std::count(seen.begin(), seen.end(), false), 0);
    EXPECT_EQ(s.late_items().rewinds, 0u);
    EXPECT_EQ(s.late_items().refolds, 0u);
    return 0;
  });
}
