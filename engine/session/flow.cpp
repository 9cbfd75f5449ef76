#include "session/flow.h"

#include "servers/architecture.h"

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <map>
#include <optional>
#include <unordered_set>

namespace sockscope::session {

namespace {

using trace::Kind;

// Scans stay bounded on huge sessions: at most this many events before the
// instant (64 bytes each: streaming them costs about 1.5 ms). Calls older than
// that are left out and the diagram says so; who accepted and who serves a
// connection then come from the model.
constexpr std::size_t kMaxScan = 250'000;

// The fork server's parent closing its copy of an accepted socket.
constexpr const char* kParentCloseLabel = "close() its copy of the socket";
constexpr const char* kParentCloseWhy =
    "The parent closes its copy of the accepted socket: the connection now lives in the child alone, so the "
    "client sees it close when the child is done, and the parent leaks no descriptor per client.";

std::string event_text(const trace::Event& e) {
  return std::string(e.text, strnlen(e.text, sizeof e.text));
}

std::string format(const char* fmt, long long a, long long b = 0) {
  char buf[96];
  std::snprintf(buf, sizeof buf, fmt, a, b);
  return buf;
}

struct LaneKey {
  FlowLaneKind kind;
  pid_t pid;
  pid_t tid;
  std::uint32_t conn;
  auto operator<=>(const LaneKey&) const = default;
};

class FlowBuilder {
 public:
  FlowBuilder(const Session& s, const Model& m, const FlowOptions& o) : session_(s), model_(m), options_(o) {
    const servers::Architecture* arch = servers::find_architecture(s.meta().architecture);
    loop_ = arch != nullptr && arch->has(servers::kEventLoop);
  }

  FlowDiagram build(std::uint64_t until_ns) {
    const auto& events = session_.events();
    const std::size_t end =
        until_ns == std::numeric_limits<std::uint64_t>::max() ? events.size() : session_.lower_bound(until_ns + 1);
    choose_connections();
    if (d_.conns.empty()) {
      find_step(until_ns);
      return std::move(d_);
    }
    // From the first trace of the oldest connection shown (its client's
    // connect comes before the server's accept).
    std::uint64_t from_ns = std::numeric_limits<std::uint64_t>::max();
    for (std::uint32_t id : d_.conns) {
      if (const ConnectionView* c = model_.find_connection(id)) {
        from_ns = std::min(from_ns, c->accept_ns);
        if (c->client_id)
          if (const ClientView* cl = model_.find_client(c->client_id); cl && cl->connect_ns)
            from_ns = std::min(from_ns, cl->connect_ns);
      }
    }
    std::size_t begin = from_ns == std::numeric_limits<std::uint64_t>::max() ? 0 : session_.lower_bound(from_ns);
    if (end > kMaxScan && begin < end - kMaxScan) {
      begin = end - kMaxScan;
      d_.history_cut = true;
    }
    first_scanned_ns_ = begin < end ? events[begin].ts_ns : 0;
    // One pass; a long session costs a few ns per event that is not drawn.
    for (std::size_t i = begin; i < end; ++i) {
      const trace::Event& e = events[i];
      if (client_kind(e.kind) ? client_conn(e.conn) != 0 : shown(e.conn)) add(e);
    }
    pair_replies();
    forks_above_children();
    draw_in_order();
    if (d_.messages.size() > options_.max_messages) {
      d_.messages_dropped = d_.messages.size() - options_.max_messages;
      d_.messages.erase(d_.messages.begin(), d_.messages.begin() + static_cast<std::ptrdiff_t>(d_.messages_dropped));
    }
    find_step(until_ns);
    order_lanes();
    for (const Parked& p : parked_at(session_, model_, until_ns)) {
      for (FlowLane& lane : d_.lanes)
        if (lane.kind != FlowLaneKind::client && lane.pid == p.pid && lane.tid == p.tid)
          lane.parked_at = std::string(trace::gate_name(p.gate));
    }
    return std::move(d_);
  }

 private:
  // Called for every event scanned, so a linear look through a handful of
  // ids (the connections drawn) rather than a tree or hash.
  bool shown(std::uint32_t conn) const {
    if (conn == 0) return false;
    for (std::uint32_t c : d_.conns)
      if (c == conn) return true;
    return false;
  }
  // The server connection of simulator client `client_id`, 0 = not drawn.
  std::uint32_t client_conn(std::uint32_t client_id) const {
    for (const auto& [client, conn] : client_conn_)
      if (client == client_id) return conn;
    return 0;
  }
  static bool client_kind(Kind k) {
    return k == Kind::client_connect || k == Kind::client_request || k == Kind::client_reply ||
           k == Kind::client_close || k == Kind::client_error;
  }

