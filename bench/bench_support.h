// What the server benchmarks share: a trace ring with one draining consumer,
// an exec'd `sockscope serve`, raw FTP round trips, wrk, and a process tree's
// memory and descriptors from /proc.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "lab/lab.h"
#include "trace/ring.h"

namespace sockscope::bench {

using Clock = std::chrono::steady_clock;
using trace::Event;
using trace::TraceRing;

inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

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

// ---- Sockets ----------------------------------------------------------------------

// A blocking TCP connection to 127.0.0.1:port (2 s receive timeout,
// TCP_NODELAY), or -1.
int connect_to(std::uint16_t port);
// Reads until a complete reply line with `code` ("220 ...\r\n"). False on
// timeout, EOF or another code.
bool read_reply(int fd, const char* code);
// One full FTP connection: greeting, QUIT, 221, close.
bool ftp_round_trip(std::uint16_t port);
// Up to `n` connections to 127.0.0.1:port, each non-blocking once connected
// (fewer when a connect fails). The caller closes them.
std::vector<int> open_connections(std::uint16_t port, int n);
// Reads the first reply of each of `fds` for at most `timeout_s` seconds;
// returns how many began with `code` ("220"). A pool's queued connections
// get none until a worker frees up.
int count_first_replies(const std::vector<int>& fds, const char* code, double timeout_s);

// ---- wrk ------------------------------------------------------------------------

struct WrkResult {
  double rps = 0;
  double p99_ms = 0;
  std::uint64_t errors = 0;  // socket errors + non-2xx/3xx
  std::uint64_t requests = 0;  // completed in the run
  double cpu_s = 0;            // what wrk itself spent (user + system)
  bool ok = false;
};

struct WrkOptions {
  int threads = 2;
  int connections = 16;
  int seconds = 3;
  bool close = false;  // every request on a new connection (Connection: close)
};
// wrk against GET /hello.txt on 127.0.0.1:port.
WrkResult run_wrk(std::uint16_t port, const WrkOptions& options = {});
// wrk against an untraced and a traced server, one after the other. Callers
// alternate which goes first, so neither always gets the warmer machine.
std::pair<WrkResult, WrkResult> wrk_pair(const Server& off, const Server& on, bool off_first,
                                         const WrkOptions& options = {});

// ---- A process tree from /proc ---------------------------------------------------

struct Tree {
  std::size_t procs = 0;
  std::uint64_t pss_kb = 0, rss_kb = 0;
  long fds = 0;
};

// Processes, PSS, RSS and descriptors summed over `root` and its descendants.
Tree measure(pid_t root);

// CPU seconds (user + system) spent so far by `root`'s tree: the processes in
// it now, and the children they have reaped (a fork server's).
double tree_cpu_seconds(pid_t root);
// User + system seconds of a getrusage() result.
double cpu_seconds(const rusage& r);

// Every bench's Lab: the app's options, and for experiments on where the
// cost is BENCH_SAMPLE_MS sets the /proc sample period, BENCH_RING_SLOTS the
// ring's size, BENCH_POLL_MS ingest's sleep between steps.
lab::LabOptions bench_lab_options();

}  // namespace sockscope::bench
