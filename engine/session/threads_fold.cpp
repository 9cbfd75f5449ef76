// The threads folds (see threads_fold.h).
//
// Sections:
//   1. names, lookups
//   2. ThreadsFolder: one pass over the events, one small function per concern
//      (lanes and activity, the pool queue, the counter)
//   3. joining /proc (thread lists, liveness) and memory per connection
#include "session/threads_fold.h"

#include <algorithm>
#include <charconv>
#include <unordered_map>
#include <unordered_set>

namespace sockscope::session {

using trace::Event;
using trace::Kind;

// ---- 1. names, lookups --------------------------------------------------------

std::string_view thread_role_name(ThreadRole r) {
  switch (r) {
    case ThreadRole::main: return "main";
    case ThreadRole::handler: return "handler";
    case ThreadRole::worker: return "worker";
    case ThreadRole::other: break;
  }
  return "other";
}

std::string_view thread_activity_name(ThreadActivity a) {
  switch (a) {
    case ThreadActivity::unknown: return "?";
    case ThreadActivity::accepting: return "accepting";
    case ThreadActivity::supervising: return "supervising";
    case ThreadActivity::waiting_client: return "waiting for client";
    case ThreadActivity::working: return "working";
    case ThreadActivity::burning_cpu: return "burning CPU";
    case ThreadActivity::sleeping: return "sleeping";
    case ThreadActivity::waiting_lock: return "waiting for the lock";
    case ThreadActivity::holding_lock: return "holding the lock";
    case ThreadActivity::race_window: return "in the race window";
    case ThreadActivity::idle_in_pool: return "idle in the pool";
    case ThreadActivity::closing: return "closing";
    case ThreadActivity::exited: return "exited";
  }
  return "?";
}

const ProcessThreads* ThreadsModel::find_process(pid_t pid) const {
  for (const auto& p : processes)
    if (p.pid == pid) return &p;
  return nullptr;
}

const ThreadLane* ThreadsModel::find_thread(pid_t tid) const {
  // The newest lane with that tid: the kernel reuses tids of exited threads.
  const ThreadLane* found = nullptr;
  for (const auto& p : processes)
    for (const auto& l : p.lanes)
      if (l.tid == tid) found = &l;
  return found;
}

const CounterView* ThreadsModel::find_counter(pid_t pid) const {
  for (const auto& c : counters)
    if (c.pid == pid) return &c;
  return nullptr;
}

const PoolQueueView* ThreadsModel::find_queue(pid_t pid) const {
  for (const auto& q : queues)
    if (q.pid == pid) return &q;
  return nullptr;
}

// ---- 2. ThreadsFolder ---------------------------------------------------------

namespace {

bool is_client_kind(Kind k) {
  return k == Kind::client_connect || k == Kind::client_request || k == Kind::client_reply ||
         k == Kind::client_close || k == Kind::client_error;
}

class ThreadsFolder {
 public:
  explicit ThreadsFolder(const Model& model) : model_(model) {
    for (const auto& p : model.processes) {
      if (p.role != ProcessRole::client_sim) process(p.pid);
    }
  }

  void apply(const Event& e) {
    if (is_client_kind(e.kind)) return;
    const ProcessView* pv = model_.find_process(static_cast<pid_t>(e.pid));
    if (pv && pv->role == ProcessRole::client_sim) return;
    ProcessThreads& p = process(static_cast<pid_t>(e.pid));
    ThreadLane& lane = lane_for(p, e);
    if (lane.first_ns == 0) lane.first_ns = e.ts_ns;
    on_lane(lane, e);
    on_queue(p.pid, e);
    on_counter(p.pid, e);
  }

  ThreadsModel finish(const Session& session, std::uint64_t until_ns);

 private:
  struct CounterWork {
    std::size_t index = 0;  // into out_.counters
    std::unordered_map<pid_t, std::int64_t> read_value;   // tid -> its last counter_read
    std::unordered_map<pid_t, std::uint64_t> wait_since;  // tid -> its pending lock_wait
    // value -> who wrote it last (to name the thread a stale write overwrote)
    std::unordered_map<std::int64_t, std::pair<pid_t, std::uint32_t>> writer_of;
    // Lost updates whose overwritten write is not in the store yet: the two
    // threads' stores were nanoseconds apart and the other one's event was
    // stamped after ours. value -> indices into CounterView::lost.
    std::unordered_multimap<std::int64_t, std::size_t> unresolved;
  };
  struct QueueWork {
    PoolQueueView view;
    bool pool = false;  // evidence of a thread pool (enqueue, dequeue, a worker thread)
  };