  void choose_connections() {
    if (!options_.conns.empty()) {
      d_.conns = options_.conns;
    } else {
      std::vector<const ConnectionView*> all;
      for (const ConnectionView& c : model_.connections) all.push_back(&c);
      std::stable_sort(all.begin(), all.end(), [](auto* a, auto* b) { return a->accept_ns < b->accept_ns; });
      const std::size_t n = std::min(all.size(), options_.max_connections);
      for (std::size_t i = all.size() - n; i < all.size(); ++i) d_.conns.push_back(all[i]->id);
    }
    for (const ClientView& cl : model_.clients)
      if (cl.server_conn && shown(cl.server_conn)) client_conn_.emplace_back(cl.id, cl.server_conn);
    // A connection with a simulator client has the client's side in the log
    // too (its connect, each request); an external one (curl) only the server's.
    for (std::uint32_t id : d_.conns)
      if (const ConnectionView* c = model_.find_connection(id); c && c->client_id) simulated_.insert(id);
    // A lane per client, in the order of the connections.
    for (std::uint32_t id : d_.conns) client_lane(id);
  }

  int lane(const LaneKey& key) {
    auto [it, inserted] = lane_index_.try_emplace(key, static_cast<int>(d_.lanes.size()));
    if (inserted) {
      FlowLane l;
      l.kind = key.kind;
      l.pid = key.pid;
      l.tid = key.tid;
      l.conn = key.conn;
      d_.lanes.push_back(std::move(l));
      label_lane(d_.lanes.back());
    }
    return it->second;
  }

  int client_lane(std::uint32_t conn) { return lane({FlowLaneKind::client, 0, 0, conn}); }

  int server_lane(pid_t pid, pid_t tid) {
    const bool listener = pid == session_.meta().server_pid && tid == pid;
    return lane({listener ? FlowLaneKind::listener : FlowLaneKind::handler, pid, tid, 0});
  }
  int server_lane(const trace::Event& e) { return server_lane(static_cast<pid_t>(e.pid), static_cast<pid_t>(e.tid)); }
  int listener_lane() {
    pid_t p = session_.meta().server_pid;
    return p ? server_lane(p, p) : -1;
  }

  void label_lane(FlowLane& l) {
    char buf[80];
    switch (l.kind) {
      case FlowLaneKind::client: {
        const ConnectionView* c = model_.find_connection(l.conn);
        const ClientView* cl = c && c->client_id ? model_.find_client(c->client_id) : nullptr;
        l.port = c ? c->peer_port : 0;
        if (cl) {
          l.client_id = cl->id;
          l.pid = cl->pid;
          std::snprintf(buf, sizeof buf, "client %u :%u", cl->id, static_cast<unsigned>(l.port));
        } else {
          std::snprintf(buf, sizeof buf, "peer :%u", static_cast<unsigned>(l.port));
        }
        break;
      }
      case FlowLaneKind::listener:
        std::snprintf(buf, sizeof buf, "%s %d", loop_ ? "event loop" : "listener", static_cast<int>(l.pid));
        break;
      case FlowLaneKind::handler: {
        const ProcessView* p = model_.find_process(l.pid);
        if (l.tid != l.pid) std::snprintf(buf, sizeof buf, "thread %d", static_cast<int>(l.tid));
        else if (p && p->role == ProcessRole::worker) std::snprintf(buf, sizeof buf, "worker %d", static_cast<int>(l.pid));
        else if (p && p->role == ProcessRole::listener) std::snprintf(buf, sizeof buf, "listener %d", static_cast<int>(l.pid));
        else std::snprintf(buf, sizeof buf, "child %d", static_cast<int>(l.pid));
        break;
      }
    }
    l.label = buf;
  }

