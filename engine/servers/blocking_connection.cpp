#include "servers/blocking_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>

#include "servers/server.h"
#include "servers/visitor_counter.h"
#include "trace/gate.h"
#include "trace/ring.h"

namespace sockscope::servers {
namespace {

using trace::GateKind;
using trace::Kind;

// How long a peer may refuse to take our bytes before we give up on it.
constexpr int kWriteStallMs = 30000;
// After our last reply we half-close and drain what the client still sends, up
// to this long: closing a socket with unread bytes makes the kernel answer with
// RST, which can destroy our last reply (a 500 or 221) before the client reads it.
constexpr int kLingerMs = 1000;
constexpr std::size_t kLingerMaxBytes = 1 << 20;

std::int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string numeric_ip(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, buf, sizeof buf);
  } else if (ss.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, buf, sizeof buf);
  }
  return buf;
}

std::uint16_t port_of(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
  return 0;
}

bool same_ip(const sockaddr_storage& x, const sockaddr_storage& y) {
  return x.ss_family == y.ss_family && numeric_ip(x) == numeric_ip(y);
}

// Writes all of `bytes`, waiting with poll while the peer's window is full.
// MSG_NOSIGNAL: a peer that reset the connection is an EPIPE here, not a
// SIGPIPE that kills the whole process.
bool write_all(int fd, std::string_view bytes, std::uint64_t& written) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      written += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      int r = poll(&p, 1, kWriteStallMs);
      if (r > 0) continue;
      if (r < 0 && errno == EINTR) {
        if (SignalPipe::stop_requested()) return false;
        continue;
      }
      return false;  // stalled too long
    }
    return false;  // EPIPE, ECONNRESET, ...
  }
  return true;
}

// A connection being served: the session, its sockets and its counters.
class BlockingConnection {
 public:
  explicit BlockingConnection(const ConnectionContext& ctx) : ctx_(ctx) {}

  ConnectionTotals run() {
    socklen_t len = sizeof local_;
    getsockname(ctx_.fd, reinterpret_cast<sockaddr*>(&local_), &len);
    len = sizeof peer_;
    getpeername(ctx_.fd, reinterpret_cast<sockaddr*>(&peer_), &len);

    protocol::SessionConfig cfg;
    cfg.root = ctx_.root;
    cfg.local_ip = numeric_ip(local_);
    cfg.peer_ip = numeric_ip(peer_);
    try {
      session_ = protocol::make_session(ctx_.protocol, cfg);
      run_actions(session_->greeting());
      read_loop();
    } catch (const std::exception&) {
      // A bug in a session must cost one connection, never the server.
      trace::emit(Kind::error, ctx_.conn, 0, 0, "session exception");
    }
    finish();
    return totals_;
  }

