// The incremental fold behind Session::model() and Session::fold(): applies
// the store's events and snapshots one at a time (one small function per
// event kind, dispatched by a switch), then derives the fields that depend on
// everything (state, zombie, role, percentiles, the backlog). Internal to the
// session library: session.cpp and fold_state.cpp alone include it (Session
// keeps a live fold and a trailing checkpoint, see the top of session.cpp).
//
// In order: the socket helpers (defined in session.cpp); FoldState's interface
// (advance, restore, rewind_to, finish); its state; one small function per
// event kind; apply(Event), the switch. finish() and apply(ProcSnapshot), the
// parts that look at the whole fold, are in fold_state.cpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <iterator>
#include <optional>
#include <unordered_map>
#include <vector>

#include "session/session.h"

namespace sockscope::session {

// What one sample's sockets say (session.cpp, section 2).
// The LISTEN sockets of one sample, with the process holding each.
struct ListeningSockets {
  std::uint64_t ts_ns = 0;
  pid_t root = 0;
  std::vector<std::pair<pid_t, SocketFd>> sockets;
};
// The server's listening socket among them: the one on `port` (any, when 0),
// the root's own copy first, else another holder's (the root closed its copy).
BacklogView choose_backlog(const ListeningSockets& l, std::uint16_t port);
// Sets p.sockets and p.socket_copies from info.sockets; `holders` counts the
// processes of the sample holding each inode.
void set_sockets(ProcessView& p, const ProcInfo& info, const std::unordered_map<std::uint64_t, int>& holders);

// Who waits for a partner on each port (0: nobody): one slot per port, the
// index + 1 of the waiting connection or client. Every accept of a load
// stores its client's port here, so a flat table (256 KiB, made at the first
// store) beats a hash map: a map of tens of thousands of ports was the
// fold's most expensive part on short connections.
class PortWaits {
 public:
  // The index waiting on `port`, which stops waiting; nullopt when none.
  std::optional<std::size_t> take(std::uint16_t port) {
    if (slots_.empty() || slots_[port] == 0) return std::nullopt;
    const std::size_t index = slots_[port] - 1;
    slots_[port] = 0;
    return index;
  }
  void put(std::uint16_t port, std::size_t index) {
    if (slots_.empty()) slots_.assign(std::size_t{1} << 16, 0);
    slots_[port] = static_cast<std::uint32_t>(index + 1);
  }

 private:
  std::vector<std::uint32_t> slots_;
};

class FoldState {
 private:
  // What the events and snapshots told us about a process's part in the run;
  // the role is decided from all of it in finish(), because the evidence can
  // arrive in any order (a snapshot may list a child before its fork event).
  struct Evidence {
    bool listener = false;       // server_start / listen
    bool accepts = false;        // accept
    bool forked_for_conn = false;
    bool forked_as_worker = false;
    bool client = false;         // client_* events
    bool snapshot_root = false;
    bool snapshot_descendant = false;
    char proc_state = '?';
    pid_t proc_root = 0;
    std::uint64_t snapshot_seq = 0;  // last snapshot that listed it
    std::uint32_t max_conn = 0;      // no id in its conns is larger
  };

  static bool is_client_kind(trace::Kind k) {
    using K = trace::Kind;
    return k == K::client_connect || k == K::client_request || k == K::client_reply ||
           k == K::client_close || k == K::client_error;
  }

  static std::uint64_t nearest_rank(const std::vector<std::uint64_t>& sorted, double p) {
    if (sorted.empty()) return 0;
    auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    if (rank == 0) rank = 1;
    return sorted[std::min(rank, sorted.size()) - 1];
  }

 public:
  std::size_t next_event = 0;     // events_[0, next_event) folded
  std::size_t next_snapshot = 0;  // snapshots_[0, next_snapshot) folded
  std::uint64_t last_ts = 0;      // timestamp of the last folded item
  bool keep_latency_samples = true;
  std::size_t latency_count = 0;  // samples folded (kept or not)
  Model m;

  // Folds store items in time order while their ts <= until.
  void advance(const EventStore& events, const std::vector<ProcSnapshot>& snaps,
               std::uint64_t until, const SessionMeta& meta) {
    while (true) {
      bool have_e = next_event < events.size() && events[next_event].ts_ns <= until;
      bool have_s = next_snapshot < snaps.size() && snaps[next_snapshot].ts_ns <= until;
      if (!have_e && !have_s) break;
      if (have_e && (!have_s || events[next_event].ts_ns <= snaps[next_snapshot].ts_ns)) {
        apply(events[next_event++], meta);
      } else {
        apply(snaps[next_snapshot++]);
      }
    }
    finished_ = false;
  }

