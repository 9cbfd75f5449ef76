// One connection served with blocking system calls, start to finish: the part
// that the serial, fork, thread, pool and prefork architectures share. Only how
// they get to this call differs (in the main loop, in a forked child, in a
// spawned thread, in a pool worker).
//
// It drives a protocol::Session exactly as protocol.h describes: greeting,
// then read (with an idle timeout and a request deadline) → receive → next →
// run the actions, until the session closes, the peer goes away, the client
// is too slow, or the server shuts down.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>

#include "protocol/protocol.h"

namespace sockscope::servers {

class LiveConnections;
class RequestProcess;

struct ConnectionContext {
  int fd = -1;                 // the connected control socket; closed by serve_connection
  std::uint32_t conn = 0;      // connection id: the `conn` of every event emitted
  protocol::Protocol protocol = protocol::Protocol::ftp;
  std::filesystem::path root;  // jail root of the session
  int stop_fd = -1;            // readable = the server is shutting down (-1: none)
  LiveConnections* live = nullptr;  // thread/pool: `fd` is listed here until just before it closes
  RequestProcess* per_request = nullptr;  // shotgun: every request runs in a process of its own
  // How long one command may take to arrive, from its first byte to its end
  // (ServerConfig::request_timeout_ms(), the request_timeout setting).
  int request_timeout_ms = protocol::kRequestTimeoutMs;
};

// shotgun: how one request gets a process of its own. serve_connection keeps
// the connection's state (the protocol session, a passive listener) in its own
// process and hands each request's work - its replies, its transfer, its
// SITE WORK, its visitor count - to run(), which forks, calls `serve_request`
// in the child, and returns what it returned (0 = go on, 1 = the connection is
// over) once the child has exited and been reaped. `request` counts 1, 2, ...
// per connection.
class RequestProcess {
 public:
  virtual ~RequestProcess() = default;
  virtual int run(std::uint32_t conn, std::uint32_t request, const std::function<int()>& serve_request) = 0;
};

// The sockets being served by the threads of one process (thread, pool), so
// that shutdown can wake a handler blocked in a read or a write: shutdown(2) on
// the socket makes its recv() return 0 and its send() fail at once. A forked
// child needs none of this - SIGTERM ends it - but a thread cannot be killed,
// only asked to return. A socket leaves the list before its fd is closed, so
// shutdown never touches a reused descriptor number.
class LiveConnections {
 public:
  void add(int fd);
  void remove(int fd);
  // shutdown(SHUT_RDWR) every listed socket, and any added from now on.
  void shutdown_all();
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::set<int> fds_;
  bool shut_down_ = false;
};

struct ConnectionTotals {
  std::uint64_t bytes_in = 0;   // control connection
  std::uint64_t bytes_out = 0;  // control replies plus data transfers
};

// Serves one connection and closes it. Never throws for network errors and
// never dies of a peer reset; emits request/reply/read/write/data_open/
// data_accept/transfer/work/sleep events, `timeout` when the client was too
// slow, and finally `close`.
ConnectionTotals serve_connection(const ConnectionContext& ctx);

}  // namespace sockscope::servers
