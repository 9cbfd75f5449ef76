#include "servers/async_connection.h"

#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <utility>

#include "servers/server.h"
#include "servers/visitor_counter.h"
#include "trace/asio_tracking.h"
#include "trace/gate.h"
#include "trace/ring.h"

namespace sockscope::servers {
namespace {

using trace::Kind;

// The same limits as the blocking driver (blocking_connection.cpp).
constexpr auto kWriteStall = std::chrono::milliseconds(30000);
constexpr auto kIdle = std::chrono::milliseconds(protocol::kIdleTimeoutMs);
constexpr auto kDataAccept = std::chrono::milliseconds(protocol::kDataAcceptTimeoutMs);
constexpr auto kLinger = std::chrono::milliseconds(1000);
constexpr std::size_t kLingerMaxBytes = 1 << 20;

}  // namespace

AsyncConnection::AsyncConnection(asio::ip::tcp::socket socket, asio::ip::tcp::endpoint local,
                                 asio::ip::tcp::endpoint peer, std::uint32_t conn, protocol::Protocol protocol,
                                 std::filesystem::path root, std::chrono::milliseconds request_timeout,
                                 std::function<void(std::uint32_t)> on_closed,
                                 std::function<void(Clock::time_point)> wake_at)
    : socket_(std::move(socket)),
      conn_(conn),
      protocol_(protocol),
      root_(std::move(root)),
      request_timeout_(request_timeout),
      on_closed_(std::move(on_closed)),
      wake_at_(std::move(wake_at)),
      local_(local),
      peer_(peer) {}

AsyncConnection::DataChannel::DataChannel(const asio::any_io_executor& ex)
    : passive(ex), socket(ex), timer(ex) {}

void AsyncConnection::close_data_channel() {
  if (!data_) return;
  std::error_code ignored;
  data_->passive.close(ignored);
  data_->socket.close(ignored);
  data_->timer.cancel();
}

void AsyncConnection::start() {
  // Hooks on this socket (and the timers started below) now carry our id.
  trace::asio_tracking::bind_fd(socket_.native_handle(), conn_);
  trace::asio_tracking::set_current_conn(conn_);
  last_activity_ = Clock::now();
  protocol::SessionConfig cfg;
  cfg.root = root_;
  cfg.local_ip = local_.address().to_string();
  cfg.peer_ip = peer_.address().to_string();
  try {
    session_ = protocol::make_session(protocol_, cfg);
    push(session_->greeting());
  } catch (const std::exception&) {
    trace::emit(Kind::error, conn_, 0, 0, "session exception");
    closing_ = true;
  }
  // No timer of its own: the loop's one timer (evloop_server.cpp) calls
  // on_deadline() once this moment has passed, which looks at the clocks
  // and sets the next. The moment is not moved on every read:
  // last_activity_ is, and on_deadline() finds the client was not idle.
  set_deadline(last_activity_ + kIdle);
  trace::asio_tracking::set_current_conn(0);
  pump();
}

void AsyncConnection::stop() {
  if (closed_) return;
  closing_ = true;
  final_close();
}

void AsyncConnection::push(protocol::Actions actions) { batches_.push_back(Batch{std::move(actions), 0}); }

// Runs actions until one has to wait (a write, a transfer) or none are left;
// then asks the session for the next command, or reads more bytes. Every
// asynchronous step calls pump() again when it completes.
void AsyncConnection::pump() {
  try {
    while (!busy_ && !closing_ && !closed_) {
      if (batches_.empty()) {
        auto next = session_->next();
        if (next) {
          request_pending_ = false;  // a complete command: its deadline is met
          push(std::move(*next));
          continue;
        }
        say_read();  // a request cut short: its read is logged alone
        note_pending_input();
        start_read();  // nothing to do until the client sends more
        return;
      }
      Batch& b = batches_.back();
      if (b.next == b.actions.size()) {
        batches_.pop_back();
        continue;
      }
      protocol::Action act = std::move(b.actions[b.next++]);
      // A request logs the read that brought it; whatever else is logged
      // next comes after that read.
      if (act.kind != protocol::ActionKind::request) say_read();
      switch (act.kind) {
        case protocol::ActionKind::request:
          // One event for the read and the request it brought (the usual
          // case: one fewer emit on the loop's path), else the request alone.
          trace::emit_request(conn_, act.bytes, unsaid_read_);
          unsaid_read_ = 0;
          break;
        case protocol::ActionKind::send:
          send(std::move(act.bytes), act.code);
          break;
        case protocol::ActionKind::open_passive:
          open_passive();
          break;
        case protocol::ActionKind::transfer:
          start_transfer(std::move(act.bytes));
          break;
        case protocol::ActionKind::work:
          burn_cpu(act.ms);
          break;
        case protocol::ActionKind::sleep:
          block_for(act.ms);
          break;
        case protocol::ActionKind::count:
          // One process, one thread: the counter is shared by every client and
          // never raced (handlers never run at the same time).
          push(session_->counted(visitor_counter().increment(conn_)));
          break;
        case protocol::ActionKind::close:
          closing_ = true;
          break;
      }
    }
  } catch (const std::exception&) {
    // A bug in a session must cost one connection, never the loop (which
    // serves everybody).
    say_read();
    trace::emit(Kind::error, conn_, 0, 0, "session exception");
    closing_ = true;
  }
  say_read();
  if (closing_ && !busy_) finish();
}

void AsyncConnection::say_read() {
  if (unsaid_read_ == 0) return;
  trace::emit(Kind::read, conn_, static_cast<std::int64_t>(unsaid_read_));
  unsaid_read_ = 0;
}

void AsyncConnection::start_read() {
  if (reading_ || closing_ || closed_) return;
  reading_ = true;
  // Register interest and return to the loop at once: the kernel (epoll) tells
  // the loop when bytes arrive, and only then does on_read run.
  socket_.async_read_some(asio::buffer(read_buf_),
                          [self = shared_from_this()](const std::error_code& ec, std::size_t n) {
                            self->on_read(ec, n);
                          });
}

void AsyncConnection::on_read(const std::error_code& ec, std::size_t n) {
  reading_ = false;
  if (closed_) return;
  if (finishing_) {
    // This read was pending when the connection began to close: it is the
    // first read of the linger phase.
    drained_ += n;
    if (ec == asio::error::operation_aborted) linger_read();
    else if (ec || n == 0 || drained_ >= kLingerMaxBytes) final_close();
    else linger_read();
    return;
  }
  if (ec == asio::error::operation_aborted) {
    if (timed_out_) pump();  // the idle timeout cancelled us; its 421 goes out now
    return;
  }
  if (ec || n == 0) {
    // The peer closed or reset: nothing left to say.
    closing_ = true;
    if (!busy_) finish();
    return;
  }
  last_activity_ = Clock::now();
  bytes_in_ += n;
  // Logged with the request it brings (pump()), or alone when it brings none.
  unsaid_read_ = n;
  session_->receive(std::string_view(read_buf_.data(), n));
  // A read short of the buffer emptied the socket: a close decided while
  // this handler runs needs no FIONREAD to know nothing is unread.
  read_drained_ = n < read_buf_.size();
  pump();
  read_drained_ = false;
}

void AsyncConnection::send(std::string bytes, int code) {
  // Straight into the socket's send buffer, as nginx does: a reply is small
  // and the buffer almost always has room, so it is out before this handler
  // returns, with no operation, no queue and no second handler. Only what
  // does not fit waits for the loop (POLLOUT), while the loop serves others.
  const ssize_t sent = ::send(socket_.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent == static_cast<ssize_t>(bytes.size())) {
    replied(bytes.size(), code, bytes.size());
    return;
  }
  if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    replied(0, code, bytes.size());
    closing_ = true;  // the client is gone; stop talking to it
    return;
  }
  const std::size_t first = sent > 0 ? static_cast<std::size_t>(sent) : 0;
  busy_ = true;
  busy_since_ = Clock::now();
  out_ = std::move(bytes);
  // async_write loops over write_some until every byte is out; when the
  // peer's window is full, the loop serves others while we wait for POLLOUT.
  asio::async_write(socket_, asio::buffer(out_.data() + first, out_.size() - first),
                    [self = shared_from_this(), code, first](const std::error_code& ec, std::size_t n) {
                      self->replied(first + n, code, self->out_.size());
                      std::string().swap(self->out_);  // an idle connection keeps no reply
                      self->busy_ = false;
                      if (self->closed_) return;
                      if (ec) self->closing_ = true;  // the client is gone; stop talking to it
                      self->pump();
                    });
}

