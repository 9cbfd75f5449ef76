// The trace ring under real concurrency: forked processes and threads write at
// once; every record must arrive whole, exactly once, and drops must be exact.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/events.h"
#include "trace/event.h"
#include "trace/gate.h"
#include "trace/ring.h"

using namespace sockscope::trace;

namespace {

// A record whose fields all derive from (producer, seq), so a torn record is
// detectable: any mix of two writers' bytes breaks the relation.
Event make_event(std::uint32_t producer, std::uint32_t seq) {
  const auto kind = static_cast<Kind>(seq % static_cast<unsigned>(Kind::count_));
  std::int64_t a = std::int64_t(seq) * 3;
  if (kind == Kind::gate_wait || kind == Kind::gate_pass)  // a is a gate: keep it one
    a = std::int64_t(seq % static_cast<unsigned>(GateKind::count_));
  Event e = sockscope::test::event((std::uint64_t(producer) << 32) | seq, producer, kind, producer ^ seq, a,
                                   -std::int64_t(producer), std::to_string(producer) + ":" + std::to_string(seq));
  e.tid = seq;
  return e;
}

bool whole(const Event& e) {
  auto producer = std::uint32_t(e.ts_ns >> 32), seq = std::uint32_t(e.ts_ns);
  Event want = make_event(producer, seq);
  return e.pid == want.pid && e.tid == want.tid && e.kind == want.kind && e.conn == want.conn &&
         e.a == want.a && e.b == want.b && e.text_view() == want.text_view();
}

}  // namespace

TEST(TraceEvent, NamesRoundTrip) {
  for (std::size_t i = 0; i < static_cast<std::size_t>(Kind::count_); ++i) {
    Kind k{};
    ASSERT_TRUE(kind_from_name(kind_name(static_cast<Kind>(i)), k));
    EXPECT_EQ(static_cast<std::size_t>(k), i);
  }
  Kind k{};
  EXPECT_FALSE(kind_from_name("no_such_kind", k));
}

TEST(TraceEvent, TextIsTruncatedNotOverflowed) {
  Event e;
  e.set_text(std::string(100, 'x'));
  EXPECT_EQ(e.text_view().size(), kEventTextSize);
  e.set_text("RETR");
  EXPECT_EQ(e.text_view(), "RETR");
}

TEST(TraceRing, SingleThreadFifoAndFull) {
  TraceRing ring = TraceRing::create(8);
  ASSERT_EQ(ring.capacity(), 8u);
  for (std::uint32_t i = 0; i < 8; ++i) ASSERT_TRUE(ring.push(make_event(1, i)));
  EXPECT_FALSE(ring.push(make_event(1, 99)));
  EXPECT_EQ(ring.drops(), 1u);
  Event e;
  for (std::uint32_t i = 0; i < 8; ++i) {
    ASSERT_TRUE(ring.pop(e));
    EXPECT_EQ(e.tid, i);
  }
  EXPECT_FALSE(ring.pop(e));
  EXPECT_TRUE(ring.push(make_event(1, 8)));  // space again after draining
}

TEST(TraceRing, AttachRejectsForeignMemory) {
  TraceRing ring = TraceRing::create(16);
  // Scribble a wrong version into a copy of the fd's header.
  int fd = ring.fd();
  std::uint32_t bad = kTraceVersion + 7;
  ASSERT_EQ(pwrite(fd, &bad, sizeof bad, 4), static_cast<ssize_t>(sizeof bad));
  try {
    TraceRing::attach(fd);
    FAIL() << "attach accepted a ring of another version";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("version"), std::string::npos) << e.what();
  }
}

