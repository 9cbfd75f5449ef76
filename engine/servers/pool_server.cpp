// The pool server: N worker threads, started up front, take accepted
// connections from a bounded queue.
//
// The main thread accepts and puts each connection in the queue; a free worker
// takes it, serves it to the end, and comes back for the next. When every
// worker is busy, new connections wait in the queue - accepted by the kernel
// and by us, but nobody says hello yet. When the queue is full too, the
// newcomer is refused (421 / 503) at once instead of waiting forever.
//
// Lessons: a bounded number of threads (the pool never grows, whatever the
// load: --workers); pool exhaustion (N slow clients hold every worker and the
// rest queue up: try N+1 `SITE SLEEP 5000`); the queue as the place where
// latency accumulates (--queue); and the same shared-memory race as the thread
// server (SITE COUNT with --unsafe-counter).
#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
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

struct Accepted {
  int fd = -1;
  std::uint32_t conn = 0;
};

// The queue between the main thread (producer) and the workers (consumers).
// One mutex guards it; a condition variable lets idle workers sleep until
// there is work. Events about the queue are emitted under the mutex, so their
// order in the trace is the order the queue really changed in.
class ConnectionQueue {
 public:
  explicit ConnectionQueue(std::size_t capacity) : capacity_(capacity) {}

  // Main thread. False = full (the caller refuses the connection).
  bool push(const Accepted& a) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // A connection an idle worker will take at once never really waits, so
      // idle workers add to the room: with --queue 0 a connection is accepted
      // only when a worker is free.
      std::size_t room = capacity_ + idle_;
      if (items_.size() >= room) {
        trace::emit(Kind::refuse, a.conn, static_cast<std::int64_t>(items_.size()),
                    static_cast<std::int64_t>(capacity_));
        return false;
      }
      items_.push_back(a);
      // enqueue: a = depth after, b = the queue's capacity (--queue).
      trace::emit(Kind::enqueue, a.conn, static_cast<std::int64_t>(items_.size()),
                  static_cast<std::int64_t>(capacity_));
    }
    // Wake one sleeping worker (if any): one connection needs one worker.
    ready_.notify_one();
    return true;
  }

  // Worker `index`. Blocks until a connection is queued; false at shutdown.
  bool pop(int index, Accepted& out) {
    std::unique_lock<std::mutex> lock(mutex_);
    ++idle_;
    idle_changed_.notify_all();
    // wait() releases the mutex while asleep and retakes it on wake-up; the
    // predicate guards against spurious wake-ups.
    ready_.wait(lock, [&] { return stopping_ || !items_.empty(); });
    --idle_;
    if (stopping_) return false;
    out = items_.front();
    items_.pop_front();
    // dequeue: a = depth after, b = which worker took it.
    trace::emit(Kind::dequeue, out.conn, static_cast<std::int64_t>(items_.size()), index);
    return true;
  }

  // Waits (at most `limit`) until `n` workers wait for work: the pool is
  // ready before its first client, so the first clients find every worker
  // idle (the room push() counts) instead of racing the threads' start.
  void wait_idle(int n, std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_changed_.wait_for(lock, limit, [&] { return idle_ >= static_cast<std::size_t>(n) || stopping_; });
  }

  // Shutdown: wake every worker and hand back what never got served.
  std::deque<Accepted> stop() {
    std::deque<Accepted> left;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      left.swap(items_);
    }
    ready_.notify_all();
    return left;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable idle_changed_;
  std::deque<Accepted> items_;
  std::size_t capacity_;
  std::size_t idle_ = 0;
  bool stopping_ = false;
};