  // Adds a row from lane `from` to lane `to` and returns its index; none (and
  // no row) when either lane is unknown.
  std::optional<std::size_t> message(const trace::Event& e, int from, int to, std::uint32_t conn, std::string label,
                                     std::string detail = {}) {
    if (from < 0 || to < 0) return std::nullopt;
    FlowMessage m;
    m.ts_ns = e.ts_ns;
    m.from = from;
    m.to = to;
    m.kind = e.kind;
    m.conn = conn;
    m.pid = static_cast<pid_t>(e.pid);
    m.tid = static_cast<pid_t>(e.tid);
    m.label = std::move(label);
    m.detail = std::move(detail);
    auto [first, added] = first_ts_.try_emplace({m.pid, conn}, e.ts_ns);
    if (!added) first->second = std::min(first->second, e.ts_ns);
    d_.messages.push_back(std::move(m));
    drawn_at_.push_back(e.ts_ns);
    return d_.messages.size() - 1;
  }

  // The thread that holds the connection now: whoever accepted it, until a
  // fork, spawn or dequeue hands it on.
  int serving(std::uint32_t conn) {
    if (auto it = serving_.find(conn); it != serving_.end()) return it->second;
    // Accepted before the scanned part of a long session: who the model says serves it.
    if (const ConnectionView* c = model_.find_connection(conn); c && c->serving_pid && c->accept_ns < first_scanned_ns_)
      return server_lane(c->serving_pid, c->serving_tid ? static_cast<pid_t>(c->serving_tid) : c->serving_pid);
    return acceptor(conn);
  }

  // The server logs a reply after send() returned; by then the client may
  // have read it and sent its next request. Draw each reply no later than
  // the client saw it: pair the server's replies with the client's, in
  // order, matching codes.
  void pair_replies() {
    for (const auto& [conn, replies] : server_replies_) {
      auto it = client_replies_.find(conn);
      if (it == client_replies_.end()) continue;
      const auto& seen = it->second;
      std::size_t next = 0;
      for (const auto& [message, code] : replies) {
        for (std::size_t k = next; k < seen.size(); ++k) {
          if (seen[k].second != code) continue;
          drawn_at_[message] = std::min(drawn_at_[message], seen[k].first);
          next = k + 1;
          break;
        }
      }
    }
  }

  // A fork's rows are drawn no later than the child's first row, whichever
  // of the two processes published first.
  void forks_above_children() {
    for (const ForkRows& f : fork_rows_) {
      auto first = first_ts_.find({f.child, f.conn});
      if (first == first_ts_.end() || first->second == 0) continue;
      for (std::size_t i = f.begin; i < f.end; ++i) drawn_at_[i] = std::min(drawn_at_[i], first->second - 1);
    }
  }

  // Messages in the order they are drawn (stable: equal times keep log order).
  void draw_in_order() {
    std::vector<std::size_t> order(d_.messages.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return drawn_at_[a] < drawn_at_[b]; });
    std::vector<FlowMessage> sorted;
    sorted.reserve(order.size());
    for (std::size_t i : order) {
      d_.messages[i].drawn_ns = drawn_at_[i];
      sorted.push_back(std::move(d_.messages[i]));
    }
    d_.messages = std::move(sorted);
  }

  // The thread that accepts (or accepted) the connection: from its accept
  // event, else (accept not scanned) the model's listener, else the server.
  int acceptor(std::uint32_t conn) {
    if (auto it = acceptor_.find(conn); it != acceptor_.end()) return server_lane(it->second.first, it->second.second);
    if (const ConnectionView* c = model_.find_connection(conn); c && c->listener_pid && c->accept_ns < first_scanned_ns_)
      return server_lane(c->listener_pid, c->listener_pid);
    return listener_lane();
  }

