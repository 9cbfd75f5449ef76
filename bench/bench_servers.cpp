// Server benchmarks, measured side by side in one run (the machine is shared
// and noisy, so every comparison is a ratio of two measurements taken
// moments apart, never against a number from another day):
//
//   (a) fork server, FTP connections/s: connect, read the 220 greeting, QUIT,
//       read 221, close — sequentially, traced vs --no-trace, interleaved.
//   (b) HTTP req/s and p99 latency under wrk against fork, prefork, evloop and
//       hybrid, traced vs --no-trace.
//   (c) memory per idle FTP connection: 2,000 connections held open against
//       fork, thread, pool and evloop; PSS (and RSS, to show how it overstates
//       fork's copy-on-write children) summed over the server's process tree.
//   (d) what exec and a process per request cost: sequential FTP
//       connections/s, inetd vs fork (each inetd connection forks AND execs
//       sockscope-handler), and HTTP keep-alive req/s under wrk, shotgun vs
//       fork (shotgun forks, exits and reaps once per request), each traced
//       and untraced, as ratios measured side by side.
//
// Every server is a real `sockscope serve` exec'd from SOCKSCOPE_BIN in its
// own process group. Tracing on means what the lab does: a TraceRing memfd
// named by SOCKSCOPE_TRACE_FD and a consumer thread draining it. Each
// measurement lasts a few seconds; the whole run stays under two minutes.
//
//   (e) to (h) in servers_load.cpp: drops under full load into a real Lab;
//       the event loop against nginx on short connections; idle connections
//       by the ten thousand; what tracing costs every architecture, the
//       lab's own CPU included.
//
// Usage: bench_servers [a|b|c|d|e|f|g|h]...   (no argument: every part;
//        BENCH_LOAD_SECONDS sets each full-load run, default 10)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cctype>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "servers_load.h"
#include "observe/proc_sampler.h"

