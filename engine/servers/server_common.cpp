// The plumbing every architecture shares: the listening socket, the self-pipe
// for signals, and the polite refusal used by capped architectures.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>

#include "servers/server.h"
#include "trace/ring.h"

namespace sockscope::servers {
namespace {

// The write end of the current SignalPipe, for the handler. One per process.
volatile sig_atomic_t g_pipe_write_fd = -1;
// Written by the signal handler, read by handler threads (thread, pool): a
// lock-free std::atomic is both async-signal-safe and free of data races,
// which volatile sig_atomic_t is only for a single thread.
std::atomic<int> g_stop_requested{0};
static_assert(std::atomic<int>::is_always_lock_free);

void on_signal(int sig) {
  int saved = errno;  // the interrupted code may be about to read errno
  if (sig == SIGTERM || sig == SIGINT) g_stop_requested.store(1, std::memory_order_relaxed);
  unsigned char byte = static_cast<unsigned char>(sig);
  if (g_pipe_write_fd >= 0) {
    // Non-blocking: if the pipe is full the main loop is already awake.
    [[maybe_unused]] ssize_t n = write(g_pipe_write_fd, &byte, 1);
  }
  errno = saved;
}

void set_handler(int sig, void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  // SA_RESTART keeps plain blocking calls going; poll() still returns EINTR,
  // and the pipe wakes it anyway. No SA_NOCLDWAIT: we want zombies to exist
  // until we reap them, because reaping is part of the lesson.
  sa.sa_flags = SA_RESTART;
  sigaction(sig, &sa, nullptr);
}

}  // namespace

SignalPipe::SignalPipe(bool watch_children) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  }
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  g_pipe_write_fd = write_fd_;
  g_stop_requested.store(0, std::memory_order_relaxed);
  signal(SIGPIPE, SIG_IGN);
  set_handler(SIGTERM, on_signal);
  set_handler(SIGINT, on_signal);
  if (watch_children) set_handler(SIGCHLD, on_signal);
  set_handler(SIGUSR1, on_signal);
  // `serve` blocked these until now so that an early SIGTERM waits for our
  // handler; one that is pending arrives here and lands in the pipe.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGUSR1);
  sigprocmask(SIG_UNBLOCK, &stop_signals, nullptr);
}

SignalPipe::~SignalPipe() {
  g_pipe_write_fd = -1;
  if (read_fd_ >= 0) close(read_fd_);
  if (write_fd_ >= 0) close(write_fd_);
}

SignalPipe::Pending SignalPipe::drain() {
  Pending p;
  unsigned char buf[64];
  for (;;) {
    ssize_t n = read(read_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == SIGTERM || buf[i] == SIGINT) p.stop = true;
      if (buf[i] == SIGCHLD) p.child = true;
      if (buf[i] == SIGUSR1) p.reap_now = true;
    }
  }
  if (g_stop_requested.load(std::memory_order_relaxed)) p.stop = true;
  return p;
}

void SignalPipe::watch_children() { set_handler(SIGCHLD, on_signal); }

void SignalPipe::release_in_child() {
  g_pipe_write_fd = -1;
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  signal(SIGUSR1, SIG_DFL);
  if (read_fd_ >= 0) close(read_fd_);
  if (write_fd_ >= 0) close(write_fd_);
  read_fd_ = write_fd_ = -1;
}

bool SignalPipe::stop_requested() { return g_stop_requested.load(std::memory_order_relaxed) != 0; }

Listener open_listener(const std::string& address, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(address.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    throw std::runtime_error("bad bind address '" + address + "': " + gai_strerror(rc) +
                             " (give a numeric IPv4 or IPv6 address)");
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  }
  // SO_REUSEADDR: a restarted server may bind while old connections sit in
  // TIME_WAIT, as every real server does.
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
    int err = errno;
    freeaddrinfo(res);
    close(fd);
    throw std::runtime_error("cannot listen on " + address + ":" + service + ": " + std::strerror(err));
  }
  freeaddrinfo(res);

  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  Listener l;
  l.fd = fd;
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    auto& s6 = reinterpret_cast<sockaddr_in6&>(ss);
    inet_ntop(AF_INET6, &s6.sin6_addr, buf, sizeof buf);
    l.port = ntohs(s6.sin6_port);
  } else {
    auto& s4 = reinterpret_cast<sockaddr_in&>(ss);
    inet_ntop(AF_INET, &s4.sin_addr, buf, sizeof buf);
    l.port = ntohs(s4.sin_port);
  }
  l.address = buf;
  return l;
}