  void add(const trace::Event& e) {
    const Kind kind = e.kind;
    switch (kind) {
      case Kind::client_connect:
      case Kind::client_request:
      case Kind::client_close:
      case Kind::client_reply:
      case Kind::client_error: {
        const std::uint32_t conn = client_conn(e.conn);
        if (conn == 0) return;
        const int client = client_lane(conn);
        if (kind == Kind::client_connect) {
          // To whoever accepts it: known here when the accept was logged
          // first, else set when it comes.
          const auto row = message(e, client, acceptor(conn), conn, "connect()");
          if (!row) return;
          if (!acceptor_.count(conn)) pending_connect_[conn] = *row;
          // The kernel finished the handshake before accept() could return,
          // even when the client read its clock after the server did.
          if (auto a = accept_ns_.find(conn); a != accept_ns_.end()) drawn_at_[*row] = std::min(e.ts_ns, a->second - 1);
        }
        else if (kind == Kind::client_request) message(e, client, serving(conn), conn, event_text(e));
        else if (kind == Kind::client_close) message(e, client, serving(conn), conn, "close()");
        else if (kind == Kind::client_reply) client_replies_[conn].emplace_back(e.ts_ns, e.a);  // see pair_replies()
        else message(e, client, client, conn, "error: " + event_text(e));
        return;
      }
      default: break;
    }
    if (!shown(e.conn)) return;
    const std::uint32_t conn = e.conn;
    const int self = server_lane(e);
    const int client = client_lane(conn);
    switch (kind) {
      case Kind::accept:
        serving_[conn] = self;
        acceptor_[conn] = {static_cast<pid_t>(e.pid), static_cast<pid_t>(e.tid)};
        if (auto p = pending_connect_.find(conn); p != pending_connect_.end()) d_.messages[p->second].to = self;
        accept_ns_[conn] = e.ts_ns;
        if (simulated_.count(conn)) message(e, self, self, conn, format("accept() -> fd %lld, conn %lld", e.b, conn));
        else message(e, client, self, conn, format("connect, accept() -> fd %lld, conn %lld", e.b, conn));
        return;
      case Kind::fork: {
        const int child = server_lane(static_cast<pid_t>(e.a), static_cast<pid_t>(e.a));
        serving_[conn] = child;
        // The parent logs the fork after fork() returned (and, for a
        // connection, after closing its copy); the child may have logged its
        // first line before that. Draw the fork no later than the child's first row.
        // The child's events may also reach the log after the parent's (each
        // process publishes its own), so this is settled once all are folded:
        // see forks_above_children().
        const std::size_t first_row = d_.messages.size();
        auto above_child = [&] { fork_rows_.push_back({first_row, d_.messages.size(), static_cast<pid_t>(e.a), conn}); };
        if (e.b > 0) {
          // shotgun: the connection's process forks per request and keeps its socket.
          message(e, self, child, conn, format("fork() for request %lld -> pid %lld", e.b, e.a),
                  "The request's child is a copy of the connection's process, its socket included; the "
                  "parent keeps serving the connection and waits for this child.");
          above_child();
          return;
        }
        // Two steps, two rows. First the copy: from here the child holds the
        // connection's socket (and the listener) as much as the parent does.
        message(e, self, child, conn, format("fork() -> pid %lld: child holds a copy of the socket", e.a),
                "fork() copies the whole process, its descriptors included: the child now holds a copy of "
                "the connection's socket and of the listening socket (it closes the listener first thing).");
        // Then the parent lets go of its copy, so that the child's close is the
        // connection's end. No event of its own: the server closes its copy
        // between fork() returning and logging the fork event (fork_server.cpp),
        // so the row is drawn from that event, just after the fork.
        if (const auto row = message(e, self, self, conn, kParentCloseLabel,
                                     std::string(kParentCloseWhy) +
                                         " (No event of its own: the server closes it between fork() returning "
                                         "and logging the fork, so this row is drawn from the fork event.)")) {
          d_.messages[*row].kind = Kind::close;
          derived_close_[conn] = *row;
        }
        above_child();
        return;
      }
      case Kind::child_start:
        serving_[conn] = self;
        if (e.b > 0) message(e, self, self, conn, "request's child runs: fork() returned 0");
        else
          message(e, self, self, conn, "child runs: fork() returned 0",
                  "The child's first line of its own. It has closed its copy of the listener (it must never "
                  "accept) and serves this one client on its copy of the connection's socket.");
        return;
      case Kind::exec:
        serving_[conn] = self;
        message(e, self, self, conn, "execve(" + event_text(e) + "): same pid, new program");
        return;
      case Kind::spawn: {
        const int spawner = server_lane(static_cast<pid_t>(e.pid), static_cast<pid_t>(e.b));
        serving_[conn] = self;
        message(e, spawner, self, conn, format("pthread_create() -> tid %lld", e.a));
        return;
      }
      case Kind::enqueue:
        message(e, self, self, conn, format("enqueue (depth %lld of %lld)", e.a, e.b));
        return;
      case Kind::dequeue: {
        const int from = serving(conn);
        serving_[conn] = self;
        if (from != self) message(e, from, self, conn, format("dequeue -> worker %lld", e.b));
        return;
      }
      case Kind::read:
        message(e, self, self, conn, format("recv() %lld B", e.a));
        return;
      case Kind::request:
        if (!simulated_.count(conn)) message(e, client, self, conn, event_text(e));
        return;
      case Kind::reply: {
        const auto row = e.b > 0 ? message(e, self, client, conn, format("reply %lld (%lld B)", e.a, e.b))
                                 : message(e, self, client, conn, format("reply %lld", e.a));
        if (row) server_replies_[conn].emplace_back(*row, e.a);
        return;
      }
      case Kind::refuse:
        message(e, self, client, conn, format("refused (%lld of %lld)", e.a, e.b));
        return;
      case Kind::data_open:
        message(e, self, self, conn, format("data listener :%lld", e.a));
        return;
      case Kind::data_accept:
        message(e, client, self, conn, "data connection");
        return;
      case Kind::transfer:
        message(e, self, client, conn, format(e.b ? "data %lld B sent" : "data %lld B, failed", e.a));
        return;
      case Kind::work_begin:
        message(e, self, self, conn, format("burns CPU %lld ms", e.a));
        return;
      case Kind::sleep_begin:
        message(e, self, self, conn, format("sleeps %lld ms", e.a));
        return;
      case Kind::counter_read:
        message(e, self, self, conn, format("counter read: %lld", e.a));
        return;
      case Kind::counter_write:
        message(e, self, self, conn, format("counter = %lld (was %lld)", e.a, e.b));
        return;
      case Kind::lock_wait:
        message(e, self, self, conn, "waits for the lock");
        return;
      case Kind::lock_acquire:
        message(e, self, self, conn, "lock taken");
        return;
      case Kind::unlock:
        message(e, self, self, conn, "unlock");
        return;
      case Kind::close:
        if (serving(conn) != self) {
          // After a fork the parent closes only its copy of the socket. A
          // session that logs that close (a recording made so) gets the row the
          // fork drew for it moved to the event, not a second row.
          if (auto it = derived_close_.find(conn);
              it != derived_close_.end() && d_.messages[it->second].from == self) {
            d_.messages[it->second].ts_ns = e.ts_ns;
            d_.messages[it->second].detail = kParentCloseWhy;
            drawn_at_[it->second] = e.ts_ns;
            derived_close_.erase(it);
          } else {
            message(e, self, self, conn, kParentCloseLabel, kParentCloseWhy);
          }
        } else {
          message(e, self, client, conn, "close()");
        }
        return;
      case Kind::exit:
        message(e, self, self, conn, format("exit(%lld)", e.a));
        return;
      case Kind::thread_exit:
        message(e, self, self, conn, "thread ends");
        return;
      case Kind::reap: {
        const int child = server_lane(static_cast<pid_t>(e.a), static_cast<pid_t>(e.a));
        message(e, child, self, conn, format("reaped: waitpid() -> pid %lld", e.a));
        // shotgun: the request's child is gone; the connection is its reaper's again.
        if (serving(conn) == child) serving_[conn] = self;
        return;
      }
      case Kind::error:
        message(e, self, self, conn, "error: " + event_text(e));
        return;
      default:
        return;
    }
  }

