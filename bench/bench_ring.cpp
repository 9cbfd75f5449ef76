// Trace ring throughput: events/s pushed and drained with 1, 2 and 4 producer
// processes (forked, as servers are) and one consumer, measured side by side
// in one run. Prints a table. Run on demand: build/bench/bench_ring [events]
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
  return 0;
}