 private:
  // Two clocks bound how long a client may keep us here. The idle timeout
  // (kIdleTimeoutMs) restarts on every byte: it ends connections whose client
  // went quiet. The request deadline (ctx_.request_timeout_ms) does not: it
  // starts at the first byte of a command and stops when the command is
  // complete, so a client that sends one byte a second and never finishes
  // (slowloris) is cut off however many bytes it trickles. Without it that
  // client keeps this connection, and in the serial server everyone else
  // behind it, for as long as it likes.
  void read_loop() {
    char buf[16384];
    std::int64_t last_activity = monotonic_ms();
    std::int64_t request_since = -1;  // first byte of the incomplete command; -1 = none pending
    while (!closed_) {
      pollfd fds[2] = {{ctx_.fd, POLLIN, 0}, {ctx_.stop_fd, POLLIN, 0}};
      int nfds = ctx_.stop_fd >= 0 ? 2 : 1;
      const std::int64_t now = monotonic_ms();
      // While the lab steps or slows the servers (a teacher holds us at the
      // read gate), the time is the teacher's, not the client's.
      if (request_since >= 0 && trace::gates_held()) request_since = now;
      const std::int64_t idle_left = protocol::kIdleTimeoutMs - (now - last_activity);
      const std::int64_t request_left =
          request_since < 0 ? idle_left : ctx_.request_timeout_ms - (now - request_since);
      if (request_left <= 0 && request_since >= 0) {
        // Part of a command came, the rest never did in time: the session
        // answers (FTP 421, HTTP 408) and we close.
        trace::emit(Kind::timeout, ctx_.conn, ctx_.request_timeout_ms, 1, "request incomplete");
        timed_out_ = true;
        run_actions(session_->timed_out());
        return;
      }
      if (idle_left <= 0) {
        // The client sat silent too long; the session says goodbye (421).
        trace::emit(Kind::timeout, ctx_.conn, protocol::kIdleTimeoutMs, 0, "client silent");
        timed_out_ = true;
        run_actions(session_->timed_out());
        return;
      }
      // Sleep in poll() until bytes come or the nearer clock runs out.
      int r = poll(fds, nfds, static_cast<int>(std::min(idle_left, request_left)));
      if (r < 0) {
        if (errno == EINTR && !SignalPipe::stop_requested()) continue;
        return;
      }
      if (r == 0) continue;  // the timeout branches above handle it
      if (nfds == 2 && fds[1].revents) return;  // the server is shutting down
      // GATE read: recv() copies the bytes the client sent from the socket's
      // receive buffer in the kernel into our buffer (0 = the client closed).
      trace::gate(GateKind::read, ctx_.conn);
      ssize_t n = recv(ctx_.fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // the peer closed or reset: nothing left to do
      last_activity = monotonic_ms();
      totals_.bytes_in += static_cast<std::uint64_t>(n);
      trace::emit(Kind::read, ctx_.conn, n);
      session_->receive(std::string_view(buf, static_cast<std::size_t>(n)));
      bool yielded = false;
      while (!closed_) {
        auto actions = session_->next();
        if (!actions) break;
        yielded = true;
        if (ctx_.per_request) run_in_own_process(*actions);
        else run_actions(*actions);
      }
      // The request deadline: a complete command stops its clock; the first
      // byte of the next starts a new one. More bytes of the same incomplete
      // command leave it running - that is the whole point.
      if (!session_->pending_input()) request_since = -1;
      else if (request_since < 0 || yielded) request_since = monotonic_ms();
    }
  }

  // Runs one batch of actions in order. A failed transfer abandons the rest of
  // the batch (its 226) and runs the session's failure reply instead.
  void run_actions(const protocol::Actions& actions) {
    for (const auto& act : actions) {
      if (closed_) return;
      switch (act.kind) {
        case protocol::ActionKind::request:
          trace::emit(Kind::request, ctx_.conn, 0, 0, act.bytes);
          break;
        case protocol::ActionKind::send:
          send_reply(act);
          break;
        case protocol::ActionKind::open_passive:
          run_actions(open_passive());
          break;
        case protocol::ActionKind::transfer:
          if (!transfer(act.bytes)) {
            run_actions(session_->transfer_failed());
            return;
          }
          break;
        case protocol::ActionKind::work:
          burn_cpu(act.ms);
          break;
        case protocol::ActionKind::sleep:
          block_for(act.ms);
          break;
        case protocol::ActionKind::count:
          // The shared state lesson: the process's one visitor counter, shared
          // by every thread of this process, copied into every forked child.
          run_actions(session_->counted(visitor_counter().increment(ctx_.conn)));
          break;
        case protocol::ActionKind::close:
          closed_ = true;
          return;
      }
    }
  }

  void send_reply(const protocol::Action& act) {
    std::uint64_t before = totals_.bytes_out;
    // GATE reply: send() copies the reply into the socket's send buffer; the
    // kernel delivers it to the client from there.
    trace::gate(GateKind::reply, ctx_.conn);
    bool ok = write_all(ctx_.fd, act.bytes, totals_.bytes_out);
    trace::emit_reply(ctx_.conn, act.code, act.bytes.size(), totals_.bytes_out - before);
    if (!ok) closed_ = true;  // the client is gone; stop talking to it
  }

  // shotgun: one request's actions in a process of their own. What must
  // outlive the request stays here: the session (login, cwd, what comes next
  // was decided when next() parsed the request) and a passive listener, which
  // the NEXT request's transfer accepts on. The rest - replies, the transfer,
  // SITE WORK, the visitor count - runs in the child.
  void run_in_own_process(const protocol::Actions& actions) {
    protocol::Actions work;
    bool transfers = false;
    for (const auto& act : actions) {
      if (act.kind == protocol::ActionKind::open_passive) {
        protocol::Actions then = open_passive();
        work.insert(work.end(), then.begin(), then.end());
        continue;
      }
      if (act.kind == protocol::ActionKind::transfer) transfers = true;
      work.push_back(act);
    }
    ++requests_;
    ConnectionTotals* shared = shared_totals();
    int result = ctx_.per_request->run(ctx_.conn, requests_, [&] {
      // In the child: a copy of this whole connection. Its byte counts go
      // back through the shared page; its session copy is thrown away.
      std::uint64_t before = totals_.bytes_out;
      run_actions(work);
      if (shared) shared->bytes_out += totals_.bytes_out - before;
      return closed_ ? 1 : 0;
    });
    // The child used our passive listener (or failed to); ours is stale now.
    if (transfers) close_passive();
    if (result != 0) closed_ = true;
  }

  // A page shared with this connection's request children (MAP_SHARED
  // survives fork as the same memory), for the bytes they send.
  ConnectionTotals* shared_totals() {
    if (shared_ == nullptr) {
      void* p = mmap(nullptr, sizeof(ConnectionTotals), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
      if (p != MAP_FAILED) shared_ = new (p) ConnectionTotals{};
    }
    return shared_;
  }

  // FTP passive mode: a fresh listener on the address the client already
  // reached us at (tnftp insists that 227 names that address), port 0 so the
  // kernel picks a free one. Backlog 1: exactly one data connection is expected.
  // Returns the session's answer (227/229, or the failure reply).
  protocol::Actions open_passive() {
    close_passive();
    sockaddr_storage addr = local_;
    if (addr.ss_family == AF_INET) reinterpret_cast<sockaddr_in&>(addr).sin_port = 0;
    if (addr.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6&>(addr).sin6_port = 0;
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t len = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), len) < 0 || listen(fd, 1) < 0) {
      trace::emit(Kind::error, ctx_.conn, errno, 0, "passive listen");
      if (fd >= 0) close(fd);
      return session_->transfer_failed();
    }
    len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    passive_fd_ = fd;
    std::uint16_t port = port_of(addr);
    trace::emit(Kind::data_open, ctx_.conn, port);
    return session_->passive_opened(port);
  }