  // Starts from checkpoint `cp`, a fold of a prefix of the store, taking the
  // latency samples (which checkpoints do not keep) from `samples_source`.
  void restore(const FoldState& cp, const std::vector<LatencySample>& samples_source) {
    std::vector<LatencySample> samples(samples_source.begin(),
                                       samples_source.begin() + static_cast<std::ptrdiff_t>(cp.latency_count));
    *this = cp;
    keep_latency_samples = true;
    m.latencies = std::move(samples);
    finished_ = false;
  }

  // Rewinds this fold to `cp`, which folded a prefix of what this one did.
  // The samples and their sorted copy are trimmed in place rather than
  // copied: they are the big part of a long session.
  void rewind_to(const FoldState& cp) {
    std::vector<LatencySample> samples = std::move(m.latencies);
    std::vector<std::uint64_t> sorted = std::move(sorted_latency_);
    std::size_t merged = sorted_count_;
    std::uint64_t sum = latency_sum_;
    const std::size_t keep = cp.latency_count;
    if (merged > keep) {
      std::vector<std::uint64_t> removed;
      for (std::size_t i = keep; i < merged; ++i) {
        removed.push_back(samples[i].latency_ns);
        sum -= samples[i].latency_ns;
      }
      std::sort(removed.begin(), removed.end());
      std::vector<std::uint64_t> rest;
      rest.reserve(sorted.size());
      std::set_difference(sorted.begin(), sorted.end(), removed.begin(), removed.end(), std::back_inserter(rest));
      sorted.swap(rest);
      merged = keep;
    }
    samples.resize(keep);
    *this = cp;
    keep_latency_samples = true;
    m.latencies = std::move(samples);
    sorted_latency_ = std::move(sorted);
    sorted_count_ = merged;
    latency_sum_ = sum;
    finished_ = false;
  }

  // Derives what depends on the whole fold. Idempotent. (fold_state.cpp)
  void finish(const SessionMeta& meta, std::uint64_t drops, std::uint64_t at_ns);

 private:
  std::vector<Evidence> evidence_;  // parallel to m.processes
  pid_t last_pid_ = -1;  // process_index's last answer (pid -> index never changes)
  std::size_t last_index_ = 0;
  // Joining: accept's peer port == client_connect's local port. Whichever
  // side arrives first waits here for the other.
  PortWaits conn_waiting_by_port_;    // index into m.connections
  PortWaits client_waiting_by_port_;  // index into m.clients
  // m.connections by state, kept as they change: finish() runs every frame
  // and must not walk a hundred thousand connections to count them.
  std::size_t conns_open_ = 0;
  std::size_t conns_refused_ = 0;
  std::uint64_t snapshot_seq_ = 0;
  std::unordered_map<pid_t, std::vector<std::size_t>> listed_by_root_;  // processes in each root's last sample
  std::vector<std::uint64_t> sorted_latency_;  // values of m.latencies[0, sorted_count_), sorted
  std::size_t sorted_count_ = 0;
  std::uint64_t latency_sum_ = 0;  // integer, so incremental and fresh folds agree exactly
  // The LISTEN sockets of each root's latest sample (the backlog is chosen
  // in finish(), which knows the port even when meta came after the sample).
  std::unordered_map<pid_t, ListeningSockets> listening_by_root_;
  pid_t last_root_ = 0;
  bool finished_ = false;
  pid_t finished_server_pid_ = 0;
  std::uint16_t finished_port_ = 0;

  // From the server root's latest sample, or the latest sample of any root.
  BacklogView backlog_for(const SessionMeta& meta) const {
    auto it = listening_by_root_.find(meta.server_pid);
    if (it == listening_by_root_.end()) it = listening_by_root_.find(last_root_);
    return it == listening_by_root_.end() ? BacklogView{} : choose_backlog(it->second, meta.port);
  }

  std::size_t process_index(pid_t pid, std::uint64_t ts) {
    // Events come in runs from one process (an event loop's are all from
    // one): the last answer first, before hashing.
    std::size_t index = last_index_;
    if (pid != last_pid_ || index >= m.processes.size()) {
      auto [it, inserted] = m.process_at.try_emplace(pid, m.processes.size());
      if (inserted) {
        ProcessView p;
        p.pid = pid;
        p.first_seen_ns = ts;
        m.processes.push_back(std::move(p));
        evidence_.emplace_back();
      }
      index = it->second;
      last_pid_ = pid;
      last_index_ = index;
    }
    ProcessView& p = m.processes[index];
    if (ts < p.first_seen_ns) p.first_seen_ns = ts;
    if (ts > p.last_seen_ns) p.last_seen_ns = ts;
    return index;
  }

