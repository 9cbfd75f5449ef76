// Reliability benchmarks (issue 17): the figures for the README's reliability
// section, measured against real `sockscope serve` processes exec'd from
// SOCKSCOPE_BIN, each in its own process group (as bench_servers does).
//
//   hostile  every architecture x both protocols, a catalogue of bad inputs
//            (data below: families of variants, hundreds per protocol), each
//            on its own connection. Per input: an error reply (4xx/5xx), other
//            replies only, a close with no reply, the client hung up itself
//            (close/RST probes), or a hang (no reply nor close within 3 s);
//            whether a reply or FTP data carried /etc/passwd or a file kept
//            beside the served root (an escape); whether the server died
//            (waitpid) or a child died by a signal (the trace's `reap`). Then
//            a polite client must get hello.txt byte for byte.
//   kill     N labs (forked children, as tests/gates/gates_test.cpp does) with
//            server processes and threads parked at gates, SIGKILLed at a
//            seeded random moment (every 4th during start-up); then /proc is
//            searched for the environment marker (tests/proc_marker.h).
//   storm    each capped architecture: 64 connections hold the cap, 500 more
//            arrive at once and send nothing; the time until all 500 are
//            refused (421 / 503) or closed, and the reply time of a polite
//            client that connects 50 ms into the storm.
//
// Usage: bench_reliability [hostile|kill|storm]... [--cycles N] [--seed S]
//        [--storm N] [--arch A]   (no part named: all three; every wait is
// bounded, the run stays under 5 minutes). BENCH_RELIABILITY_VERBOSE=1 prints
// every hostile input's outcome on stderr.
//
// Sections: 1. servers and sockets  2. hostile  3. kill  4. storm  5. main
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "clients/scenario.h"
#include "lab/lab.h"
#include "servers/architecture.h"
#include "servers/serve_command.h"
#include "trace/gate.h"
#include "trace/ring.h"
#include "reliability_catalogue.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using sockscope::trace::Kind;
using namespace sockscope::bench;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string g_only_arch;  // --arch: hostile and storm run this architecture only
const bool g_verbose = std::getenv("BENCH_RELIABILITY_VERBOSE") != nullptr;

// ---- 1. Servers and sockets -----------------------------------------------------

