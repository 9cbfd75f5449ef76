// One connection served without ever blocking the event loop (evloop and the
// hybrid's workers): the asynchronous twin of blocking_connection.h.
//
// It drives a protocol::Session exactly as protocol.h describes, but every
// wait is an Asio operation that returns at once and calls back later: the
// read of the next command, the part of a reply that did not fit in the
// socket's send buffer (a reply is written straight into it, as nginx does),
// the FTP passive accept, the file transfer. The idle timeout and the
// request deadline need no timer of their own: one moment, whichever comes
// first, that the loop's one sweep timer checks (event_loop.h). Between
// those callbacks the one loop thread serves everybody else. The two exceptions are the
// teaching commands: SITE WORK / GET /work burn CPU inside the handler and
// SITE SLEEP / /sleep call a blocking sleep inside the handler, both on
// purpose, so that the cost of a long handler in an event loop is real
// (everyone else waits).
#pragma once

#include <asio.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/protocol.h"

namespace sockscope::servers {

class AsyncConnection : public std::enable_shared_from_this<AsyncConnection> {
 public:
  // `on_closed(conn)` runs once, after the socket is closed and the `close`
  // event emitted (the server drops its reference there). `request_timeout`:
  // how long one command may take to arrive, from its first byte to its end
  // (ServerConfig::request_timeout_ms()). `local` and `peer`: the socket's
  // two ends, as accept() and the listener already know them (asking the
  // kernel again would cost two system calls per connection). `wake_at(t)`:
  // the connection's next deadline is t; the loop calls on_deadline() once
  // it has passed.
  AsyncConnection(asio::ip::tcp::socket socket, asio::ip::tcp::endpoint local, asio::ip::tcp::endpoint peer,
                  std::uint32_t conn, protocol::Protocol protocol, std::filesystem::path root,
                  std::chrono::milliseconds request_timeout, std::function<void(std::uint32_t)> on_closed,
                  std::function<void(std::chrono::steady_clock::time_point)> wake_at);
  AsyncConnection(const AsyncConnection&) = delete;
  AsyncConnection& operator=(const AsyncConnection&) = delete;

  // Greets the client and starts reading. Call once, from the loop thread.
  void start();
  // Server shutdown: close everything now (pending operations end with
  // operation_aborted), emit `close`.
  void stop();

  std::uint32_t conn() const { return conn_; }

  using Clock = std::chrono::steady_clock;
  // When on_deadline() must next run; time_point::max() once closed.
  Clock::time_point deadline() const { return deadline_; }
  // The loop's sweep found deadline() passed: time the client out, end the
  // linger, give up on a stalled write, or set the next deadline.
  void on_deadline();

 private:

  struct Batch {
    protocol::Actions actions;
    std::size_t next = 0;
  };

  void push(protocol::Actions actions);
  void pump();
  void start_read();
  void on_read(const std::error_code& ec, std::size_t n);
  void send(std::string bytes, int code);
  void replied(std::size_t written, int code, std::size_t size);
  void open_passive();
  void start_transfer(std::string bytes);
  void accept_data();
  void transfer_done(bool ok, std::uint64_t bytes);
  void burn_cpu(int ms);
  void block_for(int ms);
  void note_pending_input();
  void say_read();
  void set_deadline(Clock::time_point deadline);
  void time_out(int limit_ms, int which, std::string_view why);
  void close_data_channel();
  void finish();
  void linger_read();
  void final_close();

  asio::ip::tcp::socket socket_;
  std::uint32_t conn_;
  protocol::Protocol protocol_;
  std::filesystem::path root_;
  std::chrono::milliseconds request_timeout_;
  std::function<void(std::uint32_t)> on_closed_;
  // Asks the loop to call on_deadline() once this moment has passed.
  std::function<void(std::chrono::steady_clock::time_point)> wake_at_;
  std::unique_ptr<protocol::Session> session_;
  asio::ip::tcp::endpoint local_;
  asio::ip::tcp::endpoint peer_;

  std::vector<Batch> batches_;  // a stack: nested batches (passive_opened, counted) run first
  // What one read takes. Small on purpose: every idle connection of the loop
  // carries it while its read is pending (10,000 of them with 16 KiB each
  // were 160 MiB), and a command or a request head is tens to a few hundred
  // bytes; a longer one takes more reads.
  std::array<char, 512> read_buf_{};
  std::string out_;  // the reply being written
  // FTP's data connection: made at the first PASV/EPSV (an idle connection,
  // and every HTTP one, does without it).
  struct DataChannel {
    explicit DataChannel(const asio::any_io_executor& ex);
    asio::ip::tcp::acceptor passive;
    asio::ip::tcp::socket socket;
    asio::ip::tcp::endpoint peer;
    asio::steady_timer timer;  // passive accept time limit
    std::string bytes;         // the file being transferred
  };
  std::unique_ptr<DataChannel> data_;
  // The next moment on_deadline() must look at the clocks: idle timeout,
  // request deadline, write stall or linger end, whichever comes first.
  Clock::time_point deadline_ = Clock::time_point::max();

  bool reading_ = false;
  bool read_drained_ = false;  // in on_read's pump(), after a read short of the buffer
  // Bytes of the last read not yet logged: the request they bring logs them
  // (trace::emit_request), or say_read() does before anything else is logged.
  std::size_t unsaid_read_ = 0;
  bool busy_ = false;       // an action is in flight (write, transfer)
  bool closing_ = false;    // the session asked to close, or the peer is gone
  bool finishing_ = false;  // half-closed, draining the peer
  bool closed_ = false;     // socket closed, `close` emitted
  bool timed_out_ = false;
  bool request_pending_ = false;  // part of a command has arrived: the request deadline runs
  Clock::time_point request_since_;  // ... since its first byte
  Clock::time_point last_activity_;
  Clock::time_point busy_since_;
  Clock::time_point linger_until_;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
  std::size_t drained_ = 0;
};

}  // namespace sockscope::servers