// 4 forked processes x 2 threads each, plus the consumer draining concurrently.
TEST(TraceRing, ForkedProcessesAndThreadsDeliverEveryRecordOnce) {
  constexpr int kProcs = 4, kThreads = 2;
  constexpr std::uint32_t kPerThread = 20000;
  TraceRing ring = TraceRing::create(1 << 12);  // small: forces wraparound many times

  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::vector<std::thread> ts;
      for (int t = 0; t < kThreads; ++t) {
        ts.emplace_back([&ring, p, t] {
          std::uint32_t producer = std::uint32_t(p * kThreads + t + 1);
          for (std::uint32_t i = 0; i < kPerThread;) {
            if (ring.push(make_event(producer, i))) ++i;  // retry on full: test wants all
            else std::this_thread::yield();
          }
        });
      }
      for (auto& t : ts) t.join();
      _exit(0);
    }
    kids.push_back(pid);
  }

  const std::size_t total = std::size_t(kProcs) * kThreads * kPerThread;
  std::vector<std::vector<bool>> seen(kProcs * kThreads + 1, std::vector<bool>(kPerThread));
  std::size_t got = 0, torn = 0, dup = 0;
  Event e;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (got < total && std::chrono::steady_clock::now() < deadline) {
    if (!ring.pop(e)) {
      std::this_thread::yield();
      continue;
    }
    ++got;
    if (!whole(e)) {
      ++torn;
      continue;
    }
    auto producer = std::uint32_t(e.ts_ns >> 32), seq = std::uint32_t(e.ts_ns);
    if (seen[producer][seq]) ++dup;
    seen[producer][seq] = true;
  }
  for (pid_t k : kids) {
    int st = 0;
    waitpid(k, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  EXPECT_EQ(got, total);
  EXPECT_EQ(torn, 0u);
  EXPECT_EQ(dup, 0u);
  EXPECT_FALSE(ring.pop(e));
  // The retrying producers saw full rings; those counted as drops. Exactly the
  // accepted pushes arrived.
  EXPECT_EQ(ring.pushed(), total);
}

// Without a consumer, exactly capacity records fit; every other push is a drop.
TEST(TraceRing, DropsAreExactWhenTooSmall) {
  constexpr std::size_t kCap = 256;
  constexpr int kThreads = 4, kPer = 1000;
  TraceRing ring = TraceRing::create(kCap);
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i)
        if (ring.push(make_event(t + 1, i))) ok.fetch_add(1);
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(std::size_t(ok.load()), kCap);
  EXPECT_EQ(ring.drops(), std::uint64_t(kThreads * kPer) - kCap);
  Event e;
  std::size_t n = 0;
  while (ring.pop(e)) {
    EXPECT_TRUE(whole(e));
    ++n;
  }
  EXPECT_EQ(n, kCap);
}

// The process-wide writer, attached through the environment like a server.
TEST(TraceRing, ExecStyleAttachThroughEnvironment) {
  TraceRing ring = TraceRing::create(64);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv(kTraceFdEnv, std::to_string(ring.fd()).c_str(), 1);
    if (!attach_from_env()) _exit(3);
    emit(Kind::server_start, 0, 4481, 0, "fork");
    emit(Kind::accept, 1, 51234, 5);
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  Event e;
  ASSERT_TRUE(ring.pop(e));
  EXPECT_EQ(e.kind, Kind::server_start);
  EXPECT_EQ(e.pid, std::uint32_t(pid));
  EXPECT_EQ(e.text_view(), "fork");
  ASSERT_TRUE(ring.pop(e));
  EXPECT_EQ(e.kind, Kind::accept);
  EXPECT_EQ(e.conn, 1u);
  EXPECT_EQ(e.a, 51234);
}

// emit() caches pid and tid per thread; a forked child and a new thread must
// still stamp their own ids, never the parent's.
TEST(TraceRing, EmitStampsTheRightPidAndTidAfterForkAndInThreads) {
  TraceRing ring = TraceRing::create(64);
  set_process_ring(&ring);
  emit(Kind::listen, 0, 1);  // warms the parent's cache
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    emit(Kind::child_start, 1, 2);
    _exit(0);
  }
  int st = 0;
  waitpid(child, &st, 0);
  std::uint32_t thread_tid = 0;
  std::thread t([&] {
    thread_tid = static_cast<std::uint32_t>(gettid());
    emit(Kind::spawn, 2, 3);
  });
  t.join();
  set_process_ring(nullptr);
  Event e;
  ASSERT_TRUE(ring.pop(e));
  EXPECT_EQ(e.pid, std::uint32_t(getpid()));
  EXPECT_EQ(e.tid, std::uint32_t(gettid()));
  ASSERT_TRUE(ring.pop(e));
  EXPECT_EQ(e.kind, Kind::child_start);
  EXPECT_EQ(e.pid, std::uint32_t(child));
  EXPECT_EQ(e.tid, std::uint32_t(child));
  ASSERT_TRUE(ring.pop(e));
  EXPECT_EQ(e.kind, Kind::spawn);
  EXPECT_EQ(e.pid, std::uint32_t(getpid()));
  EXPECT_EQ(e.tid, thread_tid);
}

namespace {

// A plausible record from this process that carries `n` in conn.
sockscope::trace::Event numbered(std::uint32_t n) {
  return sockscope::test::event(0, getpid(), sockscope::trace::Kind::read, n);
}

// Pops until `want` events arrived or `limit` passed; returns their numbers.
std::vector<std::uint32_t> drain(sockscope::trace::TraceRing& ring, std::size_t want, std::chrono::milliseconds limit) {
  std::vector<std::uint32_t> got;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  sockscope::trace::Event e;
  while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
    if (ring.pop(e)) got.push_back(e.conn);
    else std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return got;
}

}  // namespace