// One exec'd `sockscope serve`. Traced, it gets a ring whose one consumer
// counts children the server reaped after a signal killed them.
class Server {
 public:
  Server(const std::string& arch, const std::string& protocol, bool traced, const std::vector<std::string>& extra) {
    log_ = "/tmp/bench_reliability." + std::to_string(getpid()) + "." + std::to_string(counter_++) + ".log";
    std::vector<std::string> args = {SOCKSCOPE_BIN, "serve", "--arch", arch, "--protocol", protocol, "--port", "0"};
    if (!traced) args.emplace_back("--no-trace");
    args.insert(args.end(), extra.begin(), extra.end());
    const std::string var = std::string(sockscope::trace::kTraceFdEnv) + "=";
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e)
      if (std::strncmp(*e, var.c_str(), var.size()) != 0) env.emplace_back(*e);
    if (traced) {
      ring_ = std::make_unique<sockscope::trace::TraceRing>(sockscope::trace::TraceRing::create(1u << 16));
      env.push_back(var + std::to_string(ring_->fd()));
      drain_ = std::thread([this] {
        sockscope::trace::Event e;
        while (!stop_.load()) {
          bool any = false;
          while (ring_->pop(e)) {
            any = true;
            if (e.kind == Kind::reap && WIFSIGNALED(static_cast<int>(e.b))) signaled_.fetch_add(1);
          }
          if (!any) std::this_thread::sleep_for(200us);  // a spinning consumer would steal a core
        }
      });
    }
    // Built before fork(): the drain thread runs, so the child only execs.
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    for (auto& e : env) envp.push_back(e.data());
    argv.push_back(nullptr);
    envp.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0) fail("fork failed");
    if (pid_ == 0) {
      setpgid(0, 0);  // its own group, so stop() reaches its children
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      int out = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out >= 0) dup2(out, 1), dup2(out, 2), close(out);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    setpgid(pid_, pid_);  // both sides: no race with stop()
    for (const auto t0 = Clock::now(); ms_since(t0) < 5000; std::this_thread::sleep_for(10ms)) {
      const std::string text = read_text(log_);  // "... listening on 127.0.0.1:PORT (pid N)"
      const auto at = text.find("listening on 127.0.0.1:");
      if (at != std::string::npos && (port_ = static_cast<std::uint16_t>(std::atoi(text.c_str() + at + 23))) != 0)
        return;
      if (exited()) fail("server " + arch + " exited at start: " + text);
    }
    fail("server " + arch + " printed no banner within 5 s");
  }
  ~Server() { finish(); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // True once the server process has ended on its own (reaped here).
  bool exited() {
    if (pid_ > 0 && waitpid(pid_, &status_, WNOHANG) == pid_) {
      kill(-pid_, SIGKILL);  // children that outlived it
      pid_ = -1;
    }
    return pid_ < 0;
  }
  std::string status() const {
    return WIFSIGNALED(status_) ? "killed by signal " + std::to_string(WTERMSIG(status_))
                                : "exit " + std::to_string(WEXITSTATUS(status_));
  }
  // SIGTERM (the server stops its own children), SIGKILL to the group after 3 s.
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int st;
    for (const auto t0 = Clock::now(); waitpid(pid_, &st, WNOHANG) == 0; std::this_thread::sleep_for(5ms)) {
      if (ms_since(t0) > 3000) {
        kill(-pid_, SIGKILL);
        waitpid(pid_, &st, 0);
        break;
      }
    }
    kill(-pid_, SIGKILL);  // stragglers in the group
    pid_ = 0;
  }
  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  int children_signaled() const { return signaled_.load(); }
  std::uint64_t trace_drops() const { return ring_ ? ring_->drops() : 0; }

 private:
  void finish() {
    stop();
    unlink(log_.c_str());
    stop_ = true;
    if (drain_.joinable()) drain_.join();
  }
  [[noreturn]] void fail(const std::string& why) {
    finish();  // a constructor that throws gets no destructor
    throw std::runtime_error(why);
  }

  static inline int counter_ = 0;
  std::string log_;
  std::unique_ptr<sockscope::trace::TraceRing> ring_;
  std::thread drain_;
  std::atomic<bool> stop_{false};
  std::atomic<int> signaled_{0};
  pid_t pid_ = 0;  // -1: exited on its own
  int status_ = 0;
  std::uint16_t port_ = 0;
};

int dial(std::uint16_t port, bool nonblocking = false) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 &&
      !(nonblocking && errno == EINPROGRESS)) {
    close(fd);
    return -1;
  }
  timeval tv{3, 0};  // a send into a server that stopped reading gives up
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

void send_all(int fd, std::string_view bytes) {
  for (ssize_t n; !bytes.empty(); bytes.remove_prefix(static_cast<std::size_t>(n)))
    if ((n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL)) <= 0) return;  // closed, reset, or 3 s stalled
}