// One reply is over: `written` of its `size` bytes went out.
void AsyncConnection::replied(std::size_t written, int code, std::size_t size) {
  bytes_out_ += written;
  trace::emit_reply(conn_, code, size, written);
}

// FTP passive mode: a listener on the address the client reached us at, port
// 0. Opening it never blocks (socket, bind, listen return at once), so it is
// done right here in the handler.
void AsyncConnection::open_passive() {
  // Made at the first PASV/EPSV: most connections (all of HTTP) never need it.
  if (!data_) data_ = std::make_unique<DataChannel>(socket_.get_executor());
  asio::ip::tcp::acceptor& passive = data_->passive;
  std::error_code ec;
  passive.close(ec);
  asio::ip::tcp::endpoint ep(local_.address(), 0);
  passive.open(ep.protocol(), ec);
  if (!ec) passive.bind(ep, ec);
  if (!ec) passive.listen(1, ec);  // backlog 1: exactly one data connection expected
  if (ec) {
    trace::emit(Kind::error, conn_, ec.value(), 0, "passive listen");
    passive.close(ec);
    push(session_->transfer_failed());
    return;
  }
  trace::asio_tracking::bind_fd(passive.native_handle(), conn_);
  std::uint16_t port = passive.local_endpoint(ec).port();
  trace::emit(Kind::data_open, conn_, port);
  push(session_->passive_opened(port));
}