  ConnectionView* connection(std::uint32_t id) {
    auto it = m.connection_at.find(id);
    return it == m.connection_at.end() ? nullptr : &m.connections[it->second];
  }

  // A server event about a connection whose accept we never saw (dropped by
  // a full ring, or a session cut short): keep it, with what we know.
  ConnectionView& connection_or_new(const trace::Event& e) {
    if (ConnectionView* c = connection(e.conn)) return *c;
    ConnectionView c;
    c.id = e.conn;
    c.listener_pid = static_cast<pid_t>(e.pid);
    c.serving_pid = static_cast<pid_t>(e.pid);
    c.serving_tid = e.tid;
    c.accept_ns = e.ts_ns;
    m.connection_at[e.conn] = m.connections.size();
    m.connections.push_back(c);
    ++conns_open_;
    add_conn_to_process(static_cast<pid_t>(e.pid), e.conn, e.ts_ns);
    return m.connections.back();
  }

  ClientView& client(const trace::Event& e) {
    auto [it, inserted] = m.client_at.try_emplace(e.conn, m.clients.size());
    if (inserted) {
      ClientView c;
      c.id = e.conn;
      c.pid = static_cast<pid_t>(e.pid);
      m.clients.push_back(c);
    }
    return m.clients[it->second];
  }

  // A listener of a one-process server collects every connection it ever
  // served (tens of thousands under load): ids grow, so a new one is almost
  // always past the last and the search runs from the newest end.
  void add_conn_to_process(pid_t pid, std::uint32_t conn, std::uint64_t ts) {
    const std::size_t i = process_index(pid, ts);
    auto& conns = m.processes[i].conns;
    std::uint32_t& max_conn = evidence_[i].max_conn;
    if (conn > max_conn) {
      max_conn = conn;
      conns.push_back(conn);
      return;
    }
    if (std::find(conns.rbegin(), conns.rend(), conn) == conns.rend()) conns.push_back(conn);
  }

  void remove_conn_from_process(pid_t pid, std::uint32_t conn) {
    auto it = m.process_at.find(pid);
    if (it == m.process_at.end()) return;
    auto& conns = m.processes[it->second].conns;
    auto at = std::find(conns.rbegin(), conns.rend(), conn);
    if (at != conns.rend()) conns.erase(std::next(at).base());
  }

  // Hands connection `id` to the process that will serve it (a forked child
  // takes it over from the listener that accepted it).
  void set_serving(const trace::Event& e, pid_t pid, std::uint32_t tid) {
    if (e.conn == 0) return;
    ConnectionView& c = connection_or_new(e);
    if (c.serving_pid != pid) {
      remove_conn_from_process(c.serving_pid, c.id);
      c.serving_pid = pid;
    }
    c.serving_tid = tid;
    add_conn_to_process(pid, c.id, e.ts_ns);
  }

  // Every change of a connection's state after it is made goes here, so the
  // counts by state stay true.
  void set_state(ConnectionView& c, ConnState to) {
    if (c.state == to) return;
    if (c.state == ConnState::open) --conns_open_;
    if (c.state == ConnState::refused) --conns_refused_;
    if (to == ConnState::open) ++conns_open_;
    if (to == ConnState::refused) ++conns_refused_;
    c.state = to;
  }

  void join(ConnectionView& conn, ClientView& cl) {
    conn.client_id = cl.id;
    cl.server_conn = conn.id;
  }

  // -- one small function per kind --

  void on_accept(const trace::Event& e, Evidence& ev) {
    ev.accepts = true;
    ++m.counts.connections_accepted;
    ConnectionView c;
    c.id = e.conn;
    c.listener_pid = static_cast<pid_t>(e.pid);
    c.serving_pid = static_cast<pid_t>(e.pid);
    c.serving_tid = e.tid;
    c.peer_port = static_cast<std::uint16_t>(e.a);
    c.accept_ns = e.ts_ns;
    std::size_t idx = m.connections.size();
    m.connection_at[e.conn] = idx;
    m.connections.push_back(c);
    add_conn_to_process(static_cast<pid_t>(e.pid), e.conn, e.ts_ns);
    ++conns_open_;
    if (c.peer_port == 0) return;
    if (auto w = client_waiting_by_port_.take(c.peer_port))
      join(m.connections[idx], m.clients[*w]);
    else
      conn_waiting_by_port_.put(c.peer_port, idx);
  }

