// The fork server: one child process per connection.
//
// The parent only accepts: it takes a connection off the queue, fork()s, and
// goes straight back to accept(). The child - a copy of the parent, sharing
// the accepted socket - serves that one client and exits. The parent learns
// of each exit through SIGCHLD and collects the child's exit status with
// waitpid(); until it does, the dead child is a zombie.
//
// Lessons: isolation by copy (a crash or a SITE WORK in one child cannot hurt
// another client); the cost of a process per client; no natural upper bound
// (hence --max-children); and zombies when the parent does not reap
// (--reap off shows them in the process tree, state Z; turning reaping on while
// the server runs - SIGUSR1 from the lab - collects them at once).
//
// Cap rule: a child counts against --max-children from fork() until the parent
// reaps it. An exited but unreaped child still holds its process-table slot
// (pid, exit status, rusage), so with --no-reap zombies fill the cap and the
// server ends up refusing everyone - the real cost of forgetting waitpid().
//
// The accept-fork-reap loop below is shared with the other process-per-
// connection designs (forking.h): inetd's child execs a handler program,
// shotgun's child forks again for every request. Only what the child does
// after its first steps differs.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <map>

#include "servers/blocking_connection.h"
#include "servers/forking.h"
#include "servers/server.h"
#include "trace/gate.h"
#include "trace/ring.h"

namespace sockscope::servers {
namespace {

using trace::GateKind;
using trace::Kind;

// The children not yet reaped (alive or zombie): pid -> the connection it serves.
using ChildSet = std::map<pid_t, std::uint32_t>;

// Collects every child that has exited so far. WNOHANG: return at once when
// none has, so the accept loop never blocks here. A loop, because one SIGCHLD
// may stand for several exits (signals of one kind do not queue).
void reap_exited(ChildSet& children) {
  for (;;) {
    // Peek first (WNOWAIT): which child has exited, without collecting it, so
    // that while we stand at the reap gate the child is still a zombie.
    siginfo_t info{};
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) break;
    pid_t pid = info.si_pid;
    auto it = children.find(pid);
    std::uint32_t conn = it != children.end() ? it->second : 0;
    // GATE reap: waitpid() collects the dead child's exit status and frees its
    // process-table slot; until then it is a zombie (state Z).
    trace::gate(GateKind::reap, conn);
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) != pid) break;
    if (it != children.end()) children.erase(it);
    trace::emit(Kind::reap, conn, pid, status);
  }
}

// The child's first steps, from its first instruction after fork(); then
// `body` serves the client. It never returns into the parent's accept loop.
[[noreturn]] void run_child(const Listener& listener, SignalPipe& signals, int fd, std::uint32_t conn,
                            pid_t parent, const ChildBody& body) {
  // The signal pipe and handlers belong to the parent. With default dispositions
  // the parent's SIGTERM at shutdown simply ends this child.
  signals.release_in_child();
  // Close our copy of the listener: the child serves one client and must never
  // accept another. It also means the listening socket is owned by the parent
  // alone, so it really closes when the parent closes it.
  close(listener.fd);
  // If the parent dies (even by SIGKILL), the kernel kills us too: no orphan
  // keeps serving after the server is gone. The getppid() check closes the race
  // where the parent died before prctl() took effect.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  // GATE child_start: the new process runs its first line of its own: fork()
  // returned 0 here, and it holds a copy of the accepted socket.
  trace::gate(GateKind::child_start, conn);
  trace::emit(Kind::child_start, conn, parent);
  body(fd, conn);
  _exit(0);  // a body ends with _exit itself; this is only the backstop
}

// The fork server's child: serve the one client, then exit.
[[noreturn]] void serve_and_exit(const ServerConfig& config, int fd, std::uint32_t conn) {
  // Serve the one client with plain blocking calls: in its own process, a slow
  // client blocks nobody else.
  ConnectionContext ctx;
  ctx.fd = fd;
  ctx.conn = conn;
  ctx.protocol = config.protocol;
  ctx.root = config.root;
  ctx.request_timeout_ms = config.request_timeout_ms();  // a slow client's deadline
  serve_connection(ctx);

  // _exit, not exit: the child is a copy of the parent, and exit() would run the
  // parent's atexit handlers and static destructors a second time. Our status
  // becomes the `status` the parent's waitpid() reads; until then we are a zombie.
  // GATE exit: _exit() ends this process; the kernel closes its fds and sends
  // the parent SIGCHLD.
  trace::gate(GateKind::exit, conn);
  trace::emit(Kind::exit, conn, 0);
  _exit(0);
}

}  // namespace

int run_fork_server(const ServerConfig& config, const Listener& listener) {
  return run_forking_server(config, listener,
                            [&config](int fd, std::uint32_t conn) { serve_and_exit(config, fd, conn); });
}