void hang_up(int fd, bool rst) {
  linger l{1, 0};  // RST instead of FIN
  if (rst) setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

// Appends what arrives to `buf` until it holds `until`; false after `timeout_ms` or a close without it.
bool read_until(int fd, std::string& buf, std::string_view until, int timeout_ms) {
  for (const auto t0 = Clock::now(); buf.find(until) == std::string::npos;) {
    const int left = timeout_ms - static_cast<int>(ms_since(t0));
    pollfd p{fd, POLLIN, 0};
    char chunk[4096];
    ssize_t n = left > 0 && poll(&p, 1, left) > 0 ? recv(fd, chunk, sizeof chunk, MSG_DONTWAIT) : -1;
    if (n <= 0) return false;
    buf.append(chunk, static_cast<std::size_t>(n));
  }
  return true;
}

// ---- 2. hostile ------------------------------------------------------------------

enum Outcome : std::uint8_t { error_reply, other_reply, closed_silent, client_gone, hang, kOutcomes };

struct ProbeResult {
  Outcome outcome = hang;
  bool escaped = false, kept_open = false;  // kept_open: replied, then ignored our FIN for 3 s
  std::string control, data;                // control: after the FTP greeting
};


// Final reply codes: FTP "NNN " lines, HTTP "HTTP/1.x NNN" status lines.
std::vector<int> reply_codes(const std::string& s, bool ftp) {
  std::vector<int> codes;
  for (std::size_t i = 0, nl; i < s.size(); i = nl + 1) {
    nl = std::min(s.find('\n', i), s.size());
    const std::string l = s.substr(i, nl - i);
    if (ftp && l.size() >= 4 && l[3] == ' ' && std::isdigit(static_cast<unsigned char>(l[0])))
      codes.push_back(std::atoi(l.c_str()));
    if (!ftp && l.rfind("HTTP/1.", 0) == 0 && l.size() >= 12) codes.push_back(std::atoi(l.c_str() + 9));
  }
  return codes;
}

// The data port a 227 or 229 line offers, or 0.
std::uint16_t offered_port(const std::string& line) {
  int h[6];
  auto at = line.find('(');
  if (line.rfind("227 ", 0) == 0 && at != std::string::npos &&
      std::sscanf(line.c_str() + at, "(%d,%d,%d,%d,%d,%d)", &h[0], &h[1], &h[2], &h[3], &h[4], &h[5]) == 6)
    return static_cast<std::uint16_t>(h[4] * 256 + h[5]);
  at = line.find("|||");
  return line.rfind("229 ", 0) == 0 && at != std::string::npos
             ? static_cast<std::uint16_t>(std::atoi(line.c_str() + at + 3))
             : 0;
}

ProbeResult run_probe(std::uint16_t port, bool ftp, const Probe& p, const TempRoot& jail, int timeout_ms = 3000) {
  ProbeResult r;
  const int fd = dial(port);
  std::string greeting;
  if (fd < 0 || (ftp && !p.bytes.empty() && !read_until(fd, greeting, "\r\n", timeout_ms))) {
    if (fd >= 0) close(fd);
    return r;  // not accepted, or no FTP greeting: a hang
  }
  const std::size_t piece = (p.bytes.size() + p.pieces - 1) / p.pieces;
  for (std::size_t off = 0; off < p.bytes.size(); off += piece) {
    send_all(fd, std::string_view(p.bytes).substr(off, piece));
    std::this_thread::sleep_for(std::chrono::milliseconds(p.gap_ms));
  }
  if (p.end == End::close || p.end == End::rst) {
    hang_up(fd, p.end == End::rst);
    r.outcome = client_gone;
    return r;
  }
  if (p.end == End::fin) shutdown(fd, SHUT_WR);
  const bool read_data = p.end != End::rst_after;
  std::vector<int> data_fds;
  std::size_t scanned = 0;
  bool closed = false;
  const auto sent = Clock::now();
  auto last_byte = sent;
  char buf[65536];
  const bool quiet_ends = p.end == End::hold || p.end == End::rst_after;
  while (ms_since(sent) < timeout_ms && !(quiet_ends && !r.control.empty() && ms_since(last_byte) >= 100)) {
    std::vector<pollfd> pf{{fd, POLLIN, 0}};
    for (int d : data_fds)
      if (read_data) pf.push_back({d, POLLIN, 0});
    if (poll(pf.data(), pf.size(), 20) < 0) break;
    for (std::size_t k = 1; k < pf.size(); ++k) {
      ssize_t n = pf[k].revents ? recv(pf[k].fd, buf, sizeof buf, MSG_DONTWAIT) : -1;
      if (n > 0) r.data.append(buf, static_cast<std::size_t>(n));
      if (n == 0 || (n < 0 && pf[k].revents && errno != EAGAIN)) {
        close(pf[k].fd);
        std::erase(data_fds, pf[k].fd);
      }
    }
    ssize_t n = pf[0].revents ? recv(fd, buf, sizeof buf, MSG_DONTWAIT) : -1;
    if (n == 0 || (n < 0 && pf[0].revents && errno != EAGAIN && errno != EINTR)) {
      closed = true;
      break;
    }
    if (n < 0) continue;
    r.control.append(buf, static_cast<std::size_t>(n));
    last_byte = Clock::now();
    for (std::size_t nl; ftp && p.data && (nl = r.control.find('\n', scanned)) != std::string::npos; scanned = nl + 1)
      if (std::uint16_t dp = offered_port(r.control.substr(scanned, nl - scanned)); dp != 0)
        if (int d = dial(dp); d >= 0) data_fds.push_back(d);
  }
  for (int d : data_fds) {
    for (ssize_t n; read_data && (n = recv(d, buf, sizeof buf, MSG_DONTWAIT)) > 0;)
      r.data.append(buf, static_cast<std::size_t>(n));
    hang_up(d, !read_data);
  }
  hang_up(fd, !read_data);
  const auto codes = reply_codes(r.control, ftp);
  r.escaped = jail.leaked(p, r.control + r.data);
  if (std::any_of(codes.begin(), codes.end(), [](int c) { return c >= 400; }))
    r.outcome = error_reply;
  else if (!codes.empty())
    r.outcome = other_reply;
  else if (closed)
    r.outcome = closed_silent;
  if (p.end == End::deadline && !closed) r.outcome = hang;
  r.kept_open = !codes.empty() && !closed && p.end == End::fin;
  return r;
}


struct HostileRow {
  int tried = 0, outcomes[kOutcomes] = {}, kept_open = 0, escapes = 0, deaths = 0, skipped = 0, not_serving = 0;
  double polite_ms = 0, secs = 0;
  void add(const HostileRow& r) {
    tried += r.tried, kept_open += r.kept_open, escapes += r.escapes, deaths += r.deaths, secs += r.secs;
    skipped += r.skipped, not_serving += r.not_serving;
    for (int k = 0; k < kOutcomes; ++k) outcomes[k] += r.outcomes[k];
  }
};

std::vector<std::string> g_findings;  // every hang, escape, death: the report's list

// A polite client: hello.txt, whole, by RETR over PASV or by GET.
bool polite(std::uint16_t port, bool ftp, const TempRoot& j, int timeout_ms) {
  Probe p{"polite", ftp ? "USER anonymous\r\nPASS x\r\nTYPE I\r\nPASV\r\nRETR hello.txt\r\nQUIT\r\n"
                        : "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"};
  ProbeResult r = run_probe(port, ftp, p, j, timeout_ms);
  if (ftp) return r.data == j.hello && r.control.find("226 ") != std::string::npos;
  const auto body = r.control.find("\r\n\r\n");
  return r.control.rfind("HTTP/1.1 200", 0) == 0 && body != std::string::npos && r.control.substr(body + 4) == j.hello;
}

HostileRow hostile_one(const std::string& arch, const std::string& protocol, const TempRoot& j,
                       Clock::time_point part_start) {
  HostileRow row;
  const bool ftp = protocol == "ftp";
  // A 1 s request deadline (default 20 s), so the held partial command ends in time.
  const std::vector<std::string> extra = {"--root", j.root.string(), "--request-timeout", "1"};
  auto server = std::make_unique<Server>(arch, protocol, true, extra);
  const auto t0 = Clock::now();
  for (const Probe& p : ftp ? ftp_catalogue(j) : http_catalogue(j)) {
    // Budgets (a server 40 s, the part 200 s): a pathological server must not eat the others' time.
    if (ms_since(t0) > 40000 || ms_since(part_start) > 200000) {
      ++row.skipped;
      continue;
    }
    ProbeResult r = run_probe(server->port(), ftp, p, j);
    ++row.tried, ++row.outcomes[r.outcome], row.kept_open += r.kept_open, row.escapes += r.escaped;
    const int crashed = server->children_signaled();
    const bool died = server->exited();
    if (g_verbose) {
      std::string first = r.control.substr(0, r.control.find_first_of("\r\n"));
      std::fprintf(stderr, "%s/%s #%d %s: outcome %d%s, %zu+%zu bytes: %.50s\n", arch.c_str(), protocol.c_str(),
                   row.tried, p.label.c_str(), r.outcome, r.kept_open ? " kept-open" : "", r.control.size(),
                   r.data.size(), first.c_str());
    }
    std::string what = std::string(r.escaped ? " ESCAPE" : "") + (r.outcome == hang ? " hang" : "") +
                       (r.kept_open ? " kept open after FIN" : "");
    if (died) what += " server " + server->status();
    if (crashed) what += " " + std::to_string(crashed) + " child(ren) killed by a signal";
    if (!what.empty()) {
      std::string shown = p.bytes.substr(0, 60);
      for (auto& ch : shown) ch = std::isprint(static_cast<unsigned char>(ch)) ? ch : '.';
      g_findings.push_back(arch + "/" + protocol + ":" + what + ", input '" + p.label + "' [" + shown + "]");
    }
    if (died || crashed) {
      row.deaths += died + crashed;
      server = std::make_unique<Server>(arch, protocol, true, extra);  // and go on with the catalogue
    }
  }
  if (const auto drops = server->trace_drops())  // reaps among them would be crashes not counted
    g_findings.push_back(arch + "/" + protocol + ": " + std::to_string(drops) + " trace events dropped");
  // After the last FTP probe a serial server sits 10 s in its data accept.
  const auto tp = Clock::now();
  row.not_serving = !polite(server->port(), ftp, j, 15000);
  row.polite_ms = ms_since(tp);
  row.secs = ms_since(t0) / 1000;
  return row;
}

void print_hostile_row(const std::string& arch, const std::string& protocol, const HostileRow& r) {
  std::printf(
      "| %s | %s | %d%s | %d | %d | %d | %d | %d | %d | %d | %d | %s | %.1f |\n", arch.c_str(), protocol.c_str(),
      r.tried, r.skipped ? (" (+" + std::to_string(r.skipped) + " skipped)").c_str() : "", r.outcomes[error_reply],
      r.outcomes[other_reply], r.outcomes[closed_silent], r.outcomes[client_gone], r.outcomes[hang], r.kept_open,
      r.escapes, r.deaths,
      protocol.empty()
          ? (r.not_serving ? "NOT ALL" : "all")
          : ((r.not_serving ? "NO (" : "yes (") + std::to_string(static_cast<int>(r.polite_ms)) + " ms)").c_str(),
      r.secs);
  std::fflush(stdout);
}

void part_hostile() {
  TempRoot jail;
  std::printf(
      "\n### hostile: %zu FTP and %zu HTTP bad inputs per architecture (no reply nor close in 3 s = hang)\n\n"
      "| arch | protocol | inputs | error replies | other replies | closed, no reply | client hung up | hangs | "
      "kept open after FIN | escapes | deaths | still serving (polite client) | s |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
      ftp_catalogue(jail).size(), http_catalogue(jail).size());
  HostileRow total;
  const auto part_start = Clock::now();
  for (const auto& arch : sockscope::servers::architecture_name_list())
    for (const char* protocol : {"ftp", "http"})
      if (g_only_arch.empty() || arch == g_only_arch) {
        HostileRow r = hostile_one(arch, protocol, jail, part_start);
        print_hostile_row(arch, protocol, r);
        total.add(r);
      }
  print_hostile_row("**total**", "", total);
  std::printf("\nFindings (%zu):\n", g_findings.size());
  for (const auto& f : g_findings) std::printf("- %s\n", f.c_str());
}

// ---- 3. kill ---------------------------------------------------------------------

// Every pid whose environment carries `marker` (tests/proc_marker.h).
std::vector<pid_t> pids_with_marker(const std::string& marker) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") == std::string::npos &&
        read_text(entry.path() / "environ").find(marker) != std::string::npos)
      out.push_back(std::stoi(name));
  }
  return out;
}

