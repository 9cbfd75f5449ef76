// The hybrid server: prefork workers, each running an event loop. The shape
// of nginx: a few processes (one per core, for isolation and for using every
// CPU) and, inside each, one thread multiplexing thousands of connections.
//
// The master builds the io_context and registers the listening socket with it
// BEFORE forking, then forks --workers N copies that each run that loop
// (prefork.h does the forking and the supervision, exactly as for prefork).
// Every worker accepts on the same listening socket, with Asio's
// async_accept. Each worker's epoll set holds the listener with
// EPOLLEXCLUSIVE, as nginx's do: a new client wakes one sleeping worker, not
// every one (the thundering herd). A worker busy with handlers still sees
// the listener ready on its next turn, so the accept() inside the reactors
// can race; only the winner runs a handler and serves the connection to its
// end.
//
// Lesson: why Asio has notify_fork. An io_context owns kernel objects - an
// epoll instance, an eventfd to wake it, a timerfd - and fork() copies only
// their descriptor NUMBERS: parent and children then share ONE epoll set.
// io_context::notify_fork(fork_child) makes the child build its own epoll
// set and re-register its descriptors there. With --no-notify-fork we skip
// that: every worker adds its connections to the one shared set, epoll reports
// one worker's socket to another worker (whose memory at that address means
// something else), and wake-ups and timers go to the wrong process. Clients
// hang or are dropped; the event log shows readiness with no completion.
#include <unistd.h>

#include "servers/event_loop.h"
#include "servers/prefork.h"
#include "trace/ring.h"

namespace sockscope::servers {

int run_hybrid_server(const ServerConfig& config, const Listener& listener) {
  // Connection ids unique across workers: one counter in shared memory.
  SharedCounter counter;
  // One io_context, created by the master, inherited by every worker.
  asio::io_context io(1);
  // The loop owns a duplicate of the listener; the master's prefork code
  // closes the original at shutdown.
  EventLoopServer loop(io, config, listener, dup(listener.fd), [&counter] { return counter.next(); },
                       AcceptWay::asio_accept);

  ForkHooks hooks;
  if (config.on(SettingId::notify_fork)) {
    // Around every fork, exactly as Asio's documentation asks: prepare in the
    // parent before, then parent or child after.
    hooks.prepare = [&io] { io.notify_fork(asio::execution_context::fork_prepare); };
    hooks.parent = [&io] { io.notify_fork(asio::execution_context::fork_parent); };
    hooks.child = [&io] { io.notify_fork(asio::execution_context::fork_child); };
  }
  // Each worker: close the master's copy of the listener (the loop's duplicate
  // is the one it accepts on), then run the loop until SIGTERM.
  return run_prefork_master(
      config, listener,
      [&](int index) {
        close(listener.fd);
        return loop.run(index);
      },
      hooks);
}

}  // namespace sockscope::servers