  void close_passive() {
    if (passive_fd_ >= 0) close(passive_fd_);
    passive_fd_ = -1;
  }

  // Accepts the one data connection (only from the control peer's address:
  // no one else may collect this file), writes the bytes, closes it. The
  // client knows the file is complete when the data connection closes.
  bool transfer(const std::string& bytes) {
    if (passive_fd_ < 0) {
      trace::emit(Kind::transfer, ctx_.conn, 0, 0);
      return false;
    }
    int data_fd = -1;
    std::int64_t deadline = monotonic_ms() + protocol::kDataAcceptTimeoutMs;
    while (data_fd < 0) {
      std::int64_t left = deadline - monotonic_ms();
      if (left <= 0) break;
      pollfd p[2] = {{passive_fd_, POLLIN, 0}, {ctx_.stop_fd, POLLIN, 0}};
      int r = poll(p, ctx_.stop_fd >= 0 ? 2 : 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR && !SignalPipe::stop_requested()) continue;
      if (r <= 0) break;
      if (ctx_.stop_fd >= 0 && p[1].revents) break;  // the server is shutting down
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      int fd = accept4(passive_fd_, reinterpret_cast<sockaddr*>(&from), &len, SOCK_CLOEXEC);
      if (fd < 0) continue;
      if (!same_ip(from, peer_)) {
        // A stranger raced the client to our data port: turn it away, keep waiting.
        trace::emit(Kind::error, ctx_.conn, EACCES, 0, "data peer mismatch");
        close(fd);
        continue;
      }
      data_fd = fd;
      trace::emit(Kind::data_accept, ctx_.conn, port_of(from));
    }
    close_passive();  // one listener, one transfer
    if (data_fd < 0) {
      trace::emit(Kind::transfer, ctx_.conn, 0, 0);
      return false;
    }
    std::uint64_t before = totals_.bytes_out;
    bool ok = write_all(data_fd, bytes, totals_.bytes_out);
    close(data_fd);
    trace::emit(Kind::transfer, ctx_.conn, static_cast<std::int64_t>(totals_.bytes_out - before), ok ? 1 : 0);
    return ok;
  }