struct KillCycle {
  std::string arch, protocol;
  bool early = false;  // killed during start-up, not waiting for the gates
  int parked = -1, procs = 0, leftovers = 0;
  double cleanup_ms = 0;
};

// The lab, in a forked child so it can be SIGKILLed: step mode, a server, five
// clients. The server's main thread is released until three others wait at
// gates (or six releases); then the child reports how many wait.
[[noreturn]] void run_parked_lab(const KillCycle& k, int ready_fd) {
  try {
    sockscope::lab::LabOptions o;
    o.self_exe = SOCKSCOPE_BIN;
    sockscope::lab::Lab lab(o);
    auto& g = lab.gates();
    g.set_mode(sockscope::trace::GateMode::step);
    sockscope::lab::ServerSpec spec;
    spec.arch = k.arch;
    spec.protocol = k.protocol;
    lab.start_server(spec);
    const bool ftp = k.protocol == "ftp";
    auto sc = sockscope::clients::preset(
        "steady", ftp ? sockscope::protocol::Protocol::ftp : sockscope::protocol::Protocol::http);
    sc.count = 5;
    sc.spacing_ms = sc.think_ms = 0;
    sc.script =
        ftp ? std::vector<std::string>{"USER anonymous", "PASS x", "QUIT"} : std::vector<std::string>{"GET /hello.txt"};
    lab.start_clients(sc);
    int releases = 0;
    bool told = false;
    for (const auto t0 = Clock::now(); ms_since(t0) < 15000; std::this_thread::sleep_for(20ms)) {
      const auto w = g.waiters();
      const auto others = std::count_if(w.begin(), w.end(), [&](auto& x) { return x.tid != lab.server_pid(); });
      for (const auto& x : w)
        if (others < 3 && releases < 6 && x.tid == lab.server_pid() && g.release(x)) ++releases;
      if (!told && !w.empty() && (others >= 3 || releases >= 6 || ms_since(t0) > 2000)) {
        const char n = static_cast<char>(std::min<std::size_t>(w.size(), 127));
        told = write(ready_fd, &n, 1) == 1;
      }
    }
  } catch (...) {
  }
  _exit(1);
}

