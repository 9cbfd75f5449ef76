// The shotgun server: a new process for every REQUEST, not every connection.
//
// The listener is the fork server's (forking.h): one process per connection.
// That connection process holds what must outlive a request - the protocol
// session (FTP login, current directory, a passive listener waiting for the
// next transfer) - and forks again for each request it reads: an HTTP
// request on a keep-alive connection, an FTP command line. The request child
// sends the reply (and the file, and burns the SITE WORK), then exits; the
// connection process waits for it, reaps it, and reads the next request.
//
// Lessons: every request starts from a clean copy of the connection's
// process, so nothing one request does to memory can leak into the next (the
// visitor counter shows it: each /count is counted in a fresh copy and
// forgotten with it); and the price of that cleanliness, a fork, an exit and
// a reap per request (compare req/s with the fork server on keep-alive).
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "servers/blocking_connection.h"
#include "servers/forking.h"
#include "trace/gate.h"
#include "trace/ring.h"

namespace sockscope::servers {
namespace {

using trace::GateKind;
using trace::Kind;

// One process per request, forked by the connection's process.
class ForkPerRequest final : public RequestProcess {
 public:
  int run(std::uint32_t conn, std::uint32_t request, const std::function<int()>& serve_request) override {
    const pid_t self = getpid();
    // GATE fork: the connection's process copies itself for this one request.
    trace::gate(GateKind::fork, conn);
    pid_t pid = fork();
    if (pid < 0) {
      // Out of processes: this request cannot be served, so neither can the
      // connection; the caller closes it.
      trace::emit(Kind::error, conn, errno, 0, "fork request");
      return 1;
    }
    if (pid == 0) {
      // The request's process dies with the connection's.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != self) _exit(1);
      // GATE child_start: a fresh copy of the connection's process, with its
      // socket, its session and its memory as they were before this request.
      trace::gate(GateKind::child_start, conn);
      trace::emit(Kind::child_start, conn, self, request);
      const int result = serve_request();
      // GATE exit: the request is answered; this copy, and everything the
      // request changed in memory, is gone.
      trace::gate(GateKind::exit, conn);
      trace::emit(Kind::exit, conn, result);
      _exit(result);
    }
    trace::emit(Kind::fork, conn, pid, request);
    // Wait for this one child: the next request on the connection must not be
    // answered before this one (the replies would overtake each other).
    // GATE reap: waitpid() blocks until the request's process has exited,
    // then collects its status.
    trace::gate(GateKind::reap, conn);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    trace::emit(Kind::reap, conn, pid, status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  }
};

// The connection's process: read requests, fork one process for each.
[[noreturn]] void serve_by_request(const ServerConfig& config, int fd, std::uint32_t conn) {
  ForkPerRequest per_request;
  ConnectionContext ctx;
  ctx.fd = fd;
  ctx.conn = conn;
  ctx.protocol = config.protocol;
  ctx.root = config.root;
  ctx.request_timeout_ms = config.request_timeout_ms();  // a slow client's deadline
  ctx.per_request = &per_request;
  serve_connection(ctx);
  // GATE exit: the connection is over; the listener reaps this process.
  trace::gate(GateKind::exit, conn);
  trace::emit(Kind::exit, conn, 0);
  _exit(0);
}

}  // namespace

int run_shotgun_server(const ServerConfig& config, const Listener& listener) {
  return run_forking_server(config, listener,
                            [&config](int fd, std::uint32_t conn) { serve_by_request(config, fd, conn); });
}

}  // namespace sockscope::servers