  void on_fork(const trace::Event& e) {
    ++m.counts.children_forked;
    auto child_pid = static_cast<pid_t>(e.a);
    if (child_pid <= 0) return;
    std::size_t ci = process_index(child_pid, e.ts_ns);
    ProcessView& child = m.processes[ci];
    if (child.ppid == 0) child.ppid = static_cast<pid_t>(e.pid);
    child.fork_ns = e.ts_ns;
    if (e.conn != 0 && e.b > 0) {
      // shotgun: a child for one request (b = its number on the connection).
      // The connection stays with the process that holds its state; the
      // child serves the request and is gone.
      evidence_[ci].forked_for_conn = true;
      child.request = static_cast<std::uint32_t>(e.b);
      add_conn_to_process(child_pid, e.conn, e.ts_ns);
    } else if (e.conn != 0) {
      evidence_[ci].forked_for_conn = true;
      set_serving(e, child_pid, static_cast<std::uint32_t>(child_pid));
    } else {
      evidence_[ci].forked_as_worker = true;
    }
  }

  void on_child_start(const trace::Event& e, std::size_t pi) {
    ProcessView& p = m.processes[pi];
    if (p.ppid == 0) p.ppid = static_cast<pid_t>(e.a);
    if (e.conn != 0 && e.b > 0) {
      // shotgun's per-request child (b = the request's number); it may log
      // this before its parent logs the fork.
      evidence_[pi].forked_for_conn = true;
      p.request = static_cast<std::uint32_t>(e.b);
      add_conn_to_process(static_cast<pid_t>(e.pid), e.conn, e.ts_ns);
    } else if (e.conn != 0 && p.request == 0) {
      evidence_[pi].forked_for_conn = true;
      set_serving(e, static_cast<pid_t>(e.pid), e.tid);
    }
  }

  void on_close(const trace::Event& e) {
    ConnectionView& c = connection_or_new(e);
    // After a fork the parent closes its copy of the socket; the connection
    // lives on in the child, so that close is not the connection's end.
    if (static_cast<pid_t>(e.pid) == c.listener_pid && c.serving_pid != c.listener_pid) return;
    c.close_ns = e.ts_ns;
    set_state(c, c.state == ConnState::refused ? ConnState::refused : ConnState::closed);
    if (e.a > 0) c.bytes_in = static_cast<std::uint64_t>(e.a);
    if (e.b > 0) c.bytes_out = static_cast<std::uint64_t>(e.b);
  }

  void on_reap(const trace::Event& e) {
    auto child_pid = static_cast<pid_t>(e.a);
    if (child_pid <= 0) {
      ++m.counts.reaped;
      return;
    }
    ProcessView& child = m.processes[process_index(child_pid, e.ts_ns)];
    // Only children the server forked count: the lab reaping the server
    // itself (which nobody forked in this session) is bookkeeping.
    if (child.fork_ns != 0) ++m.counts.reaped;
    child.reap_ns = e.ts_ns;
    if (child.ppid == 0) child.ppid = static_cast<pid_t>(e.pid);
  }

  void on_refuse(const trace::Event& e) {
    ++m.counts.refused;
    if (e.conn == 0) return;
    set_state(connection_or_new(e), ConnState::refused);
  }

  void on_client_connect(const trace::Event& e) {
    ClientView& cl = client(e);
    cl.pid = static_cast<pid_t>(e.pid);
    cl.local_port = static_cast<std::uint16_t>(e.a);
    cl.connect_ns = e.ts_ns;
    cl.connect_latency_ns = e.b > 0 ? static_cast<std::uint64_t>(e.b) : 0;
    if (cl.local_port == 0) return;
    if (auto w = conn_waiting_by_port_.take(cl.local_port))
      join(m.connections[*w], cl);
    else
      client_waiting_by_port_.put(cl.local_port, m.client_at[e.conn]);
  }

  void on_client_reply(const trace::Event& e) {
    ClientView& cl = client(e);
    auto lat = e.b > 0 ? static_cast<std::uint64_t>(e.b) : 0;
    ++cl.replies;
    cl.last_latency_ns = lat;
    cl.max_latency_ns = std::max(cl.max_latency_ns, lat);
    ++m.counts.replies;
    ++latency_count;
    if (keep_latency_samples) m.latencies.push_back({e.ts_ns, e.conn, e.a, lat});
    // A visitor count the server told this client ("count 7").
    std::string_view text = e.text_view();
    if (text.starts_with("count ")) {
      std::int64_t v = 0;
      for (char ch : text.substr(6)) {
        if (ch < '0' || ch > '9') break;
        v = v * 10 + (ch - '0');
      }
      cl.visitor_count = v;
      ++m.counts.visitor_counts;
      m.counts.visitor_count_max = std::max<std::uint64_t>(m.counts.visitor_count_max, static_cast<std::uint64_t>(v));
    }
  }