  ProcessThreads& process(pid_t pid) {
    auto it = process_index_.find(pid);
    if (it != process_index_.end()) return out_.processes[it->second];
    process_index_.emplace(pid, out_.processes.size());
    ProcessThreads p;
    p.pid = pid;
    out_.processes.push_back(std::move(p));
    return out_.processes.back();
  }

  // The lane of the event's thread. A `spawn` or `worker_start` from a tid
  // whose lane already ended starts a new lane: the kernel reused the tid.
  ThreadLane& lane_for(ProcessThreads& p, const Event& e) {
    auto tid = static_cast<pid_t>(e.tid);
    auto& index = lane_index_[p.pid];
    auto it = index.find(tid);
    bool starts = e.kind == Kind::spawn || e.kind == Kind::worker_start;
    if (it != index.end() && !(starts && !p.lanes[it->second].alive())) return p.lanes[it->second];
    index[tid] = p.lanes.size();
    ThreadLane l;
    l.pid = p.pid;
    l.tid = tid;
    l.role = tid == p.pid ? ThreadRole::main : ThreadRole::other;
    p.lanes.push_back(std::move(l));
    return p.lanes.back();
  }

  static void set_activity(ThreadLane& l, ThreadActivity a, std::uint64_t ts) {
    if (l.activity != a) l.activity_since_ns = ts;
    l.activity = a;
  }

  // Where a main thread with no connection sits: in accept(), unless its
  // process forked workers that accept for it and never accepted itself.
  ThreadActivity idle_activity(pid_t pid) const {
    return supervisors_.count(pid) && !accepters_.count(pid) ? ThreadActivity::supervising
                                                             : ThreadActivity::accepting;
  }

  // `pid` forked a prestarted worker. Its main thread, if it looked like it
  // was accepting, was supervising all along.
  void supervisor(pid_t pid, std::uint64_t ts) {
    supervisors_.insert(pid);
    auto p = process_index_.find(pid);
    if (p == process_index_.end() || idle_activity(pid) != ThreadActivity::supervising) return;
    for (ThreadLane& main : out_.processes[p->second].lanes)
      if (main.tid == pid && main.activity == ThreadActivity::accepting) set_activity(main, ThreadActivity::supervising, ts);
  }

  // What the thread is doing now, from its latest event.
  void on_lane(ThreadLane& l, const Event& e) {
    // Events that mean "this thread serves e.conn".
    auto serving = [&] {
      if (e.conn != 0) l.conn = e.conn;
    };
    switch (e.kind) {
      case Kind::accept:
        accepters_.insert(l.pid);
        set_activity(l, ThreadActivity::accepting, e.ts_ns);
        break;
      case Kind::fork:
        // conn 0: a worker forked up front to accept in this process's place.
        if (e.conn == 0) supervisor(l.pid, e.ts_ns);
        set_activity(l, idle_activity(l.pid), e.ts_ns);
        break;
      case Kind::server_start:
      case Kind::listen:
      case Kind::refuse:
      case Kind::enqueue:
      case Kind::reap:
        set_activity(l, idle_activity(l.pid), e.ts_ns);
        break;
      case Kind::spawn:
        // Emitted by the new thread itself: a = its tid, text = its name.
        if (l.role != ThreadRole::main) l.role = ThreadRole::handler;
        l.name = std::string(e.text_view());
        serving();
        set_activity(l, ThreadActivity::working, e.ts_ns);
        break;
      case Kind::worker_start:
        if (l.role != ThreadRole::main) l.role = ThreadRole::worker;
        l.worker_index = static_cast<int>(e.a);
        if (!e.text_view().empty()) l.name = std::string(e.text_view());
        set_activity(l, ThreadActivity::idle_in_pool, e.ts_ns);
        break;
      case Kind::dequeue:
        serving();
        set_activity(l, ThreadActivity::working, e.ts_ns);
        break;
      case Kind::child_start:
        if (e.conn == 0) {
          // A prestarted worker (a = its parent), maybe stamped before the
          // parent's fork: the parent supervises, it is not the one accepting.
          supervisor(static_cast<pid_t>(e.a), e.ts_ns);
          break;
        }
        serving();
        set_activity(l, ThreadActivity::working, e.ts_ns);
        break;
      case Kind::read:
      case Kind::request:
      case Kind::data_open:
      case Kind::data_accept:
      case Kind::transfer:
      case Kind::work_end:
      case Kind::sleep_end:
        serving();
        set_activity(l, ThreadActivity::working, e.ts_ns);
        break;
      case Kind::reply:
      case Kind::write:
        serving();
        set_activity(l, ThreadActivity::waiting_client, e.ts_ns);
        break;
      case Kind::work_begin:
        serving();
        set_activity(l, ThreadActivity::burning_cpu, e.ts_ns);
        break;
      case Kind::sleep_begin:
        serving();
        set_activity(l, ThreadActivity::sleeping, e.ts_ns);
        break;
      case Kind::lock_wait:
        set_activity(l, ThreadActivity::waiting_lock, e.ts_ns);
        break;
      case Kind::lock_acquire:
        set_activity(l, ThreadActivity::holding_lock, e.ts_ns);
        break;
      case Kind::counter_read:
        if (l.activity != ThreadActivity::holding_lock) set_activity(l, ThreadActivity::race_window, e.ts_ns);
        break;
      case Kind::counter_write:
        if (l.activity != ThreadActivity::holding_lock) set_activity(l, ThreadActivity::working, e.ts_ns);
        break;
      case Kind::unlock:
        set_activity(l, ThreadActivity::working, e.ts_ns);
        break;
      case Kind::close:
        if (l.conn == e.conn && e.conn != 0) {
          l.conn = 0;
          ++l.conns_served;
        }
        if (l.role == ThreadRole::worker) set_activity(l, ThreadActivity::idle_in_pool, e.ts_ns);
        else if (l.role == ThreadRole::handler) set_activity(l, ThreadActivity::closing, e.ts_ns);
        else set_activity(l, idle_activity(l.pid), e.ts_ns);  // serial: back to accept
        break;
      case Kind::thread_exit:
      case Kind::worker_exit:
        l.conn = 0;
        l.exit_ns = e.ts_ns;
        set_activity(l, ThreadActivity::exited, e.ts_ns);
        break;
      case Kind::exit:
        if (l.role == ThreadRole::main) {
          l.exit_ns = e.ts_ns;
          set_activity(l, ThreadActivity::exited, e.ts_ns);
        }
        break;
      default:
        break;
    }
  }

