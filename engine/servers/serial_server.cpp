// The serial server: accept one connection, serve it to the end, close it,
// and only then accept the next. The baseline every other architecture is
// measured against.
//
// Lesson: while one client is being served, everyone else waits in the
// kernel's accept queue (the listen backlog). Their TCP handshakes complete -
// the kernel does that on its own - but nobody reads their bytes. One slow or
// silent client, or one `SITE SLEEP 5000`, stalls every other client. The
// request deadline (request_timeout) bounds how long a client that trickles
// a command byte by byte (slowloris) can do that: each such client holds the
// whole server for that long, then gets its 421/408 and is closed.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "servers/blocking_connection.h"
#include "servers/server.h"
#include "trace/gate.h"
#include "trace/ring.h"

namespace sockscope::servers {

int run_serial_server(const ServerConfig& config, const Listener& listener) {
  using trace::Kind;
  // Signals only set a flag and write a byte into a pipe; we watch the pipe
  // next to the listener so SIGTERM wakes the loop at once.
  SignalPipe signals(/*watch_children=*/false);
  std::uint32_t next_conn = 1;
  SpareDescriptor spare;  // out of descriptors, a client still hears 421/503

  for (;;) {
    // Wait for a new connection or a signal. poll() rather than a bare
    // accept() so that shutdown is never stuck behind an empty queue.
    pollfd fds[2] = {{listener.fd, POLLIN, 0}, {signals.fd(), POLLIN, 0}};
    int r = poll(fds, 2, -1);
    if (r < 0 && errno != EINTR) break;
    if (fds[1].revents || SignalPipe::stop_requested()) {
      if (signals.drain().stop) break;
    }
    if (!(fds[0].revents & POLLIN)) continue;

    // accept(): take the oldest finished handshake off the queue. This is the
    // only moment the serial server looks at new clients at all.
    // GATE accept: accept4() takes the next finished handshake off the
    // listening socket's queue and returns a new socket for that one client.
    trace::gate(trace::GateKind::accept, next_conn);
    int fd = accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // ECONNABORTED (the client gave up in the queue) or EMFILE: not fatal.
      const int error = errno;
      trace::emit(Kind::error, 0, error, 0, "accept");
      if (spare.refuse_if_out_of_descriptors(error, listener.fd, config.protocol, next_conn)) ++next_conn;
      continue;
    }
    std::uint32_t conn = next_conn++;
    trace::emit(Kind::accept, conn, peer_port(fd), fd);

    // Handle it right here, in the only thread there is. Until this returns,
    // nobody else gets a greeting: that is the whole lesson of this file.
    ConnectionContext ctx;
    ctx.fd = fd;
    ctx.conn = conn;
    ctx.protocol = config.protocol;
    ctx.root = config.root;
    ctx.request_timeout_ms = config.request_timeout_ms();  // the longest one slow command holds us all
    ctx.stop_fd = signals.fd();  // a SIGTERM ends even a long-lived client
    serve_connection(ctx);       // closes fd when the client is done
  }

  // Shutdown: close the listener so new clients are refused by the kernel;
  // there are no children to signal.
  close(listener.fd);
  trace::emit(Kind::server_stop, 0, 0);
  return 0;
}

}  // namespace sockscope::servers
