// See bench_support.h.
#include "bench_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <unordered_map>

#include "observe/proc_cost.h"
#include "observe/proc_sampler.h"
#include "observe/sockets.h"

namespace sockscope::bench {

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

bool ftp_round_trip(std::uint16_t port) {
  int fd = connect_to(port);
  if (fd < 0) return false;
  bool ok = read_reply(fd, "220");
  if (ok) ok = write(fd, "QUIT\r\n", 6) == 6 && read_reply(fd, "221");
  close(fd);
  return ok;
}

std::vector<int> open_connections(std::uint16_t port, int n) {
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    int fd = connect_to(port);
    if (fd < 0) break;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fds.push_back(fd);
  }
  return fds;
}

int count_first_replies(const std::vector<int>& fds, const char* code, double timeout_s) {
  std::vector<pollfd> pf;
  for (int fd : fds) pf.push_back({fd, POLLIN, 0});
  const std::size_t len = std::strlen(code);
  std::size_t answered = 0;
  int matched = 0;
  const auto t0 = Clock::now();
  while (answered < pf.size() && seconds_since(t0) < timeout_s) {
    if (poll(pf.data(), pf.size(), 100) <= 0) continue;
    for (pollfd& p : pf) {
      if (p.events == 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[256];
      ssize_t got = read(p.fd, buf, sizeof buf);
      p.events = 0;  // answered (or hung up): poll() ignores it from now on
      ++answered;
      if (got >= static_cast<ssize_t>(len) && std::memcmp(buf, code, len) == 0) ++matched;
    }
  }
  return matched;
}

namespace {

// wrk's "1.23ms", "456.00us", "1.02s" in milliseconds.
double to_ms(const std::string& v) {
  double x = std::atof(v.c_str());
  if (v.find("us") != std::string::npos) return x / 1000.0;
  if (v.find("ms") != std::string::npos) return x;
  if (v.find('s') != std::string::npos) return x * 1000.0;
  return x;
}

}  // namespace

WrkResult run_wrk(std::uint16_t port, const WrkOptions& o) {
  std::string cmd = "wrk -t" + std::to_string(o.threads) + " -c" + std::to_string(o.connections) + " -d" +
                    std::to_string(o.seconds) + "s --latency";
  if (o.close) cmd += " -H 'Connection: close'";
  cmd += " http://127.0.0.1:" + std::to_string(port) + "/hello.txt 2>&1";
  WrkResult r;
  rusage before{};
  getrusage(RUSAGE_CHILDREN, &before);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char line[512];
  while (std::fgets(line, sizeof line, p)) {
    std::string s(line);
    std::istringstream in(s);
    std::string first;
    in >> first;
    std::string second;
    if (in >> second && second == "requests") r.requests = std::strtoull(first.c_str(), nullptr, 10);
    in.clear();
    in.str(s);
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
  // wrk (and the shell that ran it) are the only children reaped meanwhile.
  rusage after{};
  getrusage(RUSAGE_CHILDREN, &after);
  r.cpu_s = cpu_seconds(after) - cpu_seconds(before);
  return r;
}

std::pair<WrkResult, WrkResult> wrk_pair(const Server& off, const Server& on, bool off_first, const WrkOptions& o) {
  std::pair<WrkResult, WrkResult> r;
  if (off_first) {
    r.first = run_wrk(off.port(), o);
    r.second = run_wrk(on.port(), o);
  } else {
    r.second = run_wrk(on.port(), o);
    r.first = run_wrk(off.port(), o);
  }
  return r;
}

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

double tree_cpu_seconds(pid_t root) {
  // One pass over /proc/*/stat (no sample: no smaps, no TCP table): each
  // process's parent, and its CPU with that of the children it reaped.
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::unordered_multimap<pid_t, pid_t> children;
  std::unordered_map<pid_t, double> cpu;
  std::string stat;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    sockscope::observe::ProcInfo p;
    std::uint64_t utime = 0, stime = 0, cutime = 0, cstime = 0;
    if (!sockscope::observe::detail::read_file((entry.path() / "stat").c_str(), stat) ||
        !sockscope::observe::parse_stat(stat, p) ||
        !sockscope::observe::parse_stat_times(stat, utime, stime, cutime, cstime))
      continue;
    children.emplace(p.ppid, p.pid);
    cpu[p.pid] = static_cast<double>(utime + stime + cutime + cstime) / tick;
  }
  double total = 0;
  std::vector<pid_t> queue{root};
  for (std::size_t i = 0; i < queue.size(); ++i) {
    if (auto it = cpu.find(queue[i]); it != cpu.end()) total += it->second;
    auto range = children.equal_range(queue[i]);
    for (auto it = range.first; it != range.second; ++it) queue.push_back(it->second);
  }
  return total;
}

double cpu_seconds(const rusage& r) {
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

lab::LabOptions bench_lab_options() {
  lab::LabOptions options;
  options.self_exe = SOCKSCOPE_BIN;
  if (const char* ms = std::getenv("BENCH_SAMPLE_MS"); ms != nullptr && std::atoi(ms) > 0)
    options.sample_period = std::chrono::milliseconds(std::atoi(ms));
  if (const char* slots = std::getenv("BENCH_RING_SLOTS"); slots != nullptr && std::atoll(slots) > 0)
    options.ring_capacity = static_cast<std::size_t>(std::atoll(slots));
  if (const char* ms = std::getenv("BENCH_POLL_MS"); ms != nullptr && std::atoi(ms) > 0)
    options.poll_period = std::chrono::milliseconds(std::atoi(ms));
  return options;
}

}  // namespace sockscope::bench