// One worker thread's whole life: announce itself, then take and serve
// connections until shutdown.
void run_worker(const ServerConfig& config, int index, ConnectionQueue& queue, LiveConnections& live,
                int stop_fd) {
  std::string name = "worker-" + std::to_string(index);
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
  // worker_start: a = index, b = tid, text = name (joins the /proc thread list).
  trace::emit(Kind::worker_start, 0, index, gettid(), name);

  Accepted a;
  while (queue.pop(index, a)) {
    // GATE dequeue: this worker has just taken connection a.conn off the
    // queue (its condition variable woke it, the mutex is released again)
    // and is about to serve it.
    trace::gate(GateKind::dequeue, a.conn);
    // Serve it to the end with blocking calls. While we do, this worker is
    // gone from the pool: a slow client costs one worker for its whole visit.
    ConnectionContext ctx;
    ctx.fd = a.fd;
    ctx.conn = a.conn;
    ctx.protocol = config.protocol;
    ctx.root = config.root;
    ctx.request_timeout_ms = config.request_timeout_ms();  // a slow client's deadline
    ctx.stop_fd = stop_fd;
    ctx.live = &live;
    serve_connection(ctx);  // closes the socket and emits `close`: we are idle again
  }
  trace::emit(Kind::worker_exit, 0, index, 0);
}

}  // namespace

int run_pool_server(const ServerConfig& config, const Listener& listener) {
  SignalPipe signals(/*watch_children=*/false);
  ConnectionQueue queue(static_cast<std::size_t>(config.get(SettingId::queue)));
  LiveConnections live;
  int stop[2];
  if (pipe2(stop, O_CLOEXEC) < 0) throw std::system_error(errno, std::generic_category(), "pipe2");

  // Start the pool before the first client: the cost of creating threads is
  // paid once, not per connection. Workers inherit a mask with SIGTERM and
  // SIGINT blocked, so signals reach the main thread's poll().
  sigset_t blocked, previous;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  pthread_sigmask(SIG_BLOCK, &blocked, &previous);
  std::vector<std::thread> workers;
  for (int i = 0; i < config.get(SettingId::workers); ++i) {
    try {
      workers.emplace_back(run_worker, std::cref(config), i, std::ref(queue), std::ref(live), stop[0]);
    } catch (const std::system_error& e) {
      trace::emit(Kind::error, 0, e.code().value(), 0, "worker thread");
      break;
    }
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  // Bounded: a worker held at a gate (stepping) must not keep us from accepting.
  queue.wait_idle(static_cast<int>(workers.size()), std::chrono::seconds(1));

  std::uint32_t next_conn = 1;
  // Clients turned away by a full queue (see Refusals): never a wait here.
  Refusals refusals(config.protocol);
  SpareDescriptor spare;  // out of descriptors, a client still hears 421/503
  while (!workers.empty()) {
    pollfd fds[2] = {{listener.fd, POLLIN, 0}, {signals.fd(), POLLIN, 0}};
    int r = poll(fds, 2, refusals.timeout_ms());
    if (r < 0 && errno != EINTR) break;
    refusals.tick();
    if (fds[1].revents || SignalPipe::stop_requested()) {
      if (signals.drain().stop) break;
    }
    if (!(fds[0].revents & POLLIN)) continue;

    // accept() in the main thread, then straight into the queue: the main
    // thread never serves anyone, so it is always ready for the next accept.
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

    // Listed as live before a worker can see it, so shutdown reaches it.
    live.add(fd);
    // GATE enqueue: push the connection onto the queue under its mutex and
    // signal the condition variable, waking one idle worker.
    trace::gate(GateKind::enqueue, conn);
    if (!queue.push(Accepted{fd, conn})) {
      // Every worker busy and the queue full: turn the client away now, which
      // is kinder than letting it wait with no bound (push emitted `refuse`).
      live.remove(fd);
      refusals.refuse(fd);
    }
  }

  // Shutdown. Stop accepting, then wake the idle workers (stop()), the busy
  // ones blocked in poll() (the stop pipe) and in send()/recv() (shutdown(2)).
  close(listener.fd);
  const std::int64_t woken = static_cast<std::int64_t>(workers.size());
  for (const Accepted& a : queue.stop()) {
    // Accepted but never served: close them; the client sees the connection end.
    live.remove(a.fd);
    close(a.fd);
    trace::emit(Kind::close, a.conn, 0, 0);
  }
  char byte = 's';
  [[maybe_unused]] ssize_t n = write(stop[1], &byte, 1);
  live.shutdown_all();
  // Every worker returns promptly now; join() waits for each.
  for (auto& t : workers) t.join();
  close(stop[0]);
  close(stop[1]);
  trace::emit(Kind::server_stop, 0, woken);
  return 0;
}

}  // namespace sockscope::servers