int run_forking_server(const ServerConfig& config, const Listener& listener, const ChildBody& body) {
  // SIGCHLD wakes the main loop through the self-pipe; the reaping itself
  // happens below in ordinary code. With reaping off we do not even listen
  // for it: SIGCHLD keeps its default action (ignore, but do NOT auto-reap -
  // that would be SIG_IGN or SA_NOCLDWAIT), so exited children stay zombies.
  bool reap = config.on(SettingId::reap);
  SignalPipe signals(/*watch_children=*/reap);
  ChildSet children;
  // Clients turned away by the cap, their sockets held a moment so the 421
  // arrives whole (see Refusals): never a wait in this loop.
  Refusals refusals(config.protocol);
  SpareDescriptor spare;  // out of descriptors, a client still hears 421/503
  std::uint32_t next_conn = 1;
  const pid_t self = getpid();

  for (;;) {
    // Sleep until a client arrives or a signal (SIGCHLD, SIGTERM) does.
    pollfd fds[2] = {{listener.fd, POLLIN, 0}, {signals.fd(), POLLIN, 0}};
    int r = poll(fds, 2, refusals.timeout_ms());
    if (r < 0 && errno != EINTR) break;
    refusals.tick();
    if (fds[1].revents || SignalPipe::stop_requested()) {
      SignalPipe::Pending p = signals.drain();
      if (p.reap_now && !reap) {
        // The teacher turned reaping on: from now on we wait for every child,
        // starting with the zombies that piled up meanwhile.
        reap = true;
        signals.watch_children();
        reap_exited(children);
      }
      if (p.child && reap) reap_exited(children);
      if (p.stop) break;
    }
    if (!(fds[0].revents & POLLIN)) continue;

    // accept() in the parent: the only job the parent has.
    // GATE accept: accept4() takes the next finished handshake off the
    // listening socket's queue and returns a new socket for that one client.
    trace::gate(GateKind::accept, next_conn);
    int fd = accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      trace::emit(Kind::error, 0, error, 0, "accept");
      if (spare.refuse_if_out_of_descriptors(error, listener.fd, config.protocol, next_conn)) ++next_conn;
      continue;
    }
    std::uint32_t conn = next_conn++;
    trace::emit(Kind::accept, conn, peer_port(fd), fd);

    // The cap: without it, a burst of clients forks without bound until the
    // machine runs out of memory or pids. Refuse politely instead (421 / 503).
    // Reap first: a child may have exited a moment ago, its SIGCHLD not yet
    // seen, and it should not be counted against the newcomer.
    if (reap) reap_exited(children);
    const int max_children = config.get(SettingId::max_children);
    if (static_cast<int>(children.size()) >= max_children) {
      trace::emit(Kind::refuse, conn, static_cast<std::int64_t>(children.size()), max_children);
      refusals.refuse(fd);
      continue;
    }

    // fork(): the child gets a copy of everything, including the accepted
    // socket `fd` and the listener. From here the two processes run the same
    // code and tell themselves apart by fork()'s return value.
    // GATE fork: fork() copies this whole process; both copies return from it.
    trace::gate(GateKind::fork, conn);
    pid_t pid = fork();
    if (pid < 0) {
      // EAGAIN: out of processes (RLIMIT_NPROC) - the failure the cap prevents.
      trace::emit(Kind::error, conn, errno, 0, "fork");
      refusals.refuse(fd);
      continue;
    }
    if (pid == 0) {
      refusals.close_copies_in_child();  // the refused clients are the parent's
      spare.close_in_child();            // and so is the spare descriptor
      run_child(listener, signals, fd, conn, self, body);
    }

    // Parent: close our copy of the accepted socket. The connection lives on in
    // the child; if we kept our copy, the client would never see the
    // connection close when the child is done, and we would leak one fd per client.
    close(fd);
    children.emplace(pid, conn);
    trace::emit(Kind::fork, conn, pid);
  }

  // Shutdown. Stop accepting first: with the listener closed the kernel refuses
  // new clients instead of queueing them.
  close(listener.fd);
  // Collect the children that already exited (zombies, with reaping off too), so
  // we only signal the living.
  reap_exited(children);
  int signalled = 0;
  for (const auto& [pid, conn] : children) {
    if (kill(pid, SIGTERM) == 0) ++signalled;
  }
  // Give them a moment to finish, reaping as they go ...
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!children.empty() && std::chrono::steady_clock::now() < deadline) {
    reap_exited(children);
    if (children.empty()) break;
    timespec ts{0, 10 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  // ... then SIGKILL the stragglers and wait for each, so none outlives us.
  for (const auto& [pid, conn] : children) {
    kill(pid, SIGKILL);
    int status = 0;
    if (waitpid(pid, &status, 0) == pid) trace::emit(Kind::reap, conn, pid, status);
  }
  children.clear();
  trace::emit(Kind::server_stop, 0, signalled);
  return 0;
}

}  // namespace sockscope::servers
