// The prefork server: a fixed set of worker processes, forked before the first
// client arrives, each accepting on the one shared listening socket.
//
// The master opens the listener (serve_command did), forks --workers N
// copies of itself and from then on only supervises: it never accepts. Each
// worker sits in accept() on the SAME socket (inherited across fork); the
// kernel hands each new connection to exactly one of them. Which worker took
// a connection is visible in the event stream: the accept event's pid.
//
// Lessons: bounded processes (N workers, however many clients: the fix for the
// fork server's unbounded growth); the price of that bound (N slow clients
// occupy every worker and the next client waits in the backlog); the
// "thundering herd" (all idle workers wait on one socket); supervision (a
// worker that dies is replaced, and you can watch it happen).
//
// This file also holds the master that the hybrid architecture reuses
// (run_prefork_master in prefork.h): only what a worker runs differs.
#include "servers/prefork.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <new>
#include <system_error>
#include <vector>

#include "servers/blocking_connection.h"
#include "trace/gate.h"
#include "trace/ring.h"

namespace sockscope::servers {
namespace {

using trace::Kind;
using Clock = std::chrono::steady_clock;

// A worker that dies this soon after its fork is respawned with a delay, so a
// worker that crashes at once cannot turn the master into a fork bomb.
constexpr auto kMinWorkerLife = std::chrono::milliseconds(1000);
constexpr auto kRespawnDelay = std::chrono::milliseconds(250);

struct WorkerSlot {
  pid_t pid = 0;               // 0 = no worker in this slot right now
  Clock::time_point forked{};  // when the current worker was forked
  Clock::time_point respawn_at{};
  bool respawn_pending = false;
};

}  // namespace

SharedCounter::SharedCounter() {
  // MAP_SHARED | MAP_ANONYMOUS: memory that fork() does NOT copy-on-write;
  // parent and every worker see the same page. Created before the first fork.
  void* p = mmap(nullptr, sizeof(std::atomic<std::uint32_t>), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap shared counter");
  static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "a cross-process atomic must be lock-free");
  value_ = new (p) std::atomic<std::uint32_t>(1);
}

SharedCounter::~SharedCounter() {
  if (value_) munmap(value_, sizeof(std::atomic<std::uint32_t>));
}

int run_prefork_master(const ServerConfig& config, const Listener& listener, const WorkerBody& body,
                       const ForkHooks& hooks) {
  // SIGCHLD tells the master a worker died; SIGTERM tells it to stop. Both
  // arrive through the self-pipe and are handled below in ordinary code.
  SignalPipe signals(/*watch_children=*/true);
  const pid_t self = getpid();
  std::vector<WorkerSlot> slots(static_cast<std::size_t>(config.get(SettingId::workers)));

  auto fork_worker = [&](int index) {
    WorkerSlot& slot = slots[static_cast<std::size_t>(index)];
    slot.respawn_pending = false;
    // Tell Asio (hybrid) that a fork is coming, so its internal state (the
    // epoll set, the wake-up pipe) can be re-created on the child's side.
    if (hooks.prepare) hooks.prepare();
    pid_t pid = fork();
    if (pid < 0) {
      if (hooks.parent) hooks.parent();
      trace::emit(Kind::error, 0, errno, index, "fork worker");
      slot.respawn_pending = true;
      slot.respawn_at = Clock::now() + kRespawnDelay;
      return;
    }
    if (pid == 0) {
      // The worker. It keeps the listener: accepting on it is its whole job.
      // The signal pipe belongs to the master; default dispositions mean the
      // master's SIGTERM ends a blocking worker (an event loop worker installs
      // its own handler in its body).
      signals.release_in_child();
      // If the master dies, even by SIGKILL, the kernel kills the workers too.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != self) _exit(1);
      if (hooks.child) hooks.child();
      // conn 0 on child_start and fork: this process serves no one connection,
      // it is a worker (the session model tells workers from children this way).
      trace::emit(Kind::child_start, 0, self);
      trace::emit(Kind::worker_start, 0, index);
      int status = body(index);
      trace::emit(Kind::exit, 0, status);
      // _exit: never run the master's atexit handlers or destructors twice.
      _exit(status);
    }
    if (hooks.parent) hooks.parent();
    slot.pid = pid;
    slot.forked = Clock::now();
    trace::emit(Kind::fork, 0, pid, index);
  };

  // Reaps every exited worker and schedules its replacement.
  auto reap_workers = [&](bool replace) {
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      trace::emit(Kind::reap, 0, pid, status);
      for (std::size_t i = 0; i < slots.size(); ++i) {
        if (slots[i].pid != pid) continue;
        trace::emit(Kind::worker_exit, 0, static_cast<std::int64_t>(i), status);
        slots[i].pid = 0;
        if (replace) {
          // Supervision: keep N workers. A worker that lived long gets an
          // immediate successor; one that died at once, a delayed one.
          bool crashed_fast = Clock::now() - slots[i].forked < kMinWorkerLife;
          slots[i].respawn_pending = true;
          slots[i].respawn_at = Clock::now() + (crashed_fast ? kRespawnDelay : Clock::duration::zero());
        }
      }
    }
  };

  // Fork all workers before serving anyone: the "pre" in prefork.
  for (int i = 0; i < config.get(SettingId::workers); ++i) fork_worker(i);

