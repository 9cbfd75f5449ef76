// Minimal REAL servers for the simulator tests: a listening socket on
// 127.0.0.1 port 0, one blocking thread per connection, just enough FTP (a
// multi-line greeting, login, PWD, TYPE, SITE WORK with a multi-line reply,
// EPSV and PASV with a real passive data listener, LIST, RETR, QUIT) and HTTP
// (GET with Content-Length on a keep-alive connection) to drive every path of
// the simulator. They are written here, with blocking sockets and no Asio, so
// the simulator is checked against code that shares nothing with it; and they
// record what they saw (peer ports, commands, concurrency, recv calls) so the
// tests can compare the two sides.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sockscope::test {

inline const std::string kHello = "hello, world\r\n";
inline const std::string kListing = "-rw-r--r-- 1 ftp ftp 14 Nov 22 13:38 hello.txt\r\n";
inline const std::string kIndex = "<html><body>index</body></html>\n";

// A socket bound to 127.0.0.1 port 0; listening when `backlog` > 0.
inline int bound_socket(int backlog, std::uint16_t& port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind failed");
  if (backlog > 0 && listen(fd, backlog) != 0) throw std::runtime_error("listen failed");
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

class TestServer {
 public:
  enum class Mode {
    ftp,           // the happy path
    ftp_refuse,    // "421 Too many connections" and close, like a capped fork server
    ftp_silent,    // greets, then never answers (timeouts)
    http,          // keep-alive GET
    http_refuse,   // 503 + Connection: close at once, like a capped server
  };

  explicit TestServer(Mode mode) : mode_(mode) {
    listen_fd_ = bound_socket(128, port_);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~TestServer() {
    stop_ = true;
    shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
    accept_thread_.join();
    close(listen_fd_);
    {
      std::lock_guard lock(mutex_);
      for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);  // wakes recv() in each connection
    }
    for (auto& t : conn_threads_) t.join();
  }

  std::uint16_t port() const { return port_; }

  std::set<std::uint16_t> peer_ports() const {
    std::lock_guard lock(mutex_);
    std::set<std::uint16_t> s;
    for (const auto& [p, _] : commands_) s.insert(p);
    return s;
  }
  // Commands (FTP) or request lines without " HTTP/1.1" (HTTP), per peer port.
  std::map<std::uint16_t, std::vector<std::string>> commands() const {
    std::lock_guard lock(mutex_);
    return commands_;
  }
  std::map<std::uint16_t, int> recv_calls() const {
    std::lock_guard lock(mutex_);
    return recv_calls_;
  }
  int max_concurrent() const { return max_concurrent_.load(); }
  int accepted() const { return accepted_.load(); }
  int open_now() const { return open_now_.load(); }

 private:
  void accept_loop() {
    while (!stop_) {
      sockaddr_in peer{};
      socklen_t len = sizeof peer;
      int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stop_) return;
        continue;
      }
      // A bound on every blocking read: a test never hangs on a lost client.
      timeval tv{15, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::uint16_t peer_port = ntohs(peer.sin_port);
      int now = ++open_now_;
      int seen = max_concurrent_.load();
      while (now > seen && !max_concurrent_.compare_exchange_weak(seen, now)) {
      }
      ++accepted_;
      std::lock_guard lock(mutex_);
      commands_[peer_port];  // known from the accept on, even if it says nothing
      open_fds_.insert(fd);
      conn_threads_.emplace_back([this, fd, peer_port] {
        serve(fd, peer_port);
        {
          std::lock_guard l(mutex_);
          open_fds_.erase(fd);
        }
        close(fd);
        --open_now_;
      });
    }
  }

  void serve(int fd, std::uint16_t peer) {
    switch (mode_) {
      case Mode::ftp: return serve_ftp(fd, peer);
      case Mode::ftp_refuse: return refuse(fd, "421 Too many connections, try later.\r\n");
      case Mode::ftp_silent: {
        send_all(fd, "220 OHAI\r\n");
        std::string buf, line;
        while (read_line(fd, peer, buf, line)) record(peer, line);  // and never answer
        return;
      }
      case Mode::http: return serve_http(fd, peer);
      case Mode::http_refuse: {
        const std::string body = "Too many connections, try later.\n";
        return refuse(fd, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: " + std::to_string(body.size()) +
                              "\r\nConnection: close\r\n\r\n" + body);
      }
    }
  }

  // Like the real servers: say why, half-close, drain what the client sent
  // (closing with unread bytes would RST and destroy the reply).
  void refuse(int fd, const std::string& reply) {
    send_all(fd, reply);
    shutdown(fd, SHUT_WR);
    char buf[1024];
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, 500) > 0 && recv(fd, buf, sizeof buf, 0) > 0) {
    }
  }

  void serve_ftp(int fd, std::uint16_t peer) {
    send_all(fd, "220-Welcome to the clients test server.\r\n220-(a multi-line greeting)\r\n220 OHAI\r\n");
    int data_listener = -1;
    std::string buf, line;
    while (read_line(fd, peer, buf, line)) {
      record(peer, line);
      std::string verb = line.substr(0, line.find(' '));
      std::string arg = line.find(' ') == std::string::npos ? "" : line.substr(line.find(' ') + 1);
      if (verb == "USER") {
        send_all(fd, "331 Please specify the password.\r\n");
      } else if (verb == "PASS") {
        send_all(fd, "230 Login successful.\r\n");
      } else if (verb == "PWD") {
        send_all(fd, "257 \"/\" is the current directory\r\n");
      } else if (verb == "TYPE") {
        send_all(fd, "200 Switching to Binary mode.\r\n");
      } else if (verb == "SITE" && arg.rfind("WORK ", 0) == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(arg.substr(5))));
        send_all(fd, "200-Worked " + arg.substr(5) + " ms.\r\n200-A line that is not the end.\r\n200 Done.\r\n");
      } else if (verb == "EPSV" || verb == "PASV") {
        if (data_listener >= 0) close(data_listener);
        std::uint16_t p = 0;
        data_listener = bound_socket(1, p);
        if (verb == "EPSV") {
          send_all(fd, "229 Entering Extended Passive Mode (|||" + std::to_string(p) + "|)\r\n");
        } else {
          send_all(fd, "227 Entering Passive Mode (127,0,0,1," + std::to_string(p / 256) + "," +
                           std::to_string(p % 256) + ").\r\n");
        }
      } else if (verb == "LIST" || verb == "RETR") {
        if (verb == "RETR" && arg != "hello.txt") {
          send_all(fd, "550 Failed to open file.\r\n");
          continue;
        }
        if (data_listener < 0) {
          send_all(fd, "425 Use PASV or EPSV first.\r\n");
          continue;
        }
        send_all(fd, "150 Here comes the data.\r\n");
        pollfd p{data_listener, POLLIN, 0};
        int data = poll(&p, 1, 5000) > 0 ? accept4(data_listener, nullptr, nullptr, SOCK_CLOEXEC) : -1;
        close(data_listener);
        data_listener = -1;
        if (data < 0) {
          send_all(fd, "425 No data connection.\r\n");
          continue;
        }
        send_all(data, verb == "LIST" ? kListing : kHello);
        close(data);  // the end of the data is the close
        send_all(fd, "226 Transfer complete.\r\n");
      } else if (verb == "QUIT") {
        send_all(fd, "221 Goodbye.\r\n");
        break;
      } else {
        send_all(fd, "502 Command not implemented.\r\n");
      }
    }
    if (data_listener >= 0) close(data_listener);
  }

  void serve_http(int fd, std::uint16_t peer) {
    std::string buf;
    char chunk[4096];
    for (;;) {
      auto end = buf.find("\r\n\r\n");
      if (end == std::string::npos) {
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        count_recv(peer);
        if (n <= 0) return;
        buf.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      std::string request_line = buf.substr(0, buf.find("\r\n"));
      buf.erase(0, end + 4);
      std::string target = request_line.substr(0, request_line.rfind(' '));  // "GET /path"
      record(peer, target);
      std::string path = target.substr(target.find(' ') + 1);
      int status = 200;
      std::string body;
      if (path == "/") {
        body = kIndex;
      } else if (path == "/hello.txt") {
        body = kHello;
      } else if (path.rfind("/work?ms=", 0) == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(path.substr(9))));
        body = "worked\n";
      } else {
        status = 404;
        body = "not found\n";
      }
      send_all(fd, "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Not Found") +
                       "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\nConnection: keep-alive\r\n\r\n" + body);
    }
  }

  // `buf` holds what was received past the last line (one per connection).
  bool read_line(int fd, std::uint16_t peer, std::string& buf, std::string& line) {
    for (;;) {
      auto nl = buf.find('\n');
      if (nl != std::string::npos) {
        line = buf.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        buf.erase(0, nl + 1);
        return true;
      }
      char chunk[4096];
      ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      count_recv(peer);
      if (n <= 0) return false;
      buf.append(chunk, static_cast<std::size_t>(n));
    }
  }

  static void send_all(int fd, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }

  void record(std::uint16_t peer, const std::string& line) {
    std::lock_guard lock(mutex_);
    commands_[peer].push_back(line);
  }
  void count_recv(std::uint16_t peer) {
    std::lock_guard lock(mutex_);
    ++recv_calls_[peer];
  }

  Mode mode_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  mutable std::mutex mutex_;
  std::vector<std::thread> conn_threads_;
  std::set<int> open_fds_;
  std::map<std::uint16_t, std::vector<std::string>> commands_;
  std::map<std::uint16_t, int> recv_calls_;
  std::atomic<int> open_now_{0};
  std::atomic<int> max_concurrent_{0};
  std::atomic<int> accepted_{0};
};

}  // namespace sockscope::test
