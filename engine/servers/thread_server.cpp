// The thread server: one thread per connection.
//
// The main thread only accepts: it takes a connection off the queue, starts a
// thread for it, and goes straight back to accept(). The new thread - named
// `conn-N`, so `top -H` and /proc/PID/task/TID/comm show whom it serves -
// serves that one client and ends. The main thread joins each finished thread,
// the way the fork server reaps each exited child.
//
// Lessons: a thread is much cheaper than a process (no copy of the address
// space: compare the memory per connection with the fork server); all threads
// share one memory, so shared state needs synchronization (the visitor
// counter: SITE COUNT / /count with --unsafe-counter loses updates, --mutex
// does not); and, as with fork, no natural upper bound (hence --max-threads).
//
// Shutdown: a process can be killed, a thread cannot - it has to be asked to
// return. SIGTERM makes the main loop write one byte into the stop pipe that
// every handler polls next to its socket, and shutdown(2) every live socket,
// so a handler blocked in read() or write() returns at once; then it joins them.
#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "servers/blocking_connection.h"
#include "servers/server.h"
#include "trace/gate.h"
#include "trace/ring.h"

namespace sockscope::servers {
namespace {

using trace::GateKind;
using trace::Kind;

// Handler threads that have finished and wait to be joined (the thread
// server's zombies): each pushes its connection id here, then writes the
// eventfd so the main loop wakes up and joins it - SIGCHLD's role in the fork
// server.
class FinishedThreads {
 public:
  FinishedThreads() : efd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (efd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  ~FinishedThreads() { close(efd_); }
  FinishedThreads(const FinishedThreads&) = delete;
  FinishedThreads& operator=(const FinishedThreads&) = delete;

  int fd() const { return efd_; }

  void push(std::uint32_t conn) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.push_back(conn);
    }
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(efd_, &one, sizeof one);
  }

  std::vector<std::uint32_t> take() {
    std::uint64_t count = 0;
    [[maybe_unused]] ssize_t n = read(efd_, &count, sizeof count);  // reset the eventfd
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::uint32_t> out;
    out.swap(done_);
    return out;
  }

 private:
  int efd_;
  std::mutex mutex_;
  std::vector<std::uint32_t> done_;
};

// Everything one handler thread does, from its first instruction to its end.
void run_handler(const ServerConfig& config, int fd, std::uint32_t conn, pid_t spawner, int stop_fd,
                 LiveConnections& live, FinishedThreads& finished) {
  // A name the kernel shows (15 characters at most): the thread list in
  // /proc/PID/task is how the lab sees which thread serves which client.
  std::string name = "conn-" + std::to_string(conn);
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
  const pid_t tid = gettid();
  // The thread announces itself (a = its own tid, b = the thread that spawned
  // it, text = its name): only it knows its tid without a round trip.
  trace::emit(Kind::spawn, conn, tid, spawner, name);

  // Serve the client with plain blocking calls. Blocking is fine here: only
  // this thread waits, every other client has its own.
  ConnectionContext ctx;
  ctx.fd = fd;
  ctx.conn = conn;
  ctx.protocol = config.protocol;
  ctx.root = config.root;
  ctx.request_timeout_ms = config.request_timeout_ms();  // a slow client's deadline
  ctx.stop_fd = stop_fd;  // shutdown wakes us out of poll()
  ctx.live = &live;       // and shutdown(2)s our socket if we are mid-write
  serve_connection(ctx);

  // Done: tell the main thread to join us. Our stack and thread slot stay
  // allocated until it does (like an unreaped child).
  // GATE exit: the thread returns from its start function; the kernel ends
  // the thread, and the main thread's join() will collect it.
  trace::gate(GateKind::exit, conn);
  trace::emit(Kind::thread_exit, conn, tid);
  finished.push(conn);
}

}  // namespace