// A producer killed between claiming a slot and publishing it (SIGKILL in the
// middle of emit) must not stall the lab's ingest for good: the consumer
// steps over the slot once the claimer is dead (gone, or a zombie) and counts
// a drop. A live producer that is merely slow is waited for.
TEST(TraceRing, ASlotClaimedByAKilledProducerIsSkippedAsADrop) {
  using namespace std::chrono_literals;
  sockscope::trace::TraceRing ring = sockscope::trace::TraceRing::create(16);
  ring.push(numbered(1));
  // A child claims the next slot and is killed before publishing. It stays a
  // zombie (not reaped yet): that counts as dead too.
  pid_t child = fork();
  if (child == 0) {
    ring.claim(getpid());
    raise(SIGKILL);
    _exit(1);
  }
  ASSERT_GT(child, 0);
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);  // dead, still a zombie
  ring.push(numbered(3));
  ring.push(numbered(4));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(drain(ring, 3, 3s), (std::vector<std::uint32_t>{1, 3, 4}));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::nanoseconds(sockscope::trace::TraceRing::kAbandonAfterNs))
      << "skipped before waiting";
  EXPECT_EQ(ring.abandoned(), 1u);
  EXPECT_EQ(ring.drops(), 1u);
  waitpid(child, nullptr, 0);

  // Gone entirely (reaped): skipped the same way, and the ring keeps
  // working past it, lap after lap.
  child = fork();
  if (child == 0) {
    ring.claim(getpid());
    _exit(0);
  }
  waitpid(child, nullptr, 0);
  std::vector<std::uint32_t> got, want;
  for (std::uint32_t n = 10; n < 40; ++n) {
    ring.push(numbered(n));
    want.push_back(n);
    if (want.size() - got.size() == 8) {
      auto batch = drain(ring, 8, 2s);
      got.insert(got.end(), batch.begin(), batch.end());
    }
  }
  auto rest = drain(ring, want.size() - got.size(), 2s);
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(ring.abandoned(), 2u);
  EXPECT_EQ(ring.drops(), 2u);
  ring.push(numbered(99));
  EXPECT_EQ(drain(ring, 1, 1s), std::vector<std::uint32_t>{99});
}

TEST(TraceRing, ASlowLiveProducerIsWaitedForNotSkipped) {
  using namespace std::chrono_literals;
  sockscope::trace::TraceRing ring = sockscope::trace::TraceRing::create(16);
  int claimed[2];
  ASSERT_EQ(pipe(claimed), 0);
  pid_t child = fork();
  if (child == 0) {
    auto c = ring.claim(getpid());
    const char one = 1;
    if (write(claimed[1], &one, 1) != 1) _exit(2);
    // Longer than the consumer's wait before it checks the claimer.
    std::this_thread::sleep_for(3 * std::chrono::nanoseconds(sockscope::trace::TraceRing::kAbandonAfterNs));
    ring.publish(c, numbered(7));
    _exit(0);
  }
  ASSERT_GT(child, 0);
  char byte = 0;
  ASSERT_EQ(read(claimed[0], &byte, 1), 1);  // the child holds the first slot now
  close(claimed[0]);
  close(claimed[1]);
  ring.push(numbered(8));
  EXPECT_EQ(drain(ring, 2, 5s), (std::vector<std::uint32_t>{7, 8})) << "the slow producer's event was lost or reordered";
  EXPECT_EQ(ring.abandoned(), 0u);
  EXPECT_EQ(ring.drops(), 0u);
  waitpid(child, nullptr, 0);
}

// A process with undefined behaviour (hybrid with notify_fork off follows a
// sibling's pointers) can write anything into the shared mapping. What the
// lab reads must stay what producers could have written.
TEST(TraceRing, ScribbledRecordsAreRefusedAndCounted) {
  using namespace std::chrono_literals;
  TraceRing ring = TraceRing::create(16);
  ring.push(numbered(1));
  Event unknown_kind = numbered(100);
  unknown_kind.kind = static_cast<Kind>(999);
  ring.push(unknown_kind);
  Event no_pid = numbered(101);
  no_pid.pid = 0;
  ring.push(no_pid);
  Event bad_gate = numbered(102);
  bad_gate.kind = Kind::gate_wait;
  bad_gate.a = 200;
  ring.push(bad_gate);
  ring.push(numbered(2));
  EXPECT_EQ(drain(ring, 2, 1s), (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(ring.rejected(), 3u);
  EXPECT_EQ(ring.drops(), 3u) << "a refused record is a lost one";
}

TEST(TraceRing, AScribbledHeaderCannotMoveTheConsumerOutOfTheMapping) {
  using namespace std::chrono_literals;
  TraceRing ring = TraceRing::create(16);
  const std::uint64_t huge = 1ull << 40;  // the header's capacity, overwritten
  ASSERT_EQ(pwrite(ring.fd(), &huge, sizeof huge, 8), static_cast<ssize_t>(sizeof huge));
  EXPECT_EQ(ring.capacity(), 16u);
  for (std::uint32_t n = 1; n <= 40; ++n) {  // wraps the 16 slots twice
    ASSERT_TRUE(ring.push(numbered(n)));
    ASSERT_EQ(drain(ring, 1, 1s), std::vector<std::uint32_t>{n});
  }
  try {
    TraceRing::attach(ring.fd());
    FAIL() << "attached a ring whose capacity is not a power of two";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("capacity"), std::string::npos) << e.what();
  }
}