namespace {

using namespace sockscope::bench;

// ---- (a) fork connections/s ----------------------------------------------------

void part_a() {
  std::printf("\n### (a) fork server: sequential FTP connections/s (connect, 220, QUIT, 221, close)\n\n");
  Server off("fork", "ftp", false);
  Server on("fork", "ftp", true);
  struct Tally {
    std::uint64_t ok = 0, failed = 0;
    double secs = 0;
  } t_off, t_on;
  // Interleaved 0.5 s slices, 2 s per mode in all: drift on a shared machine
  // hits both modes alike.
  for (int round = 0; round < 4; ++round) {
    for (int m = 0; m < 2; ++m) {
      Server& s = (round + m) % 2 == 0 ? off : on;
      Tally& t = &s == &off ? t_off : t_on;
      auto t0 = Clock::now();
      while (seconds_since(t0) < 0.5) (ftp_round_trip(s.port()) ? t.ok : t.failed)++;
      t.secs += seconds_since(t0);
    }
  }
  const double r_off = static_cast<double>(t_off.ok) / t_off.secs;
  const double r_on = static_cast<double>(t_on.ok) / t_on.secs;
  std::printf("| fork, FTP | connections | failed | conn/s | traced/untraced |\n|---|---|---|---|---|\n");
  std::printf("| --no-trace | %llu | %llu | %.0f | |\n", static_cast<unsigned long long>(t_off.ok),
              static_cast<unsigned long long>(t_off.failed), r_off);
  std::printf("| traced | %llu | %llu | %.0f | %.2f |\n", static_cast<unsigned long long>(t_on.ok),
              static_cast<unsigned long long>(t_on.failed), r_on, r_on / r_off);
  std::printf("\nTraced run: %llu events drained, %llu dropped.\n",
              static_cast<unsigned long long>(on.sink()->drained()),
              static_cast<unsigned long long>(on.sink()->drops()));
}

// ---- (b) wrk ---------------------------------------------------------------------

void part_b() {
  std::printf("\n### (b) HTTP under wrk -t2 -c16 -d3s --latency, GET /hello.txt\n\n");
  std::printf(
      "| arch | req/s untraced | req/s traced | req/s traced/untraced | p99 ms untraced | p99 ms traced | "
      "p99 traced/untraced | errors (off/on) | events drained |\n|---|---|---|---|---|---|---|---|---|\n");
  int i = 0;
  for (const char* arch : {"fork", "prefork", "evloop", "hybrid"}) {
    Server off(arch, "http", false);
    Server on(arch, "http", true);
    auto [r_off, r_on] = wrk_pair(off, on, i++ % 2 == 0);
    if (!r_off.ok || !r_on.ok) {
      std::printf("| %s | wrk failed | | | | | | | |\n", arch);
      continue;
    }
    std::printf("| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %llu/%llu | %llu (%llu dropped) |\n", arch,
                r_off.rps, r_on.rps, r_on.rps / r_off.rps, r_off.p99_ms, r_on.p99_ms,
                r_off.p99_ms > 0 ? r_on.p99_ms / r_off.p99_ms : 0.0, static_cast<unsigned long long>(r_off.errors),
                static_cast<unsigned long long>(r_on.errors),
                static_cast<unsigned long long>(on.sink()->drained()),
                static_cast<unsigned long long>(on.sink()->drops()));
    std::fflush(stdout);
  }
}

// ---- (c) memory per idle connection --------------------------------------------

constexpr int kIdle = 2000;  // the figure: 2,000 idle connections

struct IdleResult {
  Tree before, after;
  int connected = 0, greeted = 0;
  double pss_per() const { return static_cast<double>(after.pss_kb - before.pss_kb) / kIdle; }
  double rss_per() const { return static_cast<double>(after.rss_kb - before.rss_kb) / kIdle; }
};

IdleResult hold_idle(const std::string& arch, bool traced, const std::vector<std::string>& extra) {
  Server s(arch, "ftp", traced, extra);
  IdleResult r;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  r.before = measure(s.pid());
  const std::vector<int> fds = open_connections(s.port(), kIdle);
  r.connected = static_cast<int>(fds.size());
  r.greeted = count_first_replies(fds, "220", 3.0);  // a pool's queued ones wait for a worker
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the last accepts settle
  r.after = measure(s.pid());
  for (int fd : fds) close(fd);
  return r;
}

void part_c() {
  std::printf("\n### (c) memory per idle FTP connection (%d held open), summed over the server's process tree\n\n",
              kIdle);
  struct Arch {
    const char* name;
    std::vector<std::string> extra;
  };
  const std::vector<Arch> archs = {
      {"fork", {"--max-children", "2100"}},
      {"thread", {"--max-threads", "2100"}},
      {"pool", {"--workers", "4", "--queue", "2100"}},
      {"evloop", {}},
  };
  std::printf(
      "| arch | procs | greeted | fds added | PSS KiB/conn untraced | PSS KiB/conn traced | PSS traced/untraced | "
      "RSS KiB/conn untraced | RSS KiB/conn traced | RSS/PSS (untraced) |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& a : archs) {
    IdleResult off = hold_idle(a.name, false, a.extra);
    IdleResult on = hold_idle(a.name, true, a.extra);
    std::printf("| %s | %zu | %d/%d | %ld | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f |\n", a.name, off.after.procs,
                off.greeted, off.connected, off.after.fds - off.before.fds, off.pss_per(), on.pss_per(),
                off.pss_per() > 0 ? on.pss_per() / off.pss_per() : 0.0, off.rss_per(), on.rss_per(),
                off.pss_per() > 0 ? off.rss_per() / off.pss_per() : 0.0);
    std::fflush(stdout);
  }
}

// ---- (d) inetd and shotgun against fork ------------------------------------------

void part_d() {
  std::printf("\n### (d) the price of exec (inetd) and of a process per request (shotgun), against fork\n\n");
  // Sequential FTP connections: four servers, interleaved 0.4 s slices.
  struct Tally {
    std::uint64_t ok = 0, failed = 0;
    double secs = 0;
    double rate() const { return secs > 0 ? static_cast<double>(ok) / secs : 0.0; }
  };
  const char* archs[] = {"fork", "inetd"};
  std::vector<std::unique_ptr<Server>> servers;
  for (const char* a : archs)
    for (bool traced : {false, true}) servers.push_back(std::make_unique<Server>(a, "ftp", traced));
  std::vector<Tally> tally(servers.size());
  for (int round = 0; round < 4; ++round) {
    for (std::size_t k = 0; k < servers.size(); ++k) {
      const std::size_t i = (k + static_cast<std::size_t>(round)) % servers.size();
      auto t0 = Clock::now();
      while (seconds_since(t0) < 0.4) (ftp_round_trip(servers[i]->port()) ? tally[i].ok : tally[i].failed)++;
      tally[i].secs += seconds_since(t0);
    }
  }
  std::printf("| FTP, sequential | conn/s untraced | conn/s traced | traced/untraced | failed (off/on) | vs fork untraced "
              "| vs fork traced |\n|---|---|---|---|---|---|---|\n");
  for (std::size_t a = 0; a < 2; ++a) {
    const Tally& off = tally[a * 2];
    const Tally& on = tally[a * 2 + 1];
    std::printf("| %s | %.0f | %.0f | %.2f | %llu/%llu | %.2f | %.2f |\n", archs[a], off.rate(), on.rate(),
                off.rate() > 0 ? on.rate() / off.rate() : 0.0, static_cast<unsigned long long>(off.failed),
                static_cast<unsigned long long>(on.failed), tally[0].rate() > 0 ? off.rate() / tally[0].rate() : 0.0,
                tally[1].rate() > 0 ? on.rate() / tally[1].rate() : 0.0);
  }
  servers.clear();
  std::fflush(stdout);

  // HTTP keep-alive under wrk: every request on shotgun is a fork, an exit and a reap.
  std::printf("\n| HTTP keep-alive, wrk | req/s untraced | req/s traced | traced/untraced | p99 ms untraced | "
              "p99 ms traced | errors (off/on) | vs fork untraced | vs fork traced |\n"
              "|---|---|---|---|---|---|---|---|---|\n");
  WrkResult fork_off, fork_on;
  int i = 0;
  for (const char* arch : {"fork", "shotgun"}) {
    Server off(arch, "http", false);
    Server on(arch, "http", true);
    auto [r_off, r_on] = wrk_pair(off, on, i++ % 2 == 0);
    if (std::string(arch) == "fork") {
      fork_off = r_off;
      fork_on = r_on;
    }
    if (!r_off.ok || !r_on.ok) {
      std::printf("| %s | wrk failed | | | | | | | |\n", arch);
      continue;
    }
    std::printf("| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %llu/%llu | %.2f | %.2f |\n", arch, r_off.rps, r_on.rps,
                r_on.rps / r_off.rps, r_off.p99_ms, r_on.p99_ms, static_cast<unsigned long long>(r_off.errors),
                static_cast<unsigned long long>(r_on.errors), fork_off.rps > 0 ? r_off.rps / fork_off.rps : 0.0,
                fork_on.rps > 0 ? r_on.rps / fork_on.rps : 0.0);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // How long each full-load run lasts (parts e..): BENCH_LOAD_SECONDS, default 10.
  const char* load_env = std::getenv("BENCH_LOAD_SECONDS");
  const int load_seconds = load_env != nullptr && std::atoi(load_env) > 0 ? std::atoi(load_env) : 10;
  // 2,000 idle connections need 2,000 descriptors here and 2,000 in a one-process
  // server (which inherits this limit).
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  // Part g holds 10,000 (client side here, server side there).
  if (rl.rlim_cur < 20000) {
    rl.rlim_cur = rl.rlim_max < 20000 ? rl.rlim_max : 20000;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);

  std::string parts = "abcdefgh";
  if (argc > 1) {
    parts.clear();
    for (int i = 1; i < argc; ++i) parts += argv[i];
  }
  const auto t0 = Clock::now();
  try {
    if (parts.find('a') != std::string::npos) part_a();
    if (parts.find('b') != std::string::npos) part_b();
    if (parts.find('c') != std::string::npos) part_c();
    if (parts.find('d') != std::string::npos) part_d();
    if (parts.find('e') != std::string::npos) part_e(load_seconds);
    if (parts.find('f') != std::string::npos) part_f(load_seconds);
    if (parts.find('g') != std::string::npos) part_g();
    if (parts.find('h') != std::string::npos) part_h(load_seconds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_servers: %s\n", e.what());
    return 1;
  }
  std::printf("\n(total %.1f s)\n", seconds_since(t0));
  return 0;
}
