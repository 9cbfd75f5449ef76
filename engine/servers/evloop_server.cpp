// The event loop server: one process, one thread, one Asio io_context.
//
// Nothing here ever waits. Every step (accept the next client, read its next
// command, write a reply, accept an FTP data connection, send a file, notice
// an idle client) is started as an asynchronous operation that returns at
// once; the kernel (epoll) tells the loop which of them can make progress,
// and the loop runs their completion handlers one after another, on this one
// thread. Thousands of connections cost a few kilobytes each, and need no
// locks, because no two handlers ever run at the same time.
//
// Lesson: the other side of that coin. A handler that takes long (SITE WORK
// burning CPU, SITE SLEEP blocking) holds the only thread: every other
// client's completed read sits in the ready queue until it returns. With
// handler tracking on (trace/asio_tracking.h) the event loop view shows that
// queue growing behind the running handler.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "servers/event_loop.h"
#include "servers/exclusive_door.h"
#include "trace/asio_tracking.h"
#include "trace/gate.h"
#include "trace/ring.h"

namespace sockscope::servers {
namespace {

using trace::Kind;

// After EMFILE (out of descriptors) the listener stays readable: retrying at
// once would spin the loop at 100% CPU. Wait a moment instead.
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
// The loop's deadline timer is not moved for less than this: a deadline
// (idle timeout, request deadline, linger end) may be met up to this late.
constexpr auto kSweepSlack = std::chrono::milliseconds(250);
// Clients taken from the listener's queue in one turn of the loop at most.
constexpr int kAcceptBatch = 64;

// Asio's handler tracking is on only in processes that run an event loop, and
// only when events are being recorded at all.
asio::io_context& enable_tracking_first(asio::io_context& io) {
  trace::asio_tracking::set_enabled(trace::tracing_enabled());
  return io;
}

asio::ip::tcp::acceptor make_acceptor(asio::io_context& io, const Listener& listener, int fd) {
  const asio::ip::tcp protocol = listener.address.find(':') != std::string::npos ? asio::ip::tcp::v6()
                                                                                  : asio::ip::tcp::v4();
  // assign() registers the listening socket with the reactor (a
  // reactor_register event). Non-blocking: accept4 on an empty queue says
  // EAGAIN instead of waiting.
  asio::ip::tcp::acceptor acceptor(io, protocol, fd);
  acceptor.non_blocking(true);
  return acceptor;
}

}  // namespace

EventLoopServer::EventLoopServer(asio::io_context& io, const ServerConfig& config, const Listener& listener,
                                 int listener_fd, std::function<std::uint32_t()> next_conn, AcceptWay way)
    : io_(enable_tracking_first(io)),
      config_(config),
      way_(way),
      acceptor_(make_acceptor(io, listener, listener_fd)),
      accepted_(io),
      accept_retry_(io),
      sweep_(io),
      next_conn_(std::move(next_conn)) {
  std::error_code ec;
  local_ = acceptor_.local_endpoint(ec);
}

int EventLoopServer::run(int worker) {
  worker_ = worker;
  // SIGTERM/SIGINT through the same self-pipe as every architecture, read by
  // the loop like any other descriptor. (Not asio::signal_set: our handler
  // also sets the flag that lets a running SITE WORK/SLEEP stop early.)
  signals_ = std::make_unique<SignalPipe>(/*watch_children=*/false);
  signal_reader_ = std::make_unique<asio::posix::stream_descriptor>(io_, dup(signals_->fd()));
  wait_for_signal();
  // A hybrid worker with its own epoll set: a new client wakes one sleeping
  // worker, not every one (servers/exclusive_door.h). Without notify_fork
  // the workers share one set, which holds the listener once anyway.
  if (worker_ >= 0 && way_ == AcceptWay::asio_accept && config_.on(SettingId::notify_fork))
    if (const int err = make_listener_exclusive(acceptor_.native_handle()); err != 0)
      trace::emit(Kind::error, 0, err, worker_, "EPOLLEXCLUSIVE");
  accept_next();
  // The loop itself: wait in epoll, run the handlers that became ready, one at
  // a time, until shutdown() leaves it nothing to wait for.
  io_.run();
  connections_.clear();
  if (worker_ < 0) trace::emit(Kind::server_stop, 0, 0);
  return 0;
}

void EventLoopServer::accept_next() {
  // The loop's "front door": an operation on the listener is always pending.
  if (way_ == AcceptWay::asio_accept) {
    // Asio tries the accept() inside the reactor, before any handler: a
    // worker that lost the race for the client goes back to epoll_wait
    // without running one. accept() fills in the client's address (peer_).
    acceptor_.async_accept(accepted_, peer_, [this](const std::error_code& ec) {
      if (stopping_) return;
      if (ec) {
        if (ec != asio::error::operation_aborted) accept_failed(ec.value());
        return;
      }
      accepted_.accepted();
      start_connection(std::move(accepted_), peer_);
      // Straight back to the door: the next client is accepted on the next
      // turn of the loop, whatever this one does.
      accept_next();
    });
    return;
  }
  // When the kernel (epoll) says the listener is readable, accept_ready()
  // takes the clients queued there, as nginx does: the kernel hands each one
  // over already non-blocking (accept4), with its address (no getpeername).
  acceptor_.async_wait(asio::socket_base::wait_read, [this](const std::error_code& ec) {
    if (stopping_) return;
    if (ec) {
      if (ec != asio::error::operation_aborted) accept_failed(ec.value());
      return;
    }
    accept_ready();
  });
}

void EventLoopServer::accept_failed(int err) {
  trace::emit(Kind::error, 0, err, worker_, "accept");
  // Out of descriptors: the client waiting is refused with the spare, and
  // the door opens again at once.
  if ((err == EMFILE || err == ENFILE) &&
      spare_.refuse_if_out_of_descriptors(err, acceptor_.native_handle(), config_.protocol, next_conn_())) {
    accept_next();
    return;
  }
  // After EMFILE the listener stays readable: not at once, or the loop spins.
  accept_retry_.expires_after(kAcceptRetry);
  accept_retry_.async_wait([this](const std::error_code& wec) {
    if (!wec && !stopping_) accept_next();
  });
}

void EventLoopServer::accept_ready() {
  // The clients queued on the listener are taken until accept4 says the
  // queue is empty (EAGAIN), or a batch at most: the rest wait behind the
  // handlers already ready, not ahead of them. When the lab steps the loop,
  // one client a handler: each accept is a step.
  const int batch = trace::gates_held() ? 1 : kAcceptBatch;
  for (int taken = 0; taken < batch; ++taken) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    const int fd = ::accept4(acceptor_.native_handle(), reinterpret_cast<sockaddr*>(&peer), &peer_len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      // A client that gave up while queued, or a signal: the next one.
      if (err == EINTR || err == ECONNABORTED) continue;
      accept_failed(err);
      return;
    }
    asio::ip::tcp::endpoint client;
    std::memcpy(client.data(), &peer, std::min<std::size_t>(peer_len, client.capacity()));
    client.resize(peer_len);
    AcceptedSocket socket(io_);
    if (const std::error_code ec = socket.adopt(client.protocol(), fd)) {
      // The reactor would not take it (epoll's limit): the client is let go.
      trace::emit(Kind::error, 0, ec.value(), worker_, "epoll_ctl");
      continue;
    }
    start_connection(std::move(socket), client);
  }
  // Back to waiting. Asio re-arms the listener for each wait (EPOLL_CTL_MOD),
  // and epoll reports a listener still readable (a batch left clients
  // queued) on the loop's next turn.
  accept_next();
}