namespace {

// Reads and drops what the client sent. True when the socket is finished
// with: the client closed its side, or the connection failed.
bool drain(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0) return true;
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  }
}

constexpr std::chrono::milliseconds kRefusalLinger{200};
constexpr std::size_t kMostHeld = 512;  // past this the oldest closes early: fds are finite

}  // namespace

Refusals::~Refusals() {
  for (const Held& h : held_) close(h.fd);
}

std::string refusal_reply(protocol::Protocol protocol) {
  if (protocol == protocol::Protocol::ftp) return "421 Too many connections, try later.\r\n";
  const std::string body = "Too many connections, try later.\n";
  return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\nRetry-After: 1\r\n\r\n" + body;
}

void Refusals::refuse(int fd) {
  const std::string reply = refusal_reply(protocol_);
  [[maybe_unused]] ssize_t n = send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  // Half-close: the reply and our FIN are on their way now.
  shutdown(fd, SHUT_WR);
  if (drain(fd)) {
    close(fd);
    return;
  }
  if (held_.size() >= kMostHeld) {
    drain(held_.front().fd);
    close(held_.front().fd);
    held_.pop_front();
  }
  held_.push_back({fd, std::chrono::steady_clock::now() + kRefusalLinger});
}

void Refusals::tick() {
  if (held_.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  while (!held_.empty() && now >= held_.front().until) {
    drain(held_.front().fd);  // what the client sent since: read, so the close is a FIN
    close(held_.front().fd);
    held_.pop_front();
  }
}

int Refusals::timeout_ms() const {
  if (held_.empty()) return -1;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(held_.front().until -
                                                                          std::chrono::steady_clock::now());
  return static_cast<int>(std::max<std::int64_t>(1, left.count() + 1));
}

void Refusals::close_copies_in_child() {
  for (const Held& h : held_) close(h.fd);
  held_.clear();
}

SpareDescriptor::SpareDescriptor() : fd_(open("/dev/null", O_RDONLY | O_CLOEXEC)) {}

SpareDescriptor::~SpareDescriptor() {
  if (fd_ >= 0) close(fd_);
}

void SpareDescriptor::close_in_child() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

bool SpareDescriptor::refuse_if_out_of_descriptors(int error, int listener_fd, protocol::Protocol protocol,
                                                   std::uint32_t conn) {
  if (error != EMFILE && error != ENFILE) return false;
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  // Only if the client is still there: a blocking listener would otherwise
  // wait here for the next one (and a prefork sibling may have taken it).
  pollfd p{listener_fd, POLLIN, 0};
  int fd = poll(&p, 1, 0) == 1 ? accept4(listener_fd, nullptr, nullptr, SOCK_CLOEXEC) : -1;
  if (fd >= 0) {
    trace::emit(trace::Kind::accept, conn, peer_port(fd), fd);
    trace::emit(trace::Kind::refuse, conn, static_cast<std::int64_t>(limit.rlim_cur),
                static_cast<std::int64_t>(limit.rlim_cur),
                error == EMFILE ? "no descriptor left (ulimit -n)" : "no descriptor left (system file table)");
    const std::string reply = refusal_reply(protocol);
    [[maybe_unused]] ssize_t n = send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    // No time to read what it sent: the descriptor is needed back now.
    shutdown(fd, SHUT_WR);
    drain(fd);
    close(fd);
  }
  fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd >= 0;
}

bool must_linger(int fd, const protocol::Session* session, bool timed_out, bool read_drained) {
  if (timed_out || session == nullptr || session->unanswered_input()) return true;
  if (read_drained) return false;
  int unread = 0;
  return ioctl(fd, FIONREAD, &unread) != 0 || unread > 0;
}

std::uint16_t peer_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6&>(ss).sin6_port);
  return 0;
}

}  // namespace sockscope::servers