void AsyncConnection::start_transfer(std::string bytes) {
  if (!data_ || !data_->passive.is_open()) {
    trace::emit(Kind::transfer, conn_, 0, 0);
    transfer_done(false, 0);
    return;
  }
  busy_ = true;
  busy_since_ = Clock::now();
  data_->bytes = std::move(bytes);
  // The client has a time limit to connect; a timer closes the passive
  // listener when it runs out, which ends the pending accept.
  data_->timer.expires_after(kDataAccept);
  data_->timer.async_wait([self = shared_from_this()](const std::error_code& ec) {
    if (!ec) {
      std::error_code ignored;
      self->data_->passive.close(ignored);
    }
  });
  accept_data();
}

void AsyncConnection::accept_data() {
  DataChannel& d = *data_;
  d.passive.async_accept(d.socket, d.peer, [self = shared_from_this()](const std::error_code& ec) {
    if (self->closed_) return;
    DataChannel& d = *self->data_;
    if (ec) {
      d.timer.cancel();
      std::error_code ignored;
      d.passive.close(ignored);
      trace::emit(Kind::transfer, self->conn_, 0, 0);
      self->transfer_done(false, 0);
      return;
    }
    if (d.peer.address() != self->peer_.address()) {
      // A stranger raced the client to our data port: turn it away, keep waiting.
      trace::emit(Kind::error, self->conn_, EACCES, 0, "data peer mismatch");
      std::error_code ignored;
      d.socket.close(ignored);
      self->accept_data();
      return;
    }
    d.timer.cancel();
    std::error_code ignored;
    d.passive.close(ignored);  // one listener, one transfer
    trace::asio_tracking::bind_fd(d.socket.native_handle(), self->conn_);
    trace::emit(Kind::data_accept, self->conn_, d.peer.port());
    // The file goes out in as many writes as the client's window allows; each
    // partial write returns control to the loop.
    asio::async_write(d.socket, asio::buffer(d.bytes),
                      [self](const std::error_code& wec, std::size_t n) {
                        std::error_code ignored2;
                        // The client knows the file is complete when the data connection closes.
                        self->data_->socket.close(ignored2);
                        trace::emit(Kind::transfer, self->conn_, static_cast<std::int64_t>(n), wec ? 0 : 1);
                        if (self->closed_) return;
                        self->transfer_done(!wec, n);
                      });
  });
}

void AsyncConnection::transfer_done(bool ok, std::uint64_t bytes) {
  busy_ = false;
  bytes_out_ += bytes;
  if (data_) {
    data_->bytes.clear();
    data_->bytes.shrink_to_fit();
  }
  if (!ok && !batches_.empty()) {
    // Skip the rest of the transfer's batch (its 226) and say what failed.
    batches_.pop_back();
    push(session_->transfer_failed());
  }
  pump();
}

// SITE WORK inside the handler, on purpose: while this loop spins, the one
// thread serves no one else. Every other client's reply waits (their
// completions pile up in the ready queue), which is the event loop's lesson.
void AsyncConnection::burn_cpu(int ms) {
  trace::emit(Kind::work_begin, conn_, ms);
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
  trace::emit(Kind::work_end, conn_, spent_ms());
  last_activity_ = Clock::now();
}