KillCycle kill_cycle(int i, std::mt19937& rng) {
  const auto names = sockscope::servers::architecture_name_list();
  KillCycle k{names[static_cast<std::size_t>(i) % names.size()],
              (i / static_cast<int>(names.size())) % 2 ? "http" : "ftp", i % 4 == 3};
  std::string marker =
      "SOCKSCOPE_BENCH_KILL=" + std::to_string(getpid()) + "-" + std::to_string(i) + "-" + std::to_string(rng());
  int ready[2];
  if (pipe(ready) != 0) throw std::runtime_error("pipe failed");
  const pid_t lab = fork();
  if (lab < 0) throw std::runtime_error("fork failed");
  if (lab == 0) {
    close(ready[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    putenv(marker.data());  // every process the lab execs inherits it
    run_parked_lab(k, ready[1]);
  }
  close(ready[1]);
  pollfd p{ready[0], POLLIN, 0};
  char n = -1;
  if (!k.early && poll(&p, 1, 10000) > 0 && read(ready[0], &n, 1) == 1) k.parked = n;
  close(ready[0]);
  std::this_thread::sleep_for(
      std::chrono::milliseconds(std::uniform_int_distribution<int>(0, k.early ? 300 : 400)(rng)));
  k.procs = static_cast<int>(pids_with_marker(marker).size());
  kill(lab, SIGKILL);
  int st;
  waitpid(lab, &st, 0);
  const auto t0 = Clock::now();
  std::vector<pid_t> left = pids_with_marker(marker);
  for (; !left.empty() && ms_since(t0) < 10000; left = pids_with_marker(marker)) std::this_thread::sleep_for(10ms);
  k.cleanup_ms = ms_since(t0);
  k.leftovers = static_cast<int>(left.size());
  for (pid_t pid : left) kill(pid, SIGKILL);  // never leave them, even when reporting them
  return k;
}

std::string span(const std::vector<KillCycle>& v, int KillCycle::*field) {
  int lo = 1 << 30, hi = -(1 << 30);
  for (const auto& c : v)
    if (!c.early) lo = std::min(lo, c.*field), hi = std::max(hi, c.*field);
  return lo > hi ? "-" : std::to_string(lo) + (lo == hi ? "" : "-" + std::to_string(hi));
}

void part_kill(int cycles, unsigned seed) {
  std::printf(
      "\n### kill: %d labs SIGKILLed, processes parked at gates (seed %u; every 4th killed during start-up)\n\n"
      "| arch | cycles (ftp/http, early) | gate waiters | lab processes at kill | leftovers | worst cleanup ms |\n"
      "|---|---|---|---|---|---|\n",
      cycles, seed);
  std::mt19937 rng(seed);
  std::map<std::string, std::vector<KillCycle>> by_arch;
  std::vector<KillCycle> all;
  const auto t0 = Clock::now();
  for (int i = 0; i < cycles && ms_since(t0) < 40000; ++i) {  // each cycle takes < 1 s when all is well
    all.push_back(kill_cycle(i, rng));
    by_arch[all.back().arch].push_back(all.back());
  }
  auto row = [](const std::string& name, const std::vector<KillCycle>& v) {
    int http = 0, early = 0, left = 0;
    double worst = 0;
    for (const auto& c : v)
      http += c.protocol == "http", early += c.early, left += c.leftovers, worst = std::max(worst, c.cleanup_ms);
    std::printf("| %s | %zu (%zu/%d, %d) | %s | %s | %d | %.0f |\n", name.c_str(), v.size(), v.size() - http, http,
                early, span(v, &KillCycle::parked).c_str(), span(v, &KillCycle::procs).c_str(), left, worst);
  };
  for (const auto& [arch, v] : by_arch) row(arch, v);
  row("**all**", all);
  std::printf("\n%zu architectures; %.1f s. Waiters and processes: parked cycles only (-1: the lab never reported).\n",
              by_arch.size(), ms_since(t0) / 1000);
}

// ---- 4. storm --------------------------------------------------------------------

constexpr int kCap = 64;
int g_storm = 500;  // --storm N

// CPU time (user + system, every thread) a process has used, in ms.
double cpu_ms(pid_t pid) {
  const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  if (stat.find(')') == std::string::npos) return 0;
  std::istringstream in(stat.substr(stat.rfind(')') + 2));  // fields from the 3rd (state) on
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return 1000.0 * static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct StormRow {
  int held = 0, refused = 0, closed = 0, answered = 0, unanswered = 0;
  double sent_ms = 0, polite_at_ms = 0, all_ms = -1, polite_ms = -1, server_cpu_ms = 0;
  std::string polite_what = "none in 5 s";
  bool serving_after = false;
};

StormRow storm(const std::string& arch, const std::string& protocol, const std::vector<std::string>& cap) {
  StormRow row;
  const bool ftp = protocol == "ftp";
  Server s(arch, protocol, false, cap);
  const std::string get = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", refusal = ftp ? "421" : "HTTP/1.1 503";
  // Fill the cap: every connection greeted (FTP) or answered and kept alive (HTTP).
  std::vector<int> held;
  for (int i = 0, fd; i < kCap && (fd = dial(s.port())) >= 0; ++i) {
    held.push_back(fd);
    if (!ftp) send_all(fd, get);
    std::string got;
    row.held +=
        read_until(fd, got, ftp ? "220 " : "Hello", 3000) && got.find(ftp ? "220 " : "200 OK") != std::string::npos;
  }
  std::this_thread::sleep_for(100ms);
  const double cpu0 = cpu_ms(s.pid());
  const auto t0 = Clock::now();
  std::vector<int> fds;
  for (int i = 0, fd; i < g_storm; ++i)
    if ((fd = dial(s.port(), true)) >= 0) fds.push_back(fd);
  row.sent_ms = ms_since(t0);
  std::vector<double> done(fds.size(), -1);  // when each got its refusal or close
  int polite_fd = -1, left = static_cast<int>(fds.size());
  Clock::time_point polite_t0;
  char buf[4096];
  while ((left > 0 || row.polite_ms < 0) && ms_since(t0) < 5000) {
    if (polite_fd < 0 && ms_since(t0) >= 50) {
      polite_t0 = Clock::now();
      row.polite_at_ms = ms_since(t0);
      if ((polite_fd = dial(s.port())) >= 0 && !ftp) send_all(polite_fd, get);
    }
    std::vector<pollfd> pf;
    std::vector<int> idx;  // into fds; -1 = the polite client
    for (std::size_t i = 0; i < fds.size(); ++i)
      if (done[i] < 0) pf.push_back({fds[i], POLLIN, 0}), idx.push_back(static_cast<int>(i));
    if (polite_fd >= 0 && row.polite_ms < 0) pf.push_back({polite_fd, POLLIN, 0}), idx.push_back(-1);
    if (poll(pf.data(), pf.size(), 5) < 0) break;
    for (std::size_t k = 0; k < pf.size(); ++k) {
      const ssize_t n = pf[k].revents ? recv(pf[k].fd, buf, sizeof buf, MSG_DONTWAIT) : -1;
      if (n < 0 && (!pf[k].revents || errno == EAGAIN)) continue;
      const std::string got = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
      const char* what = got.rfind(refusal, 0) == 0 ? "refused" : got.empty() ? "closed" : "answered";
      if (idx[k] < 0) {
        row.polite_ms = ms_since(polite_t0);
        row.polite_what = what;
        continue;
      }
      done[static_cast<std::size_t>(idx[k])] = ms_since(t0);
      --left;
      ++(what[0] == 'r' ? row.refused : what[0] == 'c' ? row.closed : row.answered);
    }
  }
  row.server_cpu_ms = cpu_ms(s.pid()) - cpu0;
  row.unanswered = left;
  if (left == 0 && !done.empty()) row.all_ms = *std::max_element(done.begin(), done.end());
  for (int fd : fds) close(fd);
  for (int fd : held) close(fd);
  if (polite_fd >= 0) close(polite_fd);
  // With the held clients gone the cap frees: a client is served again.
  for (const auto t1 = Clock::now(); !row.serving_after && ms_since(t1) < 3000; std::this_thread::sleep_for(50ms)) {
    const int fd = dial(s.port());
    std::string got;
    if (fd >= 0 && !ftp) send_all(fd, get);
    row.serving_after = fd >= 0 && read_until(fd, got, ftp ? "220 " : "200 OK", 1000);
    if (fd >= 0) close(fd);
  }
  return row;
}

void part_storm() {
  std::printf(
      "\n### storm: %d connections hold the cap of %d, then %d arrive at once and send nothing\n\n"
      "| arch | protocol | cap | held | storm | storm sent in ms | all refused within ms | polite client at ms | "
      "polite client ms (what) | refused | closed, no reply | answered | unanswered | server CPU ms | serving after |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
      kCap, kCap, g_storm);
  // The capped architectures, read from the table by the settings they use.
  using sockscope::servers::SettingId;
  auto flag = [](SettingId id) { return std::string(sockscope::servers::setting(id).flag); };
  const std::string n = std::to_string(kCap);
  const auto t0 = Clock::now();
  for (const auto& a : sockscope::servers::architectures()) {
    const std::string arch(a.name);
    std::vector<std::string> cap;
    if (a.uses(SettingId::max_children)) cap = {flag(SettingId::max_children), n};
    else if (a.uses(SettingId::max_threads)) cap = {flag(SettingId::max_threads), n};
    else if (a.uses(SettingId::queue)) cap = {flag(SettingId::workers), n, flag(SettingId::queue), "0"};
    if (cap.empty() || (!g_only_arch.empty() && arch != g_only_arch)) continue;  // no cap: nothing to refuse
    for (const char* protocol : {"ftp", "http"}) {
      if (ms_since(t0) > 60000) {  // each run takes about a second when all is well
        std::printf("| %s | %s | skipped (time budget) |\n", arch.c_str(), protocol);
        continue;
      }
      const StormRow r = storm(arch, protocol, cap);
      std::string flags;
      for (const auto& f : cap) flags += (flags.empty() ? "" : " ") + f;
      std::printf("| %s | %s | %s | %d | %d | %.0f | %s | %.0f | %s (%s) | %d | %d | %d | %d | %.0f | %s |\n",
                  arch.c_str(), protocol, flags.c_str(), r.held, g_storm, r.sent_ms,
                  r.all_ms < 0 ? "not all" : std::to_string(std::lround(r.all_ms)).c_str(), r.polite_at_ms,
                  r.polite_ms < 0 ? "-" : std::to_string(std::lround(r.polite_ms)).c_str(), r.polite_what.c_str(),
                  r.refused, r.closed, r.answered, r.unanswered, r.server_cpu_ms, r.serving_after ? "yes" : "NO");
      std::fflush(stdout);
    }
  }
  std::printf(
      "\nserver CPU ms: the server process's user+system time during the storm (the accepting process;\n"
      "10 ms ticks). The machine is shared: wall times include waiting for a core.\n");
}

}  // namespace

// ---- 5. main ------------------------------------------------------------------------

int main(int argc, char** argv) {
  // 600+ sockets on each side of the storm; the servers inherit this limit.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  signal(SIGPIPE, SIG_IGN);

  std::vector<std::string> parts;
  int cycles = 20;
  unsigned seed = 17;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool value = i + 1 < argc;
    if (a == "--cycles" && value)
      cycles = std::max(1, std::atoi(argv[++i]));
    else if (a == "--seed" && value)
      seed = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    else if (a == "--storm" && value)
      g_storm = std::max(1, std::atoi(argv[++i]));
    else if (a == "--arch" && value)
      g_only_arch = argv[++i];
    else if (a == "hostile" || a == "kill" || a == "storm")
      parts.push_back(a);
    else {
      std::fprintf(stderr,
                   "usage: bench_reliability [hostile|kill|storm]... [--cycles N] [--seed S] [--storm N] [--arch A]\n");
      return 2;
    }
  }
  if (parts.empty()) parts = {"hostile", "kill", "storm"};
  const auto t0 = Clock::now();
  try {
    for (const auto& p : parts) {
      const auto tp = Clock::now();
      p == "hostile" ? part_hostile() : p == "kill" ? part_kill(cycles, seed) : part_storm();
      std::printf("\n(%s: %.1f s)\n", p.c_str(), ms_since(tp) / 1000);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_reliability: %s\n", e.what());
    return 1;
  }
  std::printf("\n(total %.1f s)\n", ms_since(t0) / 1000);
  return 0;
}
