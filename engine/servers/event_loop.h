// The event loop server as a reusable piece: the evloop architecture runs one
// in its only process; the hybrid runs one in each prefork worker.
#pragma once

#include <asio.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "servers/accepted_socket.h"
#include "servers/async_connection.h"
#include "servers/server.h"

namespace sockscope::servers {

// How the loop takes clients from its listener.
//  wait_then_accept: a wait on the listener; when it is readable, the
//    handler takes the queued clients with accept4(SOCK_NONBLOCK) until the
//    queue is empty, as nginx does (evloop: the fewest system calls).
//  asio_accept: Asio's async_accept, which tries accept() inside the reactor
//    before any handler runs (hybrid: more than one worker's loop can wake
//    for a new client, since a busy worker still finds the listener ready on
//    its next epoll_wait; with a wait each of them would run a handler to
//    find the queue empty, with Asio's accept only the worker that got the
//    client runs one). A hybrid worker's listener is registered with
//    EPOLLEXCLUSIVE (servers/exclusive_door.h), so a client wakes one
//    sleeping worker, not all of them.
enum class AcceptWay { wait_then_accept, asio_accept };

class EventLoopServer {
 public:
  // Turns on Asio handler tracking for this process (when tracing is on) and
  // registers the listener with `io`'s reactor (epoll), non-blocking. Takes
  // ownership of `listener_fd`. `next_conn` hands out connection ids.
  EventLoopServer(asio::io_context& io, const ServerConfig& config, const Listener& listener, int listener_fd,
                  std::function<std::uint32_t()> next_conn, AcceptWay way = AcceptWay::wait_then_accept);
  EventLoopServer(const EventLoopServer&) = delete;
  EventLoopServer& operator=(const EventLoopServer&) = delete;

  // Runs the loop on the calling thread until SIGTERM/SIGINT, then closes
  // every connection. `worker` >= 0 in a hybrid worker (each accept is also a
  // `dequeue` event naming the worker). Returns the exit status.
  int run(int worker);

 private:
  void accept_next();
  void accept_ready();                 // wait_then_accept: the listener is readable
  void accept_failed(int err);         // refuse with the spare, or retry in a moment
  void start_connection(asio::ip::tcp::socket socket, const asio::ip::tcp::endpoint& client);
  // One timer for the loop's deadlines, not one per connection (no timer
  // object, no pending wait and no cancel per client): it is set for the
  // earliest deadline of any connection, and calls on_deadline() on each
  // connection whose deadline has passed. Idle clients' deadlines are
  // minutes away, so under load it is rarely moved.
  void wake_at(AsyncConnection::Clock::time_point t);
  void sweep();
  void wait_for_signal();
  void shutdown();

  asio::io_context& io_;
  const ServerConfig& config_;
  AcceptWay way_;
  asio::ip::tcp::acceptor acceptor_;
  AcceptedSocket accepted_;        // asio_accept: the socket the pending accept fills
  asio::ip::tcp::endpoint peer_;  // asio_accept: its client's address
  asio::steady_timer accept_retry_;
  asio::steady_timer sweep_;
  bool sweep_armed_ = false;  // sweep_ has a wait pending, for sweep_at_
  bool in_sweep_ = false;
  AsyncConnection::Clock::time_point sweep_at_;
  // The listener's address: every connection's local end, unless it listens
  // on every address (then each connection asks the kernel).
  asio::ip::tcp::endpoint local_;
  SpareDescriptor spare_;  // out of descriptors, a client still hears 421/503
  std::function<std::uint32_t()> next_conn_;
  std::unordered_map<std::uint32_t, std::shared_ptr<AsyncConnection>> connections_;
  std::unique_ptr<SignalPipe> signals_;
  std::unique_ptr<asio::posix::stream_descriptor> signal_reader_;
  int worker_ = -1;
  bool stopping_ = false;
};

}  // namespace sockscope::servers