  void on_queue(pid_t pid, const Event& e) {
    auto kind = e.kind;
    if (kind != Kind::enqueue && kind != Kind::dequeue && kind != Kind::refuse && kind != Kind::close &&
        kind != Kind::worker_start && kind != Kind::worker_exit) {
      return;
    }
    QueueWork& q = queues_[pid];
    q.view.pid = pid;
    auto drop = [&](std::uint32_t conn) {
      auto it = std::find(q.view.waiting.begin(), q.view.waiting.end(), conn);
      if (it == q.view.waiting.end()) return;
      q.view.waiting.erase(it);
      q.view.depth_since_ns = e.ts_ns;
    };
    switch (kind) {
      case Kind::enqueue:
        q.pool = true;
        if (queue_order_.empty() || std::find(queue_order_.begin(), queue_order_.end(), pid) == queue_order_.end())
          queue_order_.push_back(pid);
        q.view.waiting.push_back(e.conn);
        q.view.depth_since_ns = e.ts_ns;
        q.view.capacity = e.b;
        ++q.view.enqueued;
        q.view.peak_depth = std::max(q.view.peak_depth, q.view.waiting.size());
        break;
      case Kind::dequeue:
        q.pool = true;
        drop(e.conn);
        break;
      case Kind::refuse:
        // The pool refuses when its queue is full (a = depth, b = capacity).
        // The fork and thread servers refuse at their cap (b = the cap) and
        // have no queue: no pool evidence for them.
        ++q.view.refused;
        if (q.pool && e.b >= 0) q.view.capacity = e.b;
        break;
      case Kind::close:
        drop(e.conn);  // shutdown closes what was still queued
        break;
      case Kind::worker_start:
        // A worker thread (not a prefork worker process, whose main thread emits this).
        if (e.tid != e.pid) {
          q.pool = true;
          if (std::find(queue_order_.begin(), queue_order_.end(), pid) == queue_order_.end())
            queue_order_.push_back(pid);
        }
        ++q.view.workers;
        break;
      case Kind::worker_exit:
        if (q.view.workers > 0) --q.view.workers;
        break;
      default:
        break;
    }
  }