// SITE SLEEP: a BLOCKING sleep inside the handler, deliberately. An event
// loop must never call anything that blocks (a disk read, a database query, a
// sleep); this is what happens when it does: no CPU is used, yet every other
// client stalls for the whole sleep. (The asynchronous way would be a timer;
// the lesson is the contrast with the thread and pool servers, where the same
// blocking call stalls only its own thread.)
void AsyncConnection::block_for(int ms) {
  trace::emit(Kind::sleep_begin, conn_, ms);
  auto start = Clock::now();
  timespec req{ms / 1000, static_cast<long>(ms % 1000) * 1000000L};
  timespec rem{};
  while (nanosleep(&req, &rem) < 0 && errno == EINTR && !SignalPipe::stop_requested()) req = rem;
  trace::emit(Kind::sleep_end, conn_,
              std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
  last_activity_ = Clock::now();
}

// The request deadline's clock starts at the first byte of a command (the
// session has input pending that is not yet a command) and does not restart
// on later bytes of it: a client that sends one byte a second (slowloris)
// must not keep the connection for ever. The deadline is normally set for the
// idle timeout, minutes away; it is brought forward once per such command,
// not once per byte.
void AsyncConnection::note_pending_input() {
  if (!session_->pending_input()) {
    request_pending_ = false;
    return;
  }
  if (request_pending_) return;  // more of the same command: the clock runs on
  request_pending_ = true;
  request_since_ = Clock::now();
  if (deadline_ > request_since_ + request_timeout_) set_deadline(request_since_ + request_timeout_);
}

void AsyncConnection::set_deadline(Clock::time_point deadline) {
  deadline_ = deadline;
  if (wake_at_) wake_at_(deadline);
}

void AsyncConnection::on_deadline() {
  if (closed_) return;
  auto now = Clock::now();
  if (finishing_) {
    if (now >= linger_until_) final_close();
    else set_deadline(linger_until_);
    return;
  }
  if (busy_) {
    if (now - busy_since_ >= kWriteStall) {
      // The peer stopped taking our bytes: give up on it.
      trace::emit(Kind::error, conn_, ETIMEDOUT, 0, "write stall");
      final_close();
      return;
    }
    set_deadline(busy_since_ + kWriteStall);
    return;
  }
  if (request_pending_) {
    // While the lab steps or slows the servers, the time is the teacher's,
    // not the client's: the clock starts again.
    if (trace::gates_held()) request_since_ = now;
    if (now - request_since_ >= request_timeout_) {
      // Part of a command came, the rest never did in time (FTP 421, HTTP 408).
      time_out(static_cast<int>(request_timeout_.count()), 1, "request incomplete");
      return;
    }
  }
  if (now - last_activity_ >= kIdle) {
    // The client sat silent too long; the session says goodbye (421).
    time_out(protocol::kIdleTimeoutMs, 0, "client silent");
    return;
  }
  Clock::time_point next = last_activity_ + kIdle;
  if (request_pending_) next = std::min(next, request_since_ + request_timeout_);
  set_deadline(next);
}

// The session's goodbye for a client that was too slow; `which` is the
// timeout event's b: 0 idle timeout, 1 request deadline. The pending read is
// cancelled; its handler resumes the pump, which sends the goodbye and closes.
void AsyncConnection::time_out(int limit_ms, int which, std::string_view why) {
  trace::emit(Kind::timeout, conn_, limit_ms, which, why);
  timed_out_ = true;
  request_pending_ = false;
  push(session_->timed_out());
  if (reading_) {
    std::error_code ignored;
    socket_.cancel(ignored);
  } else {
    pump();
  }
}

// A polite close, without blocking (server.h, must_linger): at once when
// the client has nothing in flight; otherwise stop sending (FIN), then read
// and discard what the client still had in flight for a short while, then
// close. Closing with unread bytes would make the kernel send RST and could
// destroy our last reply before the client reads it.
void AsyncConnection::finish() {
  if (finishing_ || closed_) return;
  // Nothing in flight from the client (and we did not cut it off for being
  // slow): close() sends the FIN after the last reply, and that is all. This
  // is every Connection: close request and every QUIT.
  if (!must_linger(socket_.native_handle(), session_.get(), timed_out_, read_drained_)) {
    final_close();
    return;
  }
  finishing_ = true;
  close_data_channel();
  std::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_send, ignored);
  linger_until_ = Clock::now() + kLinger;
  set_deadline(linger_until_);
  if (reading_) {
    // A read is still pending (the peer went away while we were idle): it
    // completes on its own with EOF or an error.
    return;
  }
  linger_read();
}

void AsyncConnection::linger_read() {
  reading_ = true;
  socket_.async_read_some(asio::buffer(read_buf_), [self = shared_from_this()](const std::error_code& ec,
                                                                                 std::size_t n) {
    self->reading_ = false;
    if (self->closed_) return;
    self->drained_ += n;
    if (ec || n == 0 || self->drained_ >= kLingerMaxBytes) {
      self->final_close();
      return;
    }
    self->linger_read();
  });
}

void AsyncConnection::final_close() {
  if (closed_) return;
  closed_ = true;
  close_data_channel();
  deadline_ = Clock::time_point::max();
  std::error_code ignored;
  socket_.close(ignored);
  trace::emit(Kind::close, conn_, static_cast<std::int64_t>(bytes_in_), static_cast<std::int64_t>(bytes_out_));
  if (on_closed_) {
    auto cb = std::move(on_closed_);
    on_closed_ = nullptr;
    cb(conn_);
  }
}

}  // namespace sockscope::servers
