// Trace ring throughput: events/s pushed and drained with 1, 2 and 4 producer
// processes (forked, as servers are) and one consumer, measured side by side
// in one run. Then what one emit() costs a server that does other work
// between its events (a paced producer, the lab's drain cadence), for rings
// of three sizes side by side. Prints two tables. Run on demand:
// build/bench/bench_ring [events]
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "trace/ring.h"

using namespace sockscope::trace;

namespace {

struct Result {
  int producers;
  double seconds;
  std::uint64_t delivered, drops;
};

Result run(int producers, std::uint64_t per_producer) {
  TraceRing ring = TraceRing::create(1 << 16);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<pid_t> kids;
  for (int p = 0; p < producers; ++p) {
    pid_t pid = fork();
    if (pid == 0) {
      Event e;
      e.kind = Kind::read;
      e.pid = static_cast<std::uint32_t>(getpid());
      for (std::uint64_t i = 0; i < per_producer; ++i) {
        e.a = static_cast<std::int64_t>(i);
        e.ts_ns = now_ns();
        ring.push(e);  // a server never waits: a full ring is a drop
      }
      _exit(0);
    }
    kids.push_back(pid);
  }
  std::uint64_t delivered = 0;
  Event e;
  int alive = producers;
  while (alive > 0) {
    while (ring.pop(e)) ++delivered;
    int st;
    while (alive > 0 && waitpid(-1, &st, WNOHANG) > 0) --alive;
  }
  while (ring.pop(e)) ++delivered;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {producers, secs, delivered, ring.drops()};
}

// A server between two events: it touches memory of its own (buffers,
// Asio's state, the kernel's), which evicts some of the ring's lines. Here a
// walk of `lines` cache lines of a 4 MiB buffer, at a stride that defeats
// the prefetcher.
struct Work {
  std::vector<char> buffer = std::vector<char>(4u << 20, 1);
  std::size_t at = 0;
  unsigned sum = 0;
  void run(int lines) {
    for (int i = 0; i < lines; ++i) {
      at = (at + 4099 * 64) % buffer.size();
      sum += static_cast<unsigned char>(buffer[at]);
      buffer[at] = static_cast<char>(sum);
    }
  }
};

struct Paced {
  double ns_per_emit;
  std::uint64_t drops;
};

// One producer process alternates blocks of `block` iterations with and
// without emit() (the same work in each), so what emit() adds is measured
// moments apart; the parent drains as the lab's ingest does (a batch, then
// 5 ms of sleep while it finds less than a batch).
Paced paced(std::size_t slots, std::uint64_t events, int work_lines) {
  TraceRing ring = TraceRing::create(slots);
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) std::abort();
  pid_t pid = fork();
  if (pid == 0) {
    close(pipe_fds[0]);
    set_process_ring(&ring);
    Work work;
    constexpr std::uint64_t kBlock = 1000;
    double on_ns = 0, off_ns = 0;
    std::uint64_t emitted = 0;
    for (std::uint64_t done = 0; done < events; done += kBlock) {
      for (int traced = 1; traced >= 0; --traced) {
        const auto t0 = std::chrono::steady_clock::now();
        for (std::uint64_t i = 0; i < kBlock; ++i) {
          work.run(work_lines);
          if (traced) emit(Kind::read, 1, static_cast<std::int64_t>(i), 0, "bench");
        }
        const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
        (traced ? on_ns : off_ns) += ns;
      }
      emitted += kBlock;
    }
    const double per = (on_ns - off_ns) / static_cast<double>(emitted);
    if (write(pipe_fds[1], &per, sizeof per) != sizeof per) _exit(1);
    _exit(work.sum == 0xdeadbeef ? 1 : 0);
  }
  close(pipe_fds[1]);
  constexpr std::size_t kBatch = 16 * 1024;  // Ingest::kBatch
  Event e;
  for (;;) {
    std::size_t n = 0;
    while (n < kBatch && ring.pop(e)) ++n;
    int st;
    if (n == 0 && waitpid(pid, &st, WNOHANG) == pid) break;
    if (n < kBatch) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  while (ring.pop(e)) {
  }
  double per = 0;
  if (read(pipe_fds[0], &per, sizeof per) != sizeof per) per = -1;
  close(pipe_fds[0]);
  return {per, ring.drops()};
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t per = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2000000;
  std::printf("trace ring, 64-byte events, 65536 slots, %llu events per producer process\n\n",
              static_cast<unsigned long long>(per));
  std::printf("| producers | offered Mev/s | delivered Mev/s | drops %% |\n|---|---|---|---|\n");
  for (int p : {1, 2, 4}) {
    Result r = run(p, per);
    double offered = double(per) * p;
    std::printf("| %d | %.2f | %.2f | %.1f |\n", p, offered / r.seconds / 1e6,
                double(r.delivered) / r.seconds / 1e6, 100.0 * double(r.drops) / offered);
  }
  std::printf(
      "\nwhat one emit() costs a paced producer (a walk of 512 cache lines of its own between events), the lab's "
      "drain cadence, %llu events, 3 rounds (ns per emit, each round's)\n\n",
      static_cast<unsigned long long>(per / 16));
  std::printf("| ring slots | ring MiB | ns per emit, rounds | drops |\n|---|---|---|---|\n");
  const std::size_t sizes[] = {std::size_t{1} << 20, std::size_t{1} << 17, std::size_t{1} << 14};
  double ns[3][3] = {};
  std::uint64_t drops[3] = {};
  for (int round = 0; round < 3; ++round)
    for (int k = 0; k < 3; ++k) {
      const int which = (k + round) % 3;
      const Paced r = paced(sizes[which], per / 16, 512);
      ns[which][round] = r.ns_per_emit;
      drops[which] += r.drops;
    }
  for (int i = 0; i < 3; ++i)
    std::printf("| %zu | %zu | %.0f, %.0f, %.0f | %llu |\n", sizes[i], sizes[i] * 128 >> 20, ns[i][0], ns[i][1],
                ns[i][2], static_cast<unsigned long long>(drops[i]));
  return 0;
}
