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
// Usage: bench_servers [a|b|c|d]...   (no argument: every part)
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

#include "observe/proc_sampler.h"
#include "trace/ring.h"

namespace {

using Clock = std::chrono::steady_clock;
using sockscope::trace::Event;
using sockscope::trace::TraceRing;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// ---- Tracing: a ring and the one consumer that drains it ---------------------

class TraceSink {
 public:
  TraceSink() : ring_(TraceRing::create(1u << 16)) {
    thread_ = std::thread([this] {
      Event e;
      while (!stop_.load(std::memory_order_relaxed)) {
        bool any = false;
        while (ring_.pop(e)) {
          any = true;
          drained_.fetch_add(1, std::memory_order_relaxed);
        }
        // Sleep when idle: a spinning consumer would steal one of the two
        // cores from the server under test. 64 Ki slots absorb 200 µs easily.
        if (!any) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      while (ring_.pop(e)) drained_.fetch_add(1, std::memory_order_relaxed);
    });
  }
  ~TraceSink() {
    stop_ = true;
    thread_.join();
  }
  int fd() const { return ring_.fd(); }
  std::uint64_t drained() const { return drained_.load(); }
  std::uint64_t drops() const { return ring_.drops(); }

 private:
  TraceRing ring_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> drained_{0};
  std::thread thread_;
};

// ---- One exec'd server ------------------------------------------------------

class Server {
 public:
  Server(const std::string& arch, const std::string& protocol, bool traced,
         const std::vector<std::string>& extra = {}) {
    if (traced) sink_ = std::make_unique<TraceSink>();
    log_ = "/tmp/bench_servers." + std::to_string(getpid()) + "." + std::to_string(counter_++) + ".log";
    std::vector<std::string> args = {SOCKSCOPE_BIN, "serve", "--arch", arch, "--protocol", protocol, "--port", "0"};
    if (!traced) args.emplace_back("--no-trace");
    args.insert(args.end(), extra.begin(), extra.end());
    // Everything the child needs is built before fork(): the drain thread may
    // be running, so the child does nothing but async-signal-safe calls.
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const std::string trace_var = std::string(sockscope::trace::kTraceFdEnv) + "=";
    std::vector<std::string> env_text;
    for (char** e = environ; *e; ++e)
      if (std::strncmp(*e, trace_var.c_str(), trace_var.size()) != 0) env_text.emplace_back(*e);
    if (sink_) env_text.push_back(trace_var + std::to_string(sink_->fd()));
    std::vector<char*> envp;
    for (auto& e : env_text) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // Own process group (so stop() can reach forked children), and die with
      // the bench if it is killed.
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      int out = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out >= 0) {
        dup2(out, 1);
        dup2(out, 2);
        close(out);
      }
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    setpgid(pid_, pid_);  // both sides set it: no race with stop()
    // The banner: "... listening on 127.0.0.1:PORT (pid N)".
    auto t0 = Clock::now();
    while (seconds_since(t0) < 5.0) {
      std::ifstream in(log_);
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string text = ss.str();
      auto at = text.find("listening on 127.0.0.1:");
      if (at != std::string::npos) {
        port_ = static_cast<std::uint16_t>(std::atoi(text.c_str() + at + std::strlen("listening on 127.0.0.1:")));
        if (port_ != 0) return;
      }
      int st;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = 0;
        throw std::runtime_error("server " + arch + " exited at start: " + text);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    throw std::runtime_error("server " + arch + " printed no banner within 5 s");
  }
  ~Server() {
    stop();
    unlink(log_.c_str());
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // SIGTERM (the server stops its own children), then SIGKILL to the group
  // we created for it after a grace period.
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    auto t0 = Clock::now();
    int st;
    while (waitpid(pid_, &st, WNOHANG) == 0) {
      if (seconds_since(t0) > 3.0) {
        kill(-pid_, SIGKILL);
        waitpid(pid_, &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill(-pid_, SIGKILL);  // stragglers in the group (children that outlived the parent)
    pid_ = 0;
  }

  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }
  const TraceSink* sink() const { return sink_.get(); }

 private:
  static inline int counter_ = 0;
  std::unique_ptr<TraceSink> sink_;
  std::string log_;
  pid_t pid_ = 0;
  std::uint16_t port_ = 0;
};

// ---- Sockets ------------------------------------------------------------------

int connect_to(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Reads until a complete reply line with `code` ("220 ...\r\n"). False on
// timeout, EOF or another code.
bool read_reply(int fd, const char* code) {
  std::string buf;
  char chunk[512];
  while (true) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<std::size_t>(n));
    auto eol = buf.rfind("\r\n");
    if (eol == std::string::npos) continue;
    // Last complete line: "NNN text" ends a (possibly multi-line) reply.
    auto start = buf.rfind("\r\n", eol == 0 ? 0 : eol - 1);
    start = start == std::string::npos || start >= eol ? 0 : start + 2;
    if (eol - start >= 4 && buf[start + 3] == ' ') return buf.compare(start, 3, code) == 0;
  }
}

// One full FTP connection: greeting, QUIT, 221, close.
bool ftp_round_trip(std::uint16_t port) {
  int fd = connect_to(port);
  if (fd < 0) return false;
  bool ok = read_reply(fd, "220");
  if (ok) ok = write(fd, "QUIT\r\n", 6) == 6 && read_reply(fd, "221");
  close(fd);
  return ok;
}

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

struct WrkResult {
  double rps = 0;
  double p99_ms = 0;
  std::uint64_t errors = 0;  // socket errors + non-2xx/3xx
  bool ok = false;
};

double to_ms(const std::string& v) {
  double x = std::atof(v.c_str());
  if (v.find("us") != std::string::npos) return x / 1000.0;
  if (v.find("ms") != std::string::npos) return x;
  if (v.find('s') != std::string::npos) return x * 1000.0;
  return x;
}

WrkResult run_wrk(std::uint16_t port) {
  const std::string cmd = "wrk -t2 -c16 -d3s --latency http://127.0.0.1:" + std::to_string(port) + "/hello.txt 2>&1";
  WrkResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char line[512];
  while (std::fgets(line, sizeof line, p)) {
    std::string s(line);
    std::istringstream in(s);
    std::string first;
    in >> first;
    if (first == "Requests/sec:") {
      in >> r.rps;
      r.ok = true;
    } else if (first == "99%") {
      std::string v;
      in >> v;
      r.p99_ms = to_ms(v);
    } else if (first == "Non-2xx") {
      auto colon = s.find(':');
      if (colon != std::string::npos) r.errors += std::strtoull(s.c_str() + colon + 1, nullptr, 10);
    } else if (first == "Socket") {
      // "Socket errors: connect 0, read 0, write 0, timeout 0"
      for (std::size_t i = 0; i < s.size(); ++i)
        if (std::isdigit(static_cast<unsigned char>(s[i])) && (i == 0 || s[i - 1] == ' ')) {
          r.errors += std::strtoull(s.c_str() + i, nullptr, 10);
          while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
        }
    }
  }
  pclose(p);
  return r;
}

// wrk against an untraced and a traced server, one after the other. Callers
// alternate which goes first, so neither always gets the warmer machine.
std::pair<WrkResult, WrkResult> wrk_pair(const Server& off, const Server& on, bool off_first) {
  std::pair<WrkResult, WrkResult> r;
  if (off_first) {
    r.first = run_wrk(off.port());
    r.second = run_wrk(on.port());
  } else {
    r.second = run_wrk(on.port());
    r.first = run_wrk(off.port());
  }
  return r;
}

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

struct Tree {
  std::size_t procs = 0;
  std::uint64_t pss_kb = 0, rss_kb = 0;
  long fds = 0;
};

Tree measure(pid_t root) {
  Tree t;
  auto snap = sockscope::observe::sample_subtree(root);
  for (const auto& p : snap.procs) {
    ++t.procs;
    t.pss_kb += p.pss_kb;
    t.rss_kb += p.rss_kb;
    t.fds += p.fds;
  }
  return t;
}

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
  std::vector<int> fds;
  fds.reserve(kIdle);
  for (int i = 0; i < kIdle; ++i) {
    int fd = connect_to(s.port());
    if (fd < 0) break;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fds.push_back(fd);
  }
  r.connected = static_cast<int>(fds.size());
  // Read each greeting (a line starting "220"); a pool's queued connections
  // get none until a worker frees up, so wait at most 3 s for the rest.
  std::vector<bool> greeted(fds.size(), false);
  auto t0 = Clock::now();
  while (r.greeted < r.connected && seconds_since(t0) < 3.0) {
    std::vector<pollfd> pf;
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < fds.size(); ++i)
      if (!greeted[i]) {
        pf.push_back({fds[i], POLLIN, 0});
        idx.push_back(i);
      }
    if (poll(pf.data(), pf.size(), 100) <= 0) continue;
    for (std::size_t k = 0; k < pf.size(); ++k) {
      if (!(pf[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[256];
      ssize_t n = read(pf[k].fd, buf, sizeof buf);
      greeted[idx[k]] = true;  // answered (or hung up): stop polling it
      if (n >= 3 && std::memcmp(buf, "220", 3) == 0) ++r.greeted;
    }
  }
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
  // 2,000 idle connections need 2,000 descriptors here and 2,000 in a one-process
  // server (which inherits this limit).
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < 16384) {
    rl.rlim_cur = rl.rlim_max < 16384 ? rl.rlim_max : 16384;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);

  std::string parts = "abcd";
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
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_servers: %s\n", e.what());
    return 1;
  }
  std::printf("\n(total %.1f s)\n", seconds_since(t0));
  return 0;
}