  void on_counter(pid_t pid, const Event& e) {
    auto kind = e.kind;
    if (kind != Kind::counter_read && kind != Kind::counter_write && kind != Kind::lock_wait &&
        kind != Kind::lock_acquire && kind != Kind::unlock) {
      return;
    }
    auto it = counters_.find(pid);
    if (it == counters_.end()) {
      CounterWork w;
      w.index = out_.counters.size();
      CounterView v;
      v.pid = pid;
      out_.counters.push_back(v);
      it = counters_.emplace(pid, std::move(w)).first;
    }
    CounterWork& w = it->second;
    CounterView& c = out_.counters[w.index];
    auto tid = static_cast<pid_t>(e.tid);
    c.last_ns = e.ts_ns;
    switch (kind) {
      case Kind::lock_wait:
        c.mutex = true;
        w.wait_since[tid] = e.ts_ns;
        break;
      case Kind::lock_acquire: {
        c.mutex = true;
        auto ws = w.wait_since.find(tid);
        if (ws != w.wait_since.end()) {
          std::uint64_t waited = e.ts_ns >= ws->second ? e.ts_ns - ws->second : 0;
          ++c.lock_waits;
          c.total_lock_wait_ns += waited;
          c.max_lock_wait_ns = std::max(c.max_lock_wait_ns, waited);
          w.wait_since.erase(ws);
        }
        break;
      }
      case Kind::unlock:
        break;
      case Kind::counter_read:
        // The first read of this process's counter shows where it started:
        // 0 for a fresh server, the parent's value for a forked child's copy.
        if (c.increments == 0 && w.read_value.empty()) c.initial = e.a;
        w.read_value[tid] = e.a;
        break;
      case Kind::counter_write: {
        auto rv = w.read_value.find(tid);
        std::int64_t read = rv != w.read_value.end() ? rv->second : e.b;
        if (rv == w.read_value.end() && c.increments == 0) c.initial = e.b;
        if (rv != w.read_value.end()) w.read_value.erase(rv);
        ++c.increments;
        ++out_.counter_increments;
        c.actual = e.a;
        // b = what memory held just before this write. Anything but the value
        // this thread read means another thread wrote in between; when it is
        // higher, those increments are erased by this write.
        if (e.b > read) {
          LostUpdate lu;
          lu.ts_ns = e.ts_ns;
          lu.pid = pid;
          lu.stale_tid = tid;
          lu.stale_conn = e.conn;
          lu.read_value = read;
          lu.overwritten_value = e.b;
          lu.written_value = e.a;
          // The last writer of that value, unless it is this very thread
          // (an older write of the same value: the counter went back down
          // since): then the write it erased has not been folded yet (its
          // event came late), and completes the picture when it is.
          auto wr = w.writer_of.find(e.b);
          if (wr != w.writer_of.end() && wr->second.first != tid) {
            lu.overwritten_tid = wr->second.first;
            lu.overwritten_conn = wr->second.second;
          } else {
            w.unresolved.emplace(e.b, c.lost.size());
          }
          c.lost.push_back(lu);
        }
        // Does this write complete an earlier lost update's picture?
        auto [first, last] = w.unresolved.equal_range(e.a);
        for (auto u = first; u != last;) {
          LostUpdate& lu = c.lost[u->second];
          if (lu.stale_tid == tid) {
            ++u;
            continue;
          }
          lu.overwritten_tid = tid;
          lu.overwritten_conn = e.conn;
          u = w.unresolved.erase(u);
        }
        w.writer_of[e.a] = {tid, e.conn};
        break;
      }
      default:
        break;
    }
  }