  bool stop = false;
  while (!stop) {
    // Sleep until a signal arrives, or until a delayed respawn is due.
    int timeout_ms = -1;
    auto now = Clock::now();
    for (const auto& s : slots) {
      if (!s.respawn_pending) continue;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(s.respawn_at - now).count();
      int ms = left < 0 ? 0 : static_cast<int>(left);
      timeout_ms = timeout_ms < 0 ? ms : std::min(timeout_ms, ms);
    }
    pollfd pfd{signals.fd(), POLLIN, 0};
    int r = poll(&pfd, 1, timeout_ms);
    if (r < 0 && errno != EINTR) break;
    SignalPipe::Pending p = signals.drain();
    if (p.child) reap_workers(/*replace=*/!p.stop);
    if (p.stop) break;
    now = Clock::now();
    for (std::size_t i = 0; i < slots.size(); ++i) {
      if (slots[i].respawn_pending && slots[i].respawn_at <= now) fork_worker(static_cast<int>(i));
    }
  }

  // Shutdown: the master closes its copy of the listener (the workers still
  // hold theirs until they exit), then asks each worker to stop.
  close(listener.fd);
  reap_workers(/*replace=*/false);
  int signalled = 0;
  for (const auto& s : slots) {
    if (s.pid > 0 && kill(s.pid, SIGTERM) == 0) ++signalled;
  }
  auto deadline = Clock::now() + std::chrono::seconds(2);
  auto alive = [&] {
    for (const auto& s : slots) {
      if (s.pid > 0) return true;
    }
    return false;
  };
  while (alive() && Clock::now() < deadline) {
    reap_workers(false);
    if (!alive()) break;
    timespec ts{0, 10 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  // Stragglers (a worker stuck in SITE WORK ignores nothing, but may be slow):
  // SIGKILL and wait for each, so no worker outlives the master.
  for (auto& s : slots) {
    if (s.pid <= 0) continue;
    kill(s.pid, SIGKILL);
    int status = 0;
    if (waitpid(s.pid, &status, 0) == s.pid) {
      trace::emit(Kind::reap, 0, s.pid, status);
      trace::emit(Kind::worker_exit, 0, static_cast<std::int64_t>(&s - slots.data()), status);
    }
    s.pid = 0;
  }
  trace::emit(Kind::server_stop, 0, signalled);
  return 0;
}

// A prefork worker: accept on the shared socket, serve the connection with
// blocking calls, accept again. One client at a time per worker.
static int blocking_worker(const ServerConfig& config, const Listener& listener, SharedCounter& counter,
                           int index) {
  // The worker's own signal handling: SIGTERM must end the accept() wait
  // cleanly (not kill us mid-reply), so it gets a pipe of its own.
  SignalPipe signals(/*watch_children=*/false);
  SpareDescriptor spare;  // out of descriptors, a client still hears 421/503
  for (;;) {
    pollfd fds[2] = {{listener.fd, POLLIN, 0}, {signals.fd(), POLLIN, 0}};
    int r = poll(fds, 2, -1);
    if (r < 0 && errno != EINTR) break;
    if (fds[1].revents || SignalPipe::stop_requested()) {
      if (signals.drain().stop) break;
    }
    if (!(fds[0].revents & POLLIN)) continue;
    // Every idle worker was woken by the same new connection (the thundering
    // herd); accept4 gives it to one of them, the others get EAGAIN (the
    // listener is non-blocking for that reason) and go back to waiting.
    // GATE accept: every worker poll() woke stands here; accept4() hands the
    // connection to the first one released, the rest get EAGAIN.
    trace::gate(trace::GateKind::accept, 0);
    int fd = accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      if (error != EAGAIN && error != EWOULDBLOCK && error != EINTR) {
        trace::emit(Kind::error, 0, error, index, "accept");
        if (error == EMFILE || error == ENFILE)
          spare.refuse_if_out_of_descriptors(error, listener.fd, config.protocol, counter.next());
      }
      continue;
    }
    // The id comes from the shared counter: unique across all workers.
    std::uint32_t conn = counter.next();
    trace::emit(Kind::accept, conn, peer_port(fd), fd);
    trace::emit(Kind::dequeue, conn, 0, index);
    ConnectionContext ctx;
    ctx.fd = fd;
    ctx.conn = conn;
    ctx.protocol = config.protocol;
    ctx.root = config.root;
    ctx.request_timeout_ms = config.request_timeout_ms();  // a slow client's deadline
    ctx.stop_fd = signals.fd();
    serve_connection(ctx);
    if (SignalPipe::stop_requested()) break;
  }
  return 0;
}

int run_prefork_server(const ServerConfig& config, const Listener& listener) {
  // Non-blocking listener: with N workers polling one socket, all wake for
  // each connection but only one accept() succeeds; the others must get
  // EAGAIN back instead of blocking in accept() (where SIGTERM could not reach
  // them through poll).
  int flags = fcntl(listener.fd, F_GETFL);
  fcntl(listener.fd, F_SETFL, flags | O_NONBLOCK);
  // Created before the first fork, so every worker shares it.
  SharedCounter counter;
  // No Asio in a blocking prefork worker, so no notify_fork hooks.
  return run_prefork_master(
      config, listener, [&](int index) { return blocking_worker(config, listener, counter, index); }, ForkHooks{});
}

}  // namespace sockscope::servers