  void apply(const trace::Event& e, const SessionMeta& meta) {
    using K = trace::Kind;
    ++m.counts.events;
    last_ts = std::max(last_ts, e.ts_ns);
    std::size_t pi = process_index(static_cast<pid_t>(e.pid), e.ts_ns);
    ++m.processes[pi].events;
    Evidence& ev = evidence_[pi];
    if (is_client_kind(e.kind)) ev.client = true;
    switch (e.kind) {
      case K::server_start:
      case K::listen: ev.listener = true; break;
      case K::accept: on_accept(e, ev); break;
      case K::fork: on_fork(e); break;
      case K::child_start: on_child_start(e, pi); break;
      case K::spawn:
        ++m.counts.threads_spawned;
        if (e.conn != 0) set_serving(e, static_cast<pid_t>(e.pid), static_cast<std::uint32_t>(e.a));
        break;
      case K::read:
        if (e.conn != 0 && e.a > 0) {
          ConnectionView& c = connection_or_new(e);
          if (c.state == ConnState::open) c.bytes_in += static_cast<std::uint64_t>(e.a);
        }
        break;
      case K::write:
        if (e.conn != 0 && e.a > 0) {
          ConnectionView& c = connection_or_new(e);
          if (c.state == ConnState::open) c.bytes_out += static_cast<std::uint64_t>(e.a);
        }
        break;
      case K::request:
        ++m.counts.requests;
        if (e.conn != 0) ++connection_or_new(e).requests;
        break;
      case K::reply:
        if (e.conn != 0) {
          ConnectionView& c = connection_or_new(e);
          ++c.replies;
          // Sent whole: the reply is its own write (trace::kReplyWhole).
          if ((e.flags & trace::kReplyWhole) != 0 && e.b > 0 && c.state == ConnState::open)
            c.bytes_out += static_cast<std::uint64_t>(e.b);
        }
        break;
      case K::close:
        if (e.conn != 0) on_close(e);
        break;
      case K::exit:
        m.processes[pi].exit_ns = e.ts_ns;
        m.processes[pi].exit_status = e.a;
        ++m.counts.exited;
        break;
      case K::reap: on_reap(e); break;
      case K::exec:
        m.processes[pi].exec_ns = e.ts_ns;
        m.processes[pi].image = std::string(e.text_view());
        ++m.counts.execs;
        break;
      case K::refuse: on_refuse(e); break;
      case K::error: ++m.counts.errors; break;
      case K::client_connect: on_client_connect(e); break;
      case K::client_request: ++client(e).requests; break;
      case K::client_reply: on_client_reply(e); break;
      case K::client_close: {
        ClientView& cl = client(e);
        cl.close_ns = e.ts_ns;
        cl.bytes_received = e.a > 0 ? static_cast<std::uint64_t>(e.a) : 0;
        break;
      }
      case K::client_error:
        ++client(e).errors;
        ++m.counts.errors;
        break;
      case K::thread_exit:
      case K::data_open:
      case K::data_accept:
      case K::transfer:
      case K::work_begin:
      case K::work_end:
      case K::sleep_begin:
      case K::sleep_end:
      case K::server_stop:
      case K::timeout:  // its connection's close follows; the log and the timeline show it
        break;
      // Folded by their own views: threads_fold.h (workers, queue, counter,
      // lock), loop_fold.h (Asio handler tracking) and timeline.h (gates).
      case K::worker_start:
      case K::worker_exit:
      case K::enqueue:
      case K::dequeue:
      case K::counter_read:
      case K::counter_write:
      case K::lock_wait:
      case K::lock_acquire:
      case K::unlock:
      case K::handler_create:
      case K::reactor_register:
      case K::reactor_ready:
      case K::completion:
      case K::handler_begin:
      case K::handler_end:
      // Gates: the timeline and the step view read them from the store.
      case K::gate_wait:
      case K::gate_pass:
      case K::count_:
        break;
    }
    (void)meta;
  }

  // A /proc sample of one root's tree: the kernel's word on each process
  // and socket. (fold_state.cpp)
  void apply(const ProcSnapshot& s);
};

}  // namespace sockscope::session
