// Test harness for the live-server tests: start `sockscope serve` as a real
// process, learn its port from the banner, stop it at the end (always, even
// when a test fails: RAII), and talk to it with real clients or raw sockets.
// The temp dir, polling and /proc readers are tests/support/'s; wait_until,
// ProcInfo, proc_info and children_of keep their old names for the suites.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/proc.h"
#include "support/temp_dir.h"
#include "support/wait.h"

namespace sockscope::test {

namespace fs = std::filesystem;

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

inline fs::path assets_root() { return fs::path(SOCKSCOPE_ASSETS) / "ftp-root"; }

// Polls `cond` until it holds or `timeout` passes (the suites' old name,
// with its 5 s default).
inline bool wait_until(const std::function<bool()>& cond,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  return eventually(cond, timeout);
}

// ---- the server process -----------------------------------------------------

class ServerProcess {
 public:
  // Starts `SOCKSCOPE_BIN serve <args>`; waits up to 5 s for the banner.
  // Extra environment entries ("NAME=value") are added to the child's.
  explicit ServerProcess(std::vector<std::string> args, std::vector<std::string> env = {}) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) < 0) throw std::runtime_error("pipe2 failed");
    std::vector<std::string> argv_s = {SOCKSCOPE_BIN, "serve"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // If the test process dies, so does the server (and its children follow
      // through their own PDEATHSIG).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      dup2(out[1], STDOUT_FILENO);
      for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> argv;
      for (auto& a : argv_s) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    out_fd_ = out[0];
    std::regex re("listening on .*:(\\d+) \\(pid (\\d+)\\)");
    std::smatch m;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (banner_.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[512];
      ssize_t n = read(out_fd_, buf, sizeof buf);
      if (n <= 0) break;
      banner_.append(buf, static_cast<std::size_t>(n));
    }
    if (!std::regex_search(banner_, m, re)) {
      stop();
      throw std::runtime_error("no banner from sockscope serve; got: '" + banner_ + "'");
    }
    port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
  }
  ~ServerProcess() { stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }
  const std::string& banner() const { return banner_; }

  // SIGTERM, wait up to 5 s, then SIGKILL. Returns the wait status, or -1 when
  // already stopped.
  int stop() {
    if (pid_ <= 0) return status_;
    kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int status = 0;
    pid_t r = 0;
    while ((r = waitpid(pid_, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (r == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      status = -2;  // had to be killed: a test failure
    }
    pid_ = -1;
    if (out_fd_ >= 0) close(out_fd_);
    out_fd_ = -1;
    status_ = status;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int status_ = -1;
  std::uint16_t port_ = 0;
  std::string banner_;
};

// ---- shell commands with a time limit ----------------------------------------

struct CommandResult {
  int exit_code = -1;  // of the shell; 124 = timeout(1) fired
  std::string output;  // stdout (stderr too when the command redirects it)
};

// Runs `cmd` with /bin/sh. Callers wrap each client in `timeout N` so a hang
// fails the test instead of blocking it.
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return r;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) r.output.append(buf, n);
  int status = pclose(f);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

// ---- a raw TCP client ----------------------------------------------------------

class RawClient {
 public:
  explicit RawClient(std::uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
      close(fd_);
      fd_ = -1;
      throw std::runtime_error("connect failed");
    }
  }
  ~RawClient() { close_now(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void close_now() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  bool send_all(const std::string& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Reads one complete FTP reply (the last line is "ddd text"), or nullopt on
  // timeout or close.
  std::optional<std::string> reply(int timeout_ms = 5000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      // Is there a complete final line in the buffer?
      std::size_t start = 0;
      while (true) {
        std::size_t nl = buf_.find('\n', start);
        if (nl == std::string::npos) break;
        std::string line = buf_.substr(start, nl - start);
        if (line.size() >= 4 && isdigit(line[0]) && isdigit(line[1]) && isdigit(line[2]) && line[3] == ' ') {
          std::string out = buf_.substr(0, nl + 1);
          buf_.erase(0, nl + 1);
          return out;
        }
        start = nl + 1;
      }
      if (!read_some(deadline)) return std::nullopt;
    }
  }

  // The reply's status code, or 0.
  int command(const std::string& line, std::string* text = nullptr, int timeout_ms = 5000) {
    if (!send_all(line + "\r\n")) return 0;
    auto r = reply(timeout_ms);
    if (!r) return 0;
    if (text) *text = *r;
    return std::stoi(r->substr(0, 3));
  }

  // Logs in anonymously (reads the greeting first). True on 230.
  bool login() {
    auto g = reply();
    if (!g || g->rfind("220", 0) != 0) return false;
    if (command("USER anonymous") != 331) return false;
    return command("PASS x@example.org") == 230;
  }

  // True when the server closes the connection within the time limit
  // (pending bytes are read and dropped).
  bool sees_close(int timeout_ms = 5000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (read_some(deadline)) {
    }
    return eof_;
  }

  // Whatever arrives within the time limit (no framing).
  std::string read_for(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (read_some(deadline)) {
    }
    std::string out;
    out.swap(buf_);
    return out;
  }

  int fd() const { return fd_; }
  // True once a read found the server's end of the stream (FIN or reset).
  bool closed_by_server() const { return eof_; }

 private:
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    if (eof_ || fd_ < 0) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char b[65536];
    ssize_t n = recv(fd_, b, sizeof b, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(b, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool eof_ = false;
  std::string buf_;
};

// ---- /proc (support/proc.h, under the suites' old names) ----------------------

using ProcInfo = ProcStat;
inline std::optional<ProcInfo> proc_info(pid_t pid) { return proc_stat(pid); }
inline std::vector<ProcInfo> children_of(pid_t parent) { return proc_children(parent); }

}  // namespace sockscope::test