int run_thread_server(const ServerConfig& config, const Listener& listener) {
  SignalPipe signals(/*watch_children=*/false);
  FinishedThreads finished;
  LiveConnections live;
  // The stop pipe: written once at shutdown and never drained, so every
  // handler polling its read end wakes up, however many there are.
  int stop[2];
  if (pipe2(stop, O_CLOEXEC) < 0) throw std::system_error(errno, std::generic_category(), "pipe2");

  // Handler threads not yet joined (alive or finished): conn -> thread.
  // Only the main thread touches this map.
  std::map<std::uint32_t, std::thread> threads;
  std::uint32_t next_conn = 1;
  const pid_t self = gettid();

  // join(): collect a finished thread. It has already returned, so this does
  // not block; it frees the thread's stack and its slot in the cap.
  auto join_finished = [&] {
    for (std::uint32_t conn : finished.take()) {
      auto it = threads.find(conn);
      if (it == threads.end()) continue;
      // GATE reap: pthread_join() collects the finished thread and frees its
      // stack - the thread server's waitpid().
      trace::gate(GateKind::reap, conn);
      it->second.join();
      threads.erase(it);
    }
  };

  // Signals go to the main thread only: handler threads start with
  // SIGTERM/SIGINT blocked (they inherit the mask at creation), so the main
  // loop's poll() is what the signal interrupts.
  sigset_t blocked, previous;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);

  // Clients turned away by the cap (see Refusals): never a wait in this loop.
  Refusals refusals(config.protocol);
  SpareDescriptor spare;  // out of descriptors, a client still hears 421/503
  for (;;) {
    // Sleep until a client arrives, a signal does, or a handler finished.
    pollfd fds[3] = {{listener.fd, POLLIN, 0}, {signals.fd(), POLLIN, 0}, {finished.fd(), POLLIN, 0}};
    int r = poll(fds, 3, refusals.timeout_ms());
    if (r < 0 && errno != EINTR) break;
    refusals.tick();
    if (fds[1].revents || SignalPipe::stop_requested()) {
      if (signals.drain().stop) break;
    }
    if (fds[2].revents) join_finished();
    if (!(fds[0].revents & POLLIN)) continue;

    // accept() in the main thread: its only job.
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

    // The cap: one thread per client, and without a cap a burst of clients
    // creates threads until memory (stacks) or the thread limit runs out.
    // A finished thread that is not yet joined still counts, so join first.
    join_finished();
    if (static_cast<int>(threads.size()) >= config.get(SettingId::max_threads)) {
      trace::emit(Kind::refuse, conn, static_cast<std::int64_t>(threads.size()), config.get(SettingId::max_threads));
      refusals.refuse(fd);
      continue;
    }

    // Start the thread. From here the new thread owns `fd`; the main thread
    // must not close it (unlike fork, there is only one copy of it).
    live.add(fd);
    // GATE spawn: pthread_create() (clone()) starts a new thread in this same
    // process, sharing all its memory and fds.
    trace::gate(GateKind::spawn, conn);
    pthread_sigmask(SIG_BLOCK, &blocked, &previous);
    try {
      threads.emplace(conn, std::thread(run_handler, std::cref(config), fd, conn, self, stop[0], std::ref(live),
                                        std::ref(finished)));
    } catch (const std::system_error& e) {
      // EAGAIN: out of threads (RLIMIT_NPROC, memory for stacks).
      trace::emit(Kind::error, conn, e.code().value(), 0, "thread");
      live.remove(fd);
      refusals.refuse(fd);
    }
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  }

  // Shutdown. Stop accepting first: with the listener closed the kernel
  // refuses new clients instead of queueing them.
  close(listener.fd);
  // Wake every handler: the stop pipe for those waiting in poll(), shutdown(2)
  // for those inside a send() or recv().
  const std::int64_t woken = static_cast<std::int64_t>(threads.size());
  char byte = 's';
  [[maybe_unused]] ssize_t n = write(stop[1], &byte, 1);
  live.shutdown_all();
  // Join them as they finish, for a bounded time.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!threads.empty() && std::chrono::steady_clock::now() < deadline) {
    pollfd p{finished.fd(), POLLIN, 0};
    poll(&p, 1, 50);
    join_finished();
  }
  // A handler that still has not returned cannot be killed on its own, and it
  // still uses `live`, `finished` and the stop pipe: end the whole process
  // now rather than free them under it. With the wake-ups above this should
  // not happen.
  if (!threads.empty()) {
    for (const auto& [conn, t] : threads) trace::emit(Kind::error, conn, ETIMEDOUT, 0, "thread not joined");
    trace::emit(Kind::server_stop, 0, woken);
    trace::emit(Kind::exit, 0, 0);
    std::fflush(stdout);
    _exit(0);
  }
  close(stop[0]);
  close(stop[1]);
  trace::emit(Kind::server_stop, 0, woken);
  return 0;
}

}  // namespace sockscope::servers