  void find_step(std::uint64_t until_ns) {
    const auto& gates = session_.gate_events();
    auto it = std::upper_bound(gates.begin(), gates.end(), until_ns,
                               [](std::uint64_t t, const trace::Event& x) { return t < x.ts_ns; });
    while (it != gates.begin()) {
      const trace::Event& e = *--it;
      if (e.kind != Kind::gate_pass) continue;
      FlowStep s;
      s.ts_ns = e.ts_ns;
      s.pid = static_cast<pid_t>(e.pid);
      s.tid = static_cast<pid_t>(e.tid);
      s.gate = static_cast<trace::GateKind>(e.a);
      s.conn = e.conn;
      // The first message the stepped thread produced after passing the gate.
      for (std::size_t m = 0; m < d_.messages.size(); ++m) {
        const FlowMessage& msg = d_.messages[m];
        if (msg.ts_ns >= s.ts_ns && msg.pid == s.pid && msg.tid == s.tid &&
            (s.message < 0 || msg.ts_ns < d_.messages[static_cast<std::size_t>(s.message)].ts_ns))
          s.message = static_cast<int>(m);
      }
      d_.step = s;
      return;
    }
  }

  // Clients left, then the listener, then handlers in order of appearance;
  // a server thread none of the drawn messages touch gets no lane.
  void order_lanes() {
    std::vector<bool> used(d_.lanes.size(), false);
    for (const FlowMessage& m : d_.messages) used[static_cast<std::size_t>(m.from)] = used[static_cast<std::size_t>(m.to)] = true;
    std::vector<int> order;
    for (std::size_t i = 0; i < d_.lanes.size(); ++i)
      if (used[i] || d_.lanes[i].kind == FlowLaneKind::client) order.push_back(static_cast<int>(i));
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return static_cast<int>(d_.lanes[static_cast<std::size_t>(a)].kind) <
             static_cast<int>(d_.lanes[static_cast<std::size_t>(b)].kind);
    });
    std::vector<int> new_index(d_.lanes.size(), -1);
    std::vector<FlowLane> lanes;
    for (std::size_t i = 0; i < order.size(); ++i) {
      new_index[static_cast<std::size_t>(order[i])] = static_cast<int>(i);
      lanes.push_back(std::move(d_.lanes[static_cast<std::size_t>(order[i])]));
    }
    d_.lanes = std::move(lanes);
    for (FlowMessage& m : d_.messages) {
      m.from = new_index[static_cast<std::size_t>(m.from)];
      m.to = new_index[static_cast<std::size_t>(m.to)];
    }
  }

  const Session& session_;
  const Model& model_;
  const FlowOptions& options_;
  bool loop_ = false;
  FlowDiagram d_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> client_conn_;  // (client id, server conn) of the drawn ones
  std::unordered_set<std::uint32_t> simulated_;                   // conns whose client's own events are in the log
  std::map<std::uint32_t, std::pair<pid_t, pid_t>> acceptor_;
  std::map<std::uint32_t, int> serving_;
  std::map<std::uint32_t, std::uint64_t> accept_ns_;
  std::uint64_t first_scanned_ns_ = 0;
  // Where each message is drawn (see draw_in_order()), parallel to d_.messages.
  std::vector<std::uint64_t> drawn_at_;
  // Per connection, the simulator's client_reply events (ts, code) in order,
  // and the server's reply messages (see pair_replies()).
  std::map<std::uint32_t, std::vector<std::pair<std::uint64_t, std::int64_t>>> client_replies_;
  std::map<std::uint32_t, std::vector<std::pair<std::size_t, std::int64_t>>> server_replies_;  // (message, code)
  std::map<std::uint32_t, std::size_t> pending_connect_;  // connect messages waiting for their accept
  std::map<std::uint32_t, std::size_t> derived_close_;    // the parent's close rows drawn from a fork event
  struct ForkRows {
    std::size_t begin, end;  // the fork's rows in d_.messages (before draw_in_order())
    pid_t child;
    std::uint32_t conn;
  };
  std::vector<ForkRows> fork_rows_;
  // Each process's first row for a connection (its event's time); by
  // connection too, so that a reused pid is not taken for an old process.
  std::map<std::pair<pid_t, std::uint32_t>, std::uint64_t> first_ts_;
  std::map<LaneKey, int> lane_index_;
};

}  // namespace