void EventLoopServer::start_connection(asio::ip::tcp::socket socket, const asio::ip::tcp::endpoint& client) {
  std::uint32_t conn = next_conn_();
  trace::emit(Kind::accept, conn, client.port(), socket.native_handle());
  if (worker_ >= 0) trace::emit(Kind::dequeue, conn, 0, worker_);
  std::error_code lec;
  const asio::ip::tcp::endpoint local = local_.address().is_unspecified() ? socket.local_endpoint(lec) : local_;
  // The connection is just an object with some buffers: no process, no
  // thread. It lives as long as one of its operations is pending.
  auto c = std::make_shared<AsyncConnection>(
      std::move(socket), local, client, conn, config_.protocol, config_.root,
      std::chrono::milliseconds(config_.request_timeout_ms()), [this](std::uint32_t id) { connections_.erase(id); },
      [this](AsyncConnection::Clock::time_point t) { wake_at(t); });
  connections_.emplace(conn, c);
  c->start();
}

void EventLoopServer::wake_at(AsyncConnection::Clock::time_point t) {
  // Inside sweep() the timer is set once, at its end. Otherwise it moves
  // only for a deadline clearly earlier than the one it waits for (moving it
  // cancels the pending wait: an aborted handler).
  if (in_sweep_ || stopping_ || (sweep_armed_ && sweep_at_ <= t + kSweepSlack)) return;
  sweep_armed_ = true;
  sweep_at_ = t;
  trace::asio_tracking::LoopOwned loop_owned;  // not the connection whose handler moved it
  sweep_.expires_at(t);
  sweep_.async_wait([this](const std::error_code& ec) {
    if (ec) return;  // moved (a newer wait replaced this one) or shut down
    sweep_armed_ = false;
    sweep();
  });
}

void EventLoopServer::sweep() {
  if (stopping_) return;
  const auto now = AsyncConnection::Clock::now();
  // Collected first: on_deadline() may close a connection, which removes it
  // from the map.
  std::vector<std::shared_ptr<AsyncConnection>> due;
  auto next = AsyncConnection::Clock::time_point::max();
  for (auto& [id, c] : connections_) {
    if (c->deadline() <= now) due.push_back(c);
    else next = std::min(next, c->deadline());
  }
  in_sweep_ = true;
  for (auto& c : due) {
    c->on_deadline();
    next = std::min(next, c->deadline());
  }
  in_sweep_ = false;
  if (next != AsyncConnection::Clock::time_point::max()) wake_at(next);
}

void EventLoopServer::wait_for_signal() {
  signal_reader_->async_wait(asio::posix::descriptor_base::wait_read, [this](const std::error_code& ec) {
    if (ec) return;
    if (signals_->drain().stop) {
      shutdown();
      return;
    }
    wait_for_signal();
  });
}

void EventLoopServer::shutdown() {
  stopping_ = true;
  // Stop accepting first: with the listener closed the kernel refuses new
  // clients instead of queueing them.
  std::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  sweep_.cancel();
  signal_reader_->close(ignored);
  // Close every connection now (each emits its `close`). Copy first: closing
  // removes a connection from the map.
  std::vector<std::shared_ptr<AsyncConnection>> open;
  for (auto& [id, c] : connections_) open.push_back(c);
  for (auto& c : open) c->stop();
  // Handlers still queued (the aborted operations of those closes) are
  // destroyed without running; the hooks record that (handler_end b = 1).
  io_.stop();
}

int run_evloop_server(const ServerConfig& config, const Listener& listener) {
  // concurrency hint 1: one thread will run this io_context, so Asio may skip
  // its internal locking.
  asio::io_context io(1);
  std::uint32_t next = 1;
  EventLoopServer server(io, config, listener, listener.fd, [&next] { return next++; });
  return server.run(/*worker=*/-1);
}

}  // namespace sockscope::servers