  // SITE WORK: really occupy a CPU, measured on this thread's CPU clock, so the
  // cost shows up in /proc exactly as a heavy request would.
  void burn_cpu(int ms) {
    trace::emit(Kind::work_begin, ctx_.conn, ms);
    timespec start{}, now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
    auto spent_ms = [&] {
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
      return (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    };
    volatile std::uint64_t sink = 0;
    while (spent_ms() < ms && !SignalPipe::stop_requested()) {
      for (int i = 0; i < 10000; ++i) sink = sink + static_cast<std::uint64_t>(i);
    }
    trace::emit(Kind::work_end, ctx_.conn, spent_ms());
  }

  // SITE SLEEP: block without using the CPU, like a handler waiting on a disk
  // or a database. In a serial server everyone else waits too.
  void block_for(int ms) {
    trace::emit(Kind::sleep_begin, ctx_.conn, ms);
    std::int64_t start = monotonic_ms();
    if (ctx_.stop_fd >= 0) {
      // Sleep on the stop descriptor instead: a thread cannot be signalled out
      // of nanosleep reliably, but shutdown makes this readable at once.
      pollfd p{ctx_.stop_fd, POLLIN, 0};
      std::int64_t left = ms;
      while (left > 0 && poll(&p, 1, static_cast<int>(left)) < 0 && errno == EINTR &&
             !SignalPipe::stop_requested()) {
        left = ms - (monotonic_ms() - start);
      }
      trace::emit(Kind::sleep_end, ctx_.conn, monotonic_ms() - start);
      return;
    }
    timespec req{ms / 1000, static_cast<long>(ms % 1000) * 1000000L};
    timespec rem{};
    while (nanosleep(&req, &rem) < 0 && errno == EINTR && !SignalPipe::stop_requested()) req = rem;
    trace::emit(Kind::sleep_end, ctx_.conn, monotonic_ms() - start);
  }

  // A polite close. When the client has nothing in flight to us (and we did
  // not cut it off for being slow), close() sends the FIN after our last
  // reply and that is all. Otherwise: stop sending (FIN), read and discard
  // whatever the client still had in flight for a short while, then close.
  void finish() {
    // GATE close: the FIN goes to the client and close() releases the
    // socket; the connection is over.
    trace::gate(GateKind::close, ctx_.conn);
    close_passive();
    const bool linger = must_linger(ctx_.fd, session_.get(), timed_out_);
    if (linger) shutdown(ctx_.fd, SHUT_WR);
    char buf[4096];
    std::size_t drained = 0;
    std::int64_t deadline = monotonic_ms() + kLingerMs;
    while (linger && drained < kLingerMaxBytes && !SignalPipe::stop_requested()) {
      std::int64_t left = deadline - monotonic_ms();
      if (left <= 0) break;
      pollfd p{ctx_.fd, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) break;
      ssize_t n = recv(ctx_.fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      drained += static_cast<std::size_t>(n);
    }
    if (ctx_.live) ctx_.live->remove(ctx_.fd);  // before close: the number may be reused at once
    close(ctx_.fd);
    if (shared_ != nullptr) {
      totals_.bytes_out += shared_->bytes_out;
      munmap(shared_, sizeof(ConnectionTotals));
      shared_ = nullptr;
    }
    trace::emit(Kind::close, ctx_.conn, static_cast<std::int64_t>(totals_.bytes_in),
                static_cast<std::int64_t>(totals_.bytes_out));
  }

  ConnectionContext ctx_;
  std::unique_ptr<protocol::Session> session_;
  sockaddr_storage local_{};
  sockaddr_storage peer_{};
  int passive_fd_ = -1;
  bool timed_out_ = false;  // we cut the client off (it may still be sending): linger
  bool closed_ = false;
  ConnectionTotals totals_;
  std::uint32_t requests_ = 0;             // shotgun: requests handed to a process so far
  ConnectionTotals* shared_ = nullptr;     // shotgun: bytes sent by the request processes
};

}  // namespace

void LiveConnections::add(int fd) {
  std::lock_guard<std::mutex> lock(mutex_);
  fds_.insert(fd);
  if (shut_down_) shutdown(fd, SHUT_RDWR);  // arrived after shutdown began
}

void LiveConnections::remove(int fd) {
  std::lock_guard<std::mutex> lock(mutex_);
  fds_.erase(fd);
}

void LiveConnections::shutdown_all() {
  std::lock_guard<std::mutex> lock(mutex_);
  shut_down_ = true;
  for (int fd : fds_) shutdown(fd, SHUT_RDWR);
}

std::size_t LiveConnections::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fds_.size();
}

ConnectionTotals serve_connection(const ConnectionContext& ctx) {
  BlockingConnection c(ctx);
  return c.run();
}

}  // namespace sockscope::servers