FlowDiagram fold_flow(const Session& session, const Model& model, std::uint64_t until_ns, const FlowOptions& options) {
  return FlowBuilder(session, model, options).build(until_ns);
}

std::vector<Parked> parked_at(const Session& session, const Model& model, std::uint64_t until_ns) {
  // Backwards through the gate events: a thread's newest one decides. A
  // thread cannot end while parked (it passes the gate first), except when
  // its whole process is killed, which emits nothing: the model's view of
  // the process decides that case.
  const auto& gates = session.gate_events();
  auto it = std::upper_bound(gates.begin(), gates.end(), until_ns,
                             [](std::uint64_t t, const trace::Event& x) { return t < x.ts_ns; });
  std::unordered_set<pid_t> decided;
  std::vector<Parked> out;
  while (it != gates.begin()) {
    const trace::Event& e = *--it;
    const auto tid = static_cast<pid_t>(e.tid);
    if (!decided.insert(tid).second || e.kind != Kind::gate_wait) continue;
    const ProcessView* p = model.find_process(static_cast<pid_t>(e.pid));
    if (p && !p->alive()) continue;
    const trace::GateSite site{static_cast<std::uint32_t>(static_cast<std::uint64_t>(e.b) >> 32), e.flags};
    out.push_back({static_cast<pid_t>(e.pid), tid, static_cast<trace::GateKind>(e.a), e.conn, e.ts_ns, site});
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace sockscope::session