  const Model& model_;
  ThreadsModel out_;
  std::unordered_map<pid_t, std::size_t> process_index_;
  std::unordered_map<pid_t, std::unordered_map<pid_t, std::size_t>> lane_index_;
  std::unordered_map<pid_t, QueueWork> queues_;
  std::vector<pid_t> queue_order_;
  std::unordered_map<pid_t, CounterWork> counters_;
  std::unordered_set<pid_t> supervisors_;  // forked a prestarted worker (fork or child_start with conn 0)
  std::unordered_set<pid_t> accepters_;    // emitted accept
};

// ---- 3. joining /proc, memory -------------------------------------------------

ThreadsModel ThreadsFolder::finish(const Session& session, std::uint64_t until_ns) {
  out_.at_ns = model_.at_ns;
  // Drop processes that are not part of the server (the client simulator).
  std::vector<ProcessThreads> kept;
  for (auto& p : out_.processes) {
    const ProcessView* pv = model_.find_process(p.pid);
    if (pv && pv->role == ProcessRole::client_sim) continue;
    if (pv) {
      p.role = pv->role;
      p.comm = pv->comm;
      p.alive = pv->alive();
      p.threads_in_proc = pv->threads;
      p.cpu_s = pv->cpu_s;
      // Threads /proc lists that no event named yet (or ever): lanes too.
      auto& index = lane_index_[p.pid];
      for (pid_t tid : pv->tids) {
        if (index.count(tid)) continue;
        index[tid] = p.lanes.size();
        ThreadLane l;
        l.pid = p.pid;
        l.tid = tid;
        l.role = tid == p.pid ? ThreadRole::main : ThreadRole::other;
        l.first_ns = pv->sampled_ns;
        p.lanes.push_back(std::move(l));
      }
      for (auto& l : p.lanes) {
        bool listed = std::find(pv->tids.begin(), pv->tids.end(), l.tid) != pv->tids.end();
        // Only the newest lane of a reused tid is the thread /proc lists.
        l.in_proc = listed && pv->in_proc && index[l.tid] == static_cast<std::size_t>(&l - p.lanes.data());
        if (l.role == ThreadRole::main && l.name.empty()) l.name = pv->comm;
        // A thread the kernel no longer lists ended, whatever its last event said.
        if (pv->sampled_ns != 0 && !l.in_proc && l.alive() && pv->sampled_ns >= l.first_ns &&
            (pv->in_proc || !p.alive)) {
          l.exit_ns = l.exit_ns ? l.exit_ns : pv->sampled_ns;
          l.activity = ThreadActivity::exited;
        }
      }
      if (!p.alive) {
        for (auto& l : p.lanes) {
          if (l.alive()) {
            l.activity = ThreadActivity::exited;
            l.exit_ns = pv->exit_ns ? pv->exit_ns : pv->last_seen_ns;
          }
        }
      }
    }
    // Main thread first, then in order of appearance.
    std::stable_partition(p.lanes.begin(), p.lanes.end(),
                          [](const ThreadLane& l) { return l.role == ThreadRole::main; });
    kept.push_back(std::move(p));
  }
  out_.processes = std::move(kept);

  for (auto& c : out_.counters) {
    const ProcessView* pv = model_.find_process(c.pid);
    if (pv) c.role = pv->role;
  }

  for (pid_t pid : queue_order_) {
    QueueWork& q = queues_[pid];
    if (!q.pool) continue;
    if (const ProcessThreads* p = out_.find_process(pid)) {
      for (const auto& l : p->lanes)
        if (l.role == ThreadRole::worker && l.alive() && l.conn != 0) ++q.view.busy;
    }
    // Before the first enqueue or refuse, the run's own setting says it.
    if (q.view.capacity < 0) {
      const std::string opt = session.meta().option("queue");
      std::int64_t v = -1;
      auto [end, ec] = std::from_chars(opt.data(), opt.data() + opt.size(), v);
      if (ec == std::errc{} && end == opt.data() + opt.size() && v >= 0) q.view.capacity = v;
    }
    out_.queues.push_back(q.view);
  }

  // Memory: PSS charges each shared page to its sharers in proportion, so the
  // sum over the server's processes is what the server really costs; RSS
  // counts shared pages once per process and overstates fork.
  MemoryPerConnection& m = out_.memory;
  pid_t listener = 0;
  for (const auto& p : model_.processes) {
    if (p.role == ProcessRole::client_sim || p.role == ProcessRole::unknown) continue;
    if (p.role == ProcessRole::listener && listener == 0) listener = p.pid;
    if (!p.alive()) continue;
    ++m.processes;
    m.threads += p.threads;
    m.pss_kb += p.pss_kb;
    m.rss_kb += p.rss_kb;
  }
  m.open_connections = model_.counts.connections_open;
  std::uint64_t baseline_rss = 0;
  for (const auto& snap : session.snapshots()) {
    if (snap.ts_ns > until_ns) break;
    const observe::ProcInfo* info = snap.find(listener);
    if (info && info->pss_kb > 0) {
      m.baseline_pss_kb = info->pss_kb;
      baseline_rss = info->rss_kb;
      break;
    }
  }
  if (m.open_connections > 0 && m.baseline_pss_kb > 0) {
    double n = static_cast<double>(m.open_connections);
    m.pss_per_connection_kb =
        m.pss_kb > m.baseline_pss_kb ? static_cast<double>(m.pss_kb - m.baseline_pss_kb) / n : 0.0;
    m.rss_per_connection_kb = m.rss_kb > baseline_rss ? static_cast<double>(m.rss_kb - baseline_rss) / n : 0.0;
  }
  return std::move(out_);
}

}  // namespace

ThreadsModel fold_threads(const Session& session, std::uint64_t until_ns) {
  Model model = session.fold(until_ns);
  ThreadsFolder folder(model);
  const auto& events = session.events();
  std::size_t end = until_ns == std::numeric_limits<std::uint64_t>::max() ? events.size()
                                                                          : session.lower_bound(until_ns + 1);
  for (std::size_t i = 0; i < end; ++i) folder.apply(events[i]);
  return folder.finish(session, until_ns);
}

}  // namespace sockscope::session
