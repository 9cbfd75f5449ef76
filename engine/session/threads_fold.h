// Folds for the threads lesson (issue 5): the thread lanes of each server
// process, the pool's queue, the shared visitor counter, and memory per
// connection. Like every view of a Session these are folds over its store
// (events plus /proc snapshots) up to one instant, so a replayed file gives
// the same picture as the live run. They read the Session through const
// access only; call them under SharedSession::read() like model().
//
// Where the facts come from:
//  - which threads exist: /proc snapshots (ProcessView::tids) plus the
//    threads' own events (spawn, worker_start, thread_exit, worker_exit);
//  - a thread's name: its `spawn` (text = conn-N) or `worker_start` (text =
//    worker-K) event; the main thread carries the process's comm;
//  - what it is doing now: its latest event (accept → accepting, reply →
//    waiting for the client, lock_wait → waiting for the lock, ...); a
//    master that forked workers (fork with conn 0) and never accepted is
//    supervising, not accepting, whatever its listen said;
//  - the counter: counter_read / counter_write (a = value, write's b = the
//    value that was in memory just before the write) and the lock events.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "session/session.h"

namespace sockscope::session {

enum class ThreadRole : std::uint8_t {
  main,     // the process's first thread (tid == pid): accepts in thread/pool, serves in a fork child
  handler,  // thread server: one per connection (spawn)
  worker,   // pool: started up front (worker_start)
  other,    // seen in /proc only (no event named it)
};
std::string_view thread_role_name(ThreadRole r);

enum class ThreadActivity : std::uint8_t {
  unknown,         // no event from it yet
  accepting,       // main thread, back in poll()/accept()
  supervising,     // main thread of a master whose prestarted workers accept (prefork, hybrid): never accepts
  waiting_client,  // replied; blocked reading the client's next bytes
  working,         // handling a request (after read/request, during a transfer)
  burning_cpu,     // SITE WORK / /work
  sleeping,        // SITE SLEEP / /sleep
  waiting_lock,    // lock_wait: blocked on the counter's mutex
  holding_lock,    // lock_acquire .. unlock
  race_window,     // unsafe counter: read done, write not yet (the lost-update window)
  idle_in_pool,    // pool worker waiting on the queue
  closing,         // closed its connection, about to end
  exited,          // thread_exit / worker_exit (or the process is gone)
};
std::string_view thread_activity_name(ThreadActivity a);

// One thread: a lane in the threads view.
struct ThreadLane {
  pid_t pid = 0;
  pid_t tid = 0;
  std::string name;        // conn-N, worker-K, or the process comm for the main thread
  ThreadRole role = ThreadRole::other;
  int worker_index = -1;   // pool workers
  ThreadActivity activity = ThreadActivity::unknown;
  std::uint64_t activity_since_ns = 0;
  std::uint32_t conn = 0;  // connection it serves now (0 = none)
  std::uint32_t conns_served = 0;
  std::uint64_t first_ns = 0;  // first event or snapshot naming it
  std::uint64_t exit_ns = 0;   // thread_exit / worker_exit (0 = not exited)
  bool in_proc = false;        // listed in the latest /proc snapshot of its process
  bool alive() const { return activity != ThreadActivity::exited && exit_ns == 0; }
  bool operator==(const ThreadLane&) const = default;
};

// One server process and its threads, main thread first, then by first appearance.
struct ProcessThreads {
  pid_t pid = 0;
  ProcessRole role = ProcessRole::unknown;
  std::string comm;
  bool alive = false;
  int threads_in_proc = 0;  // /proc's count at the latest snapshot
  double cpu_s = 0.0;       // the whole process (/proc); per-thread CPU needs per-task sampling
  std::vector<ThreadLane> lanes;
  bool operator==(const ProcessThreads&) const = default;
};

// A pool server's queue at the instant: accepted connections that wait in
// user space for a worker thread (the kernel's accept backlog, before accept,
// is Model::backlog).
struct PoolQueueView {
  pid_t pid = 0;
  std::vector<std::uint32_t> waiting;  // connection ids queued now, oldest first
  // --queue: enqueue's or refuse's b, else the session's "queue" option; -1 = not known.
  std::int64_t capacity = -1;
  int workers = 0;                     // started and not exited
  int busy = 0;                        // workers serving a connection
  std::size_t peak_depth = 0;
  std::uint64_t depth_since_ns = 0;    // when the depth last changed (0 = never queued)
  std::uint64_t enqueued = 0;
  std::uint64_t refused = 0;
  std::size_t depth() const { return waiting.size(); }  // "N waiting in the queue"
  bool operator==(const PoolQueueView&) const = default;
};

// One lost update: a thread wrote read_value + 1 although the counter had
// already moved to overwritten_value since its read (another thread wrote in
// between); overwritten_value - read_value increments vanished.
struct LostUpdate {
  std::uint64_t ts_ns = 0;       // the stale write
  pid_t pid = 0;
  pid_t stale_tid = 0;           // the thread whose write was stale
  std::uint32_t stale_conn = 0;
  pid_t overwritten_tid = 0;     // the thread whose write it overwrote (0 = not found)
  std::uint32_t overwritten_conn = 0;
  std::int64_t read_value = 0;
  std::int64_t overwritten_value = 0;
  std::int64_t written_value = 0;
  bool operator==(const LostUpdate&) const = default;
};

// The visitor counter of one process (threads share one; each forked child has
// its own copy).
struct CounterView {
  pid_t pid = 0;
  ProcessRole role = ProcessRole::unknown;
  std::int64_t initial = 0;      // the first value read (the copy's start in a fork child)
  std::uint64_t increments = 0;  // counter_write events: visits counted
  std::int64_t actual = 0;       // the last value written (what memory holds)
  std::int64_t expected() const { return initial + static_cast<std::int64_t>(increments); }
  std::int64_t lost_total() const { return expected() - actual; }
  std::vector<LostUpdate> lost;  // every stale write, in time order
  bool mutex = false;            // lock events seen (--mutex)
  std::uint64_t lock_waits = 0;
  std::uint64_t total_lock_wait_ns = 0;
  std::uint64_t max_lock_wait_ns = 0;
  std::uint64_t last_ns = 0;
  bool operator==(const CounterView&) const = default;
};

// Memory of the server's processes, from /proc PSS (and RSS for contrast).
struct MemoryPerConnection {
  int processes = 0;              // server processes alive (listener, children, workers)
  int threads = 0;                // their threads
  std::uint64_t open_connections = 0;
  std::uint64_t pss_kb = 0;       // sum over those processes
  std::uint64_t rss_kb = 0;
  std::uint64_t baseline_pss_kb = 0;  // the listener alone, in the first snapshot that sampled it
  // (pss - baseline) / open connections; 0 when none are open.
  double pss_per_connection_kb = 0.0;
  double rss_per_connection_kb = 0.0;  // (rss - listener's first rss) / open: overstates fork (shared pages counted in full)
  bool operator==(const MemoryPerConnection&) const = default;
};

struct ThreadsModel {
  std::uint64_t at_ns = 0;
  std::vector<ProcessThreads> processes;  // server processes in order of appearance
  std::vector<PoolQueueView> queues;      // pool servers (processes with enqueue/dequeue/worker events)
  std::vector<CounterView> counters;      // processes that counted, in order of appearance
  std::uint64_t counter_increments = 0;   // summed over every process
  MemoryPerConnection memory;

  const ProcessThreads* find_process(pid_t pid) const;
  const ThreadLane* find_thread(pid_t tid) const;
  const CounterView* find_counter(pid_t pid) const;
  const PoolQueueView* find_queue(pid_t pid) const;
  bool operator==(const ThreadsModel&) const = default;
};

// The threads picture at `until_ns` (events and snapshots with ts <= it).
ThreadsModel fold_threads(const Session& session,
                          std::uint64_t until_ns = std::numeric_limits<std::uint64_t>::max());

}  // namespace sockscope::session
