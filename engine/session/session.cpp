// The session store and its folds.
//
// Sections:
//   1. SessionMeta, names, Model lookups
//   2. What one sample's sockets say (the backlog, copies); the fold itself,
//      FoldState, lives in session/fold_state.h: it applies events and
//      snapshots one at a time, one small function per event kind dispatched
//      by a switch, then derives the fields that depend on everything
//   3. Session: ordered insertion and the live fold cache
//   4. summary()
//
// The live cache: `live_` has folded a prefix of the store (in time order,
// events before snapshots on equal timestamps). A new item at the end is just
// applied. A late item (stamped before something already folded) rewinds the
// live fold to `checkpoint_`, a second fold that trails the live one by a few
// thousand events, instead of refolding the whole store. Only an item older
// than the checkpoint forces a full refold, which the ring's ordering makes
// very rare.
#include "session/session.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "session/fold_state.h"
#include "trace/ring.h"

namespace sockscope::session {

// ---- 1. SessionMeta, names, Model lookups ----------------------------------

void SessionMeta::stamp_start() {
  start_ns = trace::now_ns();
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  start_unix_ns = static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string SessionMeta::option(std::string_view key, std::string_view fallback) const {
  for (const auto& [k, v] : options)
    if (k == key) return v;
  return std::string(fallback);
}

std::string_view role_name(ProcessRole r) {
  switch (r) {
    case ProcessRole::listener: return "listener";
    case ProcessRole::child: return "child";
    case ProcessRole::worker: return "worker";
    case ProcessRole::client_sim: return "client-sim";
    case ProcessRole::unknown: break;
  }
  return "unknown";
}

std::string_view conn_state_name(ConnState s) {
  switch (s) {
    case ConnState::open: return "open";
    case ConnState::closed: return "closed";
    case ConnState::refused: return "refused";
  }
  return "?";
}

const ProcessView* Model::find_process(pid_t pid) const {
  if (!process_at.empty()) {
    auto it = process_at.find(pid);
    return it == process_at.end() ? nullptr : &processes[it->second];
  }
  for (const auto& p : processes)
    if (p.pid == pid) return &p;
  return nullptr;
}

const ConnectionView* Model::find_connection(std::uint32_t id) const {
  if (!connection_at.empty()) {
    auto it = connection_at.find(id);
    return it == connection_at.end() ? nullptr : &connections[it->second];
  }
  // The latest connection with that id (ids restart when a server restarts).
  for (auto it = connections.rbegin(); it != connections.rend(); ++it)
    if (it->id == id) return &*it;
  return nullptr;
}

const ClientView* Model::find_client(std::uint32_t id) const {
  if (!client_at.empty()) {
    auto it = client_at.find(id);
    return it == client_at.end() ? nullptr : &clients[it->second];
  }
  for (const auto& c : clients)
    if (c.id == id) return &c;
  return nullptr;
}

std::vector<const ProcessView*> Model::children_of(pid_t pid) const {
  std::vector<const ProcessView*> out;
  for (const auto& p : processes)
    if (p.ppid == pid && p.pid != pid) out.push_back(&p);
  return out;
}

// ---- 2. Sockets of a sample -------------------------------------------------------

BacklogView choose_backlog(const ListeningSockets& l, std::uint16_t port) {
  BacklogView b;
  b.sampled_ns = l.ts_ns;
  const std::pair<pid_t, SocketFd>* best = nullptr;
  for (const auto& held : l.sockets) {
    if (port != 0 && held.second.local_port != port) continue;
    if (best == nullptr || (held.first == l.root && best->first != l.root)) best = &held;
  }
  if (best == nullptr) return b;  // sampled, and nobody listens
  b.owner = best->first;
  b.fd = best->second.fd;
  b.inode = best->second.inode;
  b.port = best->second.local_port;
  b.depth = best->second.rx_queue;
  b.limit = best->second.tx_queue;
  return b;
}

void set_sockets(ProcessView& p, const ProcInfo& info, const std::unordered_map<std::uint64_t, int>& holders) {
  p.sockets.clear();
  p.socket_copies = false;
  for (const SocketFd& sock : info.sockets) {
    SocketView v;
    static_cast<SocketFd&>(v) = sock;
    auto h = holders.find(sock.inode);
    v.holders = h == holders.end() ? 1 : h->second;
    p.socket_copies = p.socket_copies || v.copy();
    p.sockets.push_back(std::move(v));
  }
}

// ---- 3. Session ----------------------------------------------------------------

namespace {
// How far the checkpoint trails the live fold: late items within this many
// events of the end rewind cheaply.
constexpr std::size_t kCheckpointLag = 4096;
}  // namespace

Session::Session() = default;
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

Session::Session(const Session& o)
    : events_(o.events_), gate_events_(o.gate_events_), snapshots_(o.snapshots_), meta_(o.meta_), drops_(o.drops_),
      generation_(o.generation_) {}

Session& Session::operator=(const Session& o) {
  if (this != &o) *this = Session(o);
  return *this;
}

void Session::clear() { *this = Session(); }

void Session::rewind_live(std::size_t index, std::size_t snapshot_index) {
  // `index`/`snapshot_index`: where the late item went (SIZE_MAX for the
  // other kind). The live fold already went past it.
  if (checkpoint_ && index >= checkpoint_->next_event && snapshot_index >= checkpoint_->next_snapshot) {
    std::uint64_t ts = index != SIZE_MAX ? events_[index].ts_ns : snapshots_[snapshot_index].ts_ns;
    if (ts > checkpoint_->last_ts) {
      live_->rewind_to(*checkpoint_);
      ++late_.rewinds;
      return;
    }
  }
  live_.reset();
  checkpoint_.reset();
  ++late_.refolds;
}

void Session::add_event(const trace::Event& e) {
  if (e.kind == trace::Kind::request && (e.flags & trace::kRequestRead) != 0) {
    // One event from the server for a read and its request: stored as the
    // two a blocking server logs, at the same time (trace::kRequestRead).
    trace::Event read = e;
    read.kind = trace::Kind::read;
    read.flags = 0;
    read.set_text({});
    store_event(read);
    trace::Event request = e;
    request.a = 0;
    request.flags = 0;
    store_event(request);
    return;
  }
  store_event(e);
}

void Session::store_event(const trace::Event& e) {
  std::size_t idx;
  if (events_.empty() || events_.back().ts_ns <= e.ts_ns) {
    idx = events_.size();
    events_.push_back(e);
  } else {
    auto it = std::upper_bound(events_.begin(), events_.end(), e.ts_ns,
                               [](std::uint64_t t, const trace::Event& x) { return t < x.ts_ns; });
    idx = static_cast<std::size_t>(it - events_.begin());
    events_.insert(idx, e);
  }
  if (e.kind == trace::Kind::gate_wait || e.kind == trace::Kind::gate_pass) {
    // Same order as events_: after every gate event of an equal timestamp.
    auto it = std::upper_bound(gate_events_.begin(), gate_events_.end(), e.ts_ns,
                               [](std::uint64_t t, const trace::Event& x) { return t < x.ts_ns; });
    gate_events_.insert(it, e);
  }
  ++generation_;
  if (live_ && (idx < live_->next_event || e.ts_ns < live_->last_ts)) rewind_live(idx, SIZE_MAX);
}

void Session::add_events(const trace::Event* events, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) add_event(events[i]);
}

void Session::add_snapshot(ProcSnapshot s) {
  std::size_t idx;
  std::uint64_t ts = s.ts_ns;
  if (snapshots_.empty() || snapshots_.back().ts_ns <= ts) {
    idx = snapshots_.size();
    snapshots_.push_back(std::move(s));
  } else {
    auto it = std::upper_bound(snapshots_.begin(), snapshots_.end(), ts,
                               [](std::uint64_t t, const ProcSnapshot& x) { return t < x.ts_ns; });
    idx = static_cast<std::size_t>(it - snapshots_.begin());
    snapshots_.insert(it, std::move(s));
  }
  ++generation_;
  // Events fold before snapshots on equal timestamps, so equal is late too
  // only for events; a snapshot at last_ts can still be applied after.
  if (live_ && (idx < live_->next_snapshot || ts < live_->last_ts)) rewind_live(SIZE_MAX, idx);
}

void Session::set_meta(SessionMeta meta) {
  meta_ = std::move(meta);
  ++generation_;
}

void Session::set_drops(std::uint64_t drops) {
  if (drops_ != drops) ++generation_;
  drops_ = drops;
}

std::uint64_t Session::first_ns() const {
  std::uint64_t t = UINT64_MAX;
  if (!events_.empty()) t = events_.front().ts_ns;
  if (!snapshots_.empty()) t = std::min(t, snapshots_.front().ts_ns);
  return t == UINT64_MAX ? 0 : t;
}

std::uint64_t Session::last_ns() const {
  std::uint64_t t = 0;
  if (!events_.empty()) t = events_.back().ts_ns;
  if (!snapshots_.empty()) t = std::max(t, snapshots_.back().ts_ns);
  return t;
}

std::size_t Session::lower_bound(std::uint64_t t) const {
  auto it = std::lower_bound(events_.begin(), events_.end(), t,
                             [](const trace::Event& x, std::uint64_t v) { return x.ts_ns < v; });
  return static_cast<std::size_t>(it - events_.begin());
}

void Session::catch_up() const {
  if (!live_) live_ = std::make_unique<FoldState>();
  if (live_->next_event == events_.size() && live_->next_snapshot == snapshots_.size()) return;
  live_->advance(events_, snapshots_, UINT64_MAX, meta_);

  // Keep the checkpoint between lag and 2*lag events behind the live fold.
  std::size_t behind = checkpoint_ ? live_->next_event - checkpoint_->next_event : live_->next_event;
  if (behind > 2 * kCheckpointLag) {
    if (!checkpoint_) {
      checkpoint_ = std::make_unique<FoldState>();
      checkpoint_->keep_latency_samples = false;
    }
    std::uint64_t target_ts = events_[live_->next_event - kCheckpointLag].ts_ns;
    if (target_ts > 0) checkpoint_->advance(events_, snapshots_, target_ts - 1, meta_);
  }
}

const Model& Session::model() const {
  catch_up();
  live_->finish(meta_, drops_, last_ns());
  return live_->m;
}

Model Session::fold(std::uint64_t until_ns) const {
  if (until_ns >= last_ns()) {
    Model m = model();
    m.at_ns = until_ns == UINT64_MAX ? last_ns() : until_ns;
    return m;
  }
  FoldState f;
  catch_up();
  // Start from the checkpoint when the instant is past it.
  if (checkpoint_ && until_ns >= checkpoint_->last_ts && checkpoint_->next_event > 0)
    f.restore(*checkpoint_, live_->m.latencies);
  f.advance(events_, snapshots_, until_ns, meta_);
  f.finish(meta_, drops_, until_ns);
  return std::move(f.m);
}

bool Session::same_store(const Session& o) const {
  if (events_.size() != o.events_.size() || !(snapshots_ == o.snapshots_) || !(meta_ == o.meta_) ||
      drops_ != o.drops_)
    return false;
  for (std::size_t i = 0; i < events_.size(); ++i) {
    const auto& x = events_[i];
    const auto& y = o.events_[i];
    if (x.ts_ns != y.ts_ns || x.pid != y.pid || x.tid != y.tid || x.kind != y.kind || x.flags != y.flags ||
        x.conn != y.conn || x.a != y.a || x.b != y.b || x.text_view() != y.text_view())
      return false;
  }
  return true;
}

// ---- 4. summary ----------------------------------------------------------------

std::string summary(const Model& m, const Session& s) {
  const Counts& c = m.counts;
  // Where each number comes from. Counts of events are exact while nothing
  // was dropped, and a lower bound once the ring dropped some; the kernel's
  // own numbers (a /proc sample, the ring's drop counter) are not.
  const std::string from_events =
      s.drops() == 0 ? "(events)"
                     : "(events: at least, " + std::to_string(s.drops()) + " events were dropped)";
  auto line = [](const char* label, std::uint64_t value, const std::string& source) {
    char buf[192];
    if (source.empty())
      std::snprintf(buf, sizeof buf, "%-20s%llu\n", label, static_cast<unsigned long long>(value));
    else
      std::snprintf(buf, sizeof buf, "%-20s%-10llu %s\n", label, static_cast<unsigned long long>(value),
                    source.c_str());
    return std::string(buf);
  };
  std::string out;
  out += line("connections served:", c.connections_served, from_events);
  out += line("children forked:", c.children_forked, from_events);
  out += line("reaped:", c.reaped, from_events);
  // Zombies: state Z in the latest /proc sample of the server's tree (an
  // empty sample once the server is gone: nothing left to reap).
  if (!s.snapshots().empty()) {
    const ProcSnapshot& last = s.snapshots().back();
    std::uint64_t zombies = 0;
    for (const ProcInfo& p : last.procs) zombies += p.state == 'Z' ? 1 : 0;
    char when[96];
    std::snprintf(when, sizeof when, "(kernel: /proc at %.1f s)",
                  static_cast<double>(last.ts_ns - std::min(last.ts_ns, s.meta().start_ns)) / 1e9);
    out += line("zombies:", zombies, when);
  } else {
    out += line("zombies:", c.zombies_now, from_events);
  }
  out += line("refused:", c.refused, from_events);
  out += line("errors:", c.errors, from_events);
  out += line("ring drops:", s.drops(), "(the ring's own count)");
  std::string lat;
  if (m.latency.count > 0) {
    char l[160];
    std::snprintf(l, sizeof l, "p50 %.2f ms, p99 %.2f ms (%zu replies)", m.latency.p50_ms(),
                  m.latency.p99_ms(), m.latency.count);
    lat = l;
  } else {
    lat = "no client replies";
  }
  out += "client latency:     " + lat + " " + from_events + "\n";
  out += line("events recorded:", s.events().size(), "");
  if (c.visitor_counts > 0) {
    // Every ask adds one: with nothing lost, the highest count told equals
    // the asks (when the counter started at 0 in one shared memory).
    out += "visitor counts:     " + std::to_string(c.visitor_counts) + " told, highest " +
           std::to_string(c.visitor_count_max) + " " + from_events + "\n";
  }
  return out;
}

}  // namespace sockscope::session
