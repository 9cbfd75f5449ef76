// The session model: everything that happened in one lab run, and the views
// derived from it.
//
// A Session is an append-only, time-ordered store of trace Events plus the
// periodic /proc snapshots, plus metadata (architecture, port, ring drops...).
// Every view the UI draws — the process tree over time, connections joined to
// the clients that made them, latency, counts — is a *fold* over that store
// (fold() / model()), never state kept on the side. So a session replayed from
// an exported file gives exactly the picture of the live run, and the timeline
// can show any earlier instant by folding up to it.
//
// ---- Concurrency contract (model vs UI) -----------------------------------
// A Session is not thread-safe. The lab owns it inside a SharedSession: one
// mutex, one Session.
//  * The single ingest thread is the only writer (lab/ingest.h). It drains the
//    trace ring, holds what it drained for a 20 ms reorder window in time
//    order, then takes the lock once per batch (write()) to append what is
//    older than the window, so late events rarely rewind the fold. Batches
//    are bounded (16 Ki events) so a write never holds the lock for long.
//    Events live in an EventStore of fixed chunks: appending never moves
//    what is stored.
//  * The UI thread takes the same lock for the whole of one frame's reads
//    (read()): every view in that frame sees one consistent model, and ingest
//    waits (yields) until the frame is drawn. Views keep no pointer or
//    reference into the Session or Model beyond the read() call.
//  * model() is const but refreshes a cache (mutable members); that is safe
//    only because every access, const or not, happens under the one lock.
//  * Nobody else touches the Session: the /proc sampler thread hands its
//    snapshots to ingest (or takes the write lock itself for the one call).
// ----------------------------------------------------------------------------
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "observe/proc_sampler.h"
#include "session/event_store.h"
#include "trace/event.h"

namespace sockscope::session {

using observe::ProcInfo;
using observe::ProcSnapshot;
using observe::SocketFd;

// What the lab knew when it started the run.
struct SessionMeta {
  std::string architecture;      // serial | fork | ...
  std::string protocol;          // ftp | http
  std::uint16_t port = 0;
  pid_t server_pid = 0;
  std::uint64_t start_ns = 0;        // CLOCK_MONOTONIC at start (the Event clock)
  std::int64_t start_unix_ns = 0;    // CLOCK_REALTIME at the same instant, for wall-clock times
  std::vector<std::pair<std::string, std::string>> options;  // e.g. {"reap","true"}, {"bind","127.0.0.1"}

  // Sets start_ns and start_unix_ns to now.
  void stamp_start();
  // Value of option `key`, or `fallback`.
  std::string option(std::string_view key, std::string_view fallback = {}) const;
  bool operator==(const SessionMeta&) const = default;
};

enum class ProcessRole : std::uint8_t {
  unknown,
  listener,    // the server process (accepts; the root of the tree)
  child,       // forked for one connection (fork per connection)
  worker,      // forked up front, accepts itself (prefork, hybrid)
  client_sim,  // the client simulator (`sockscope clients`)
};
std::string_view role_name(ProcessRole r);

// One TCP socket of a process in its latest sample, and how many processes of
// the tree held the same socket (inode) in that sample: more than one means
// this descriptor is one of several copies, as after fork() before parent or
// child closes its own (the fork server's child and its inherited listener,
// every prefork worker and the master's listener).
struct SocketView : SocketFd {
  int holders = 1;
  bool copy() const { return holders > 1; }
  bool operator==(const SocketView&) const = default;
};

// The server's accept backlog: the LISTEN socket on meta.port, held by the
// server root (or, when the root has closed its copy, by another process of
// its tree), as the latest /proc sample measured it. The kernel's count of
// connections that completed the handshake and wait for someone to accept():
// no event can tell it, because no process runs while a client waits there.
struct BacklogView {
  std::uint64_t sampled_ns = 0;  // the sample that measured it (0 = never sampled)
  pid_t owner = 0;               // the process whose socket it is (0 = no listener in that sample)
  int fd = -1;
  std::uint64_t inode = 0;
  std::uint16_t port = 0;
  std::uint32_t depth = 0;       // connections waiting for accept() (LISTEN rx_queue)
  std::uint32_t limit = 0;       // the most that can wait (listen()'s backlog, LISTEN tx_queue)
  bool known() const { return owner != 0; }
  bool operator==(const BacklogView&) const = default;
};

// One process across the whole session up to the fold instant.
struct ProcessView {
  pid_t pid = 0;
  pid_t ppid = 0;  // from /proc when seen there, else from fork/child_start events
  ProcessRole role = ProcessRole::unknown;
  std::string comm;     // from /proc
  std::string cmdline;  // from /proc
  std::uint64_t first_seen_ns = 0;  // first event or snapshot naming it
  std::uint64_t last_seen_ns = 0;   // last event or snapshot naming it
  std::uint64_t fork_ns = 0;        // parent's fork event (0 = none)
  std::uint64_t exec_ns = 0;        // its exec event: a new program image (inetd's handler; 0 = none)
  std::string image;                // the program it exec'd (exec event's text)
  std::uint32_t request = 0;        // shotgun: forked for the Nth request of its connection (0 = not per request)
  std::uint64_t exit_ns = 0;        // its exit event (0 = not exited)
  std::int64_t exit_status = 0;
  std::uint64_t reap_ns = 0;        // parent's reap event (0 = not reaped)
  std::uint64_t gone_ns = 0;        // first snapshot (same root) that no longer lists it
  // Latest /proc sample at or before the fold instant (valid when sampled_ns != 0).
  std::uint64_t sampled_ns = 0;
  bool in_proc = false;  // listed in the latest snapshot of its root
  char state = '?';      // derived: /proc state when fresher than events, 'Z' exited unreaped, 'X' gone/reaped
  bool zombie = false;   // derived: exited, not yet reaped, still in the process table
  int threads = 0;
  std::vector<pid_t> tids;
  std::uint64_t rss_kb = 0;
  std::uint64_t pss_kb = 0;
  int fds = 0;
  std::vector<SocketView> sockets;  // its TCP sockets (/proc/PID/fd joined with /proc/net/tcp), by fd
  bool socket_copies = false;       // one of them is also open in another live process of the tree
  double cpu_s = 0.0;
  std::vector<std::uint32_t> conns;  // server connection ids this process serves/served
  std::uint64_t events = 0;          // events it emitted

  bool alive() const { return state != 'X' && state != 'Z' && exit_ns == 0; }
  bool operator==(const ProcessView&) const = default;
};

enum class ConnState : std::uint8_t { open, closed, refused };
std::string_view conn_state_name(ConnState s);

// One server-side connection (an accept), joined with the simulated client
// that made it when there is one.
struct ConnectionView {
  std::uint32_t id = 0;          // server connection id (Event::conn on server events)
  pid_t listener_pid = 0;        // who accepted
  pid_t serving_pid = 0;         // who handles it (the forked child, or listener_pid)
  std::uint32_t serving_tid = 0; // thread handling it (spawn), else the serving pid's tid
  std::uint32_t client_id = 0;   // simulator client id; 0 = external client (curl, nc) or not joined yet
  std::uint16_t peer_port = 0;   // client's local port as the server saw it
  std::uint64_t accept_ns = 0;
  std::uint64_t close_ns = 0;    // 0 = still open
  std::uint64_t bytes_in = 0;    // from close (a) or summed reads while open
  std::uint64_t bytes_out = 0;   // from close (b) or summed writes while open
  ConnState state = ConnState::open;
  std::uint32_t requests = 0;
  std::uint32_t replies = 0;
  bool operator==(const ConnectionView&) const = default;
};

// One simulated client (client_* events).
struct ClientView {
  std::uint32_t id = 0;
  pid_t pid = 0;                 // simulator process
  std::uint16_t local_port = 0;
  std::uint32_t server_conn = 0; // joined server connection id (0 = not joined)
  std::uint64_t connect_ns = 0;
  std::uint64_t close_ns = 0;
  std::uint64_t connect_latency_ns = 0;
  std::uint32_t requests = 0;
  std::uint32_t replies = 0;
  std::uint32_t errors = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t last_latency_ns = 0;
  std::uint64_t max_latency_ns = 0;
  std::int64_t visitor_count = -1;  // the last visitor count the server told it (-1 = never asked)
  bool operator==(const ClientView&) const = default;
};

// One client_reply: when, who, how long.
struct LatencySample {
  std::uint64_t ts_ns = 0;
  std::uint32_t client_id = 0;
  std::int64_t code = 0;
  std::uint64_t latency_ns = 0;
  bool operator==(const LatencySample&) const = default;
};

struct LatencyStats {
  std::size_t count = 0;
  std::uint64_t p50_ns = 0;  // nearest-rank percentiles
  std::uint64_t p99_ns = 0;
  std::uint64_t max_ns = 0;
  double mean_ns = 0.0;
  double p50_ms() const { return static_cast<double>(p50_ns) / 1e6; }
  double p99_ms() const { return static_cast<double>(p99_ns) / 1e6; }
  bool operator==(const LatencyStats&) const = default;
};

struct Counts {
  std::uint64_t events = 0;              // events folded
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_served = 0;  // accepted and not refused
  std::uint64_t connections_open = 0;
  std::uint64_t children_forked = 0;     // fork events
  std::uint64_t threads_spawned = 0;     // spawn events
  std::uint64_t execs = 0;               // exec events (a forked child became another program)
  std::uint64_t reaped = 0;              // reap events of children/workers (not the lab reaping the server)
  std::uint64_t exited = 0;              // exit events
  std::uint64_t zombies_now = 0;         // processes with zombie == true
  std::uint64_t refused = 0;             // refuse events
  std::uint64_t errors = 0;              // error + client_error events
  std::uint64_t requests = 0;            // server-side request events
  std::uint64_t replies = 0;             // client_reply events
  std::uint64_t drops = 0;               // ring drops (session-wide)
  std::uint64_t visitor_counts = 0;      // client replies that told a visitor count
  std::uint64_t visitor_count_max = 0;   // the highest count told
  bool operator==(const Counts&) const = default;
};

// The state of the world at one instant. Plain data; vectors are in order of
// first appearance.
struct Model {
  std::uint64_t at_ns = 0;  // fold instant (UINT64_MAX folded = last event time)
  std::vector<ProcessView> processes;
  std::vector<ConnectionView> connections;
  std::vector<ClientView> clients;
  // Where each pid's and id's row is, kept by the fold as it adds rows: a
  // load's model holds hundreds of thousands of connections, and the event
  // log and the export look one up for every line they write (searching the
  // rows, `run --export` of a 5 s load of short connections, about 80,000,
  // took 27.8 s; with the index 4.6 s). A model built by hand leaves them
  // empty, and the finds below then search the rows.
  std::unordered_map<pid_t, std::size_t> process_at;             // the first process with that pid
  std::unordered_map<std::uint32_t, std::size_t> connection_at;  // the latest connection with that id
  std::unordered_map<std::uint32_t, std::size_t> client_at;      // the first client with that id
  std::vector<LatencySample> latencies;  // every client_reply, in time order
  LatencyStats latency;
  Counts counts;
  BacklogView backlog;  // the server's listening socket, from the latest sample of the server's tree

  const ProcessView* find_process(pid_t pid) const;
  const ConnectionView* find_connection(std::uint32_t id) const;
  const ClientView* find_client(std::uint32_t id) const;
  // Children of `pid` in the tree (by ppid), in order of appearance.
  std::vector<const ProcessView*> children_of(pid_t pid) const;
  bool operator==(const Model&) const = default;
};

class FoldState;  // the incremental folder (session.cpp)

class Session {
 public:
  Session();
  ~Session();
  Session(const Session&);
  Session& operator=(const Session&);
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // ---- writing (ingest thread, under the write lock) ----
  // Inserts in time order. Events come mostly in order; a late one (another
  // process stamped it earlier but pushed it later) is inserted where it
  // belongs and the cached fold is rewound, not rebuilt from scratch. A
  // request marked trace::kRequestRead is stored as its read and itself.
  void add_event(const trace::Event& e);
  void add_events(const trace::Event* events, std::size_t n);
  void add_snapshot(ProcSnapshot s);
  void set_meta(SessionMeta meta);
  void set_drops(std::uint64_t drops);
  void clear();

  // ---- reading ----
  const EventStore& events() const { return events_; }
  // The gate_wait and gate_pass events alone, in the same order: who is
  // parked and the last step, without scanning a long session.
  const std::vector<trace::Event>& gate_events() const { return gate_events_; }
  const std::vector<ProcSnapshot>& snapshots() const { return snapshots_; }
  const SessionMeta& meta() const { return meta_; }
  std::uint64_t drops() const { return drops_; }
  // Bumped on every change: a UI can skip redrawing when it did not move.
  std::uint64_t generation() const { return generation_; }
  // Time span of the store (events and snapshots); {0,0} when empty.
  std::uint64_t first_ns() const;
  std::uint64_t last_ns() const;

  // The live picture: the fold of everything so far. Cached and updated
  // incrementally; cheap to call every frame. The reference is valid until the
  // next write.
  const Model& model() const;
  // The picture at instant `until_ns` (events and snapshots with ts <= it).
  // Folds from the start (cost proportional to the store); returns the cached
  // live model when `until_ns` is at or after the last item.
  Model fold(std::uint64_t until_ns = std::numeric_limits<std::uint64_t>::max()) const;

  // Index of the first event with ts >= t (binary search), for timelines.
  std::size_t lower_bound(std::uint64_t t) const;

  // Store equality (events, snapshots, meta, drops); folds follow from it.
  bool same_store(const Session& other) const;

  // How the live fold kept up with late items (stamped before something it
  // had already folded): rewinds to the trailing checkpoint, and full refolds
  // from the start (a late item older than the checkpoint). For benchmarks.
  struct LateItems {
    std::uint64_t rewinds = 0;
    std::uint64_t refolds = 0;
  };
  LateItems late_items() const { return late_; }

 private:
  EventStore events_;
  std::vector<trace::Event> gate_events_;
  std::vector<ProcSnapshot> snapshots_;
  SessionMeta meta_;
  std::uint64_t drops_ = 0;
  std::uint64_t generation_ = 0;
  // Live fold cache (see session.cpp: a rolling checkpoint makes late inserts cheap).
  mutable std::unique_ptr<FoldState> live_;
  mutable std::unique_ptr<FoldState> checkpoint_;
  mutable std::unique_ptr<Model> live_model_;
  mutable std::uint64_t live_model_generation_ = ~std::uint64_t{0};
  LateItems late_;
  void rewind_live(std::size_t event_index, std::size_t snapshot_index);
  void store_event(const trace::Event& e);  // add_event, after splitting a request that is its read too
  void catch_up() const;
};

// The lab's Session behind its one mutex. See the concurrency contract above.
class SharedSession {
 public:
  // Calls f(const Session&) under the lock; returns what f returns.
  template <class F>
  auto read(F&& f) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::forward<F>(f)(static_cast<const Session&>(session_));
  }
  // Calls f(Session&) under the lock (ingest only); returns what f returns.
  template <class F>
  auto write(F&& f) {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::forward<F>(f)(session_);
  }
  // A copy of the whole session (for export off the UI thread).
  Session copy() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return session_;
  }

 private:
  mutable std::mutex mutex_;
  Session session_;
};

// The short text the headless `run` prints: connections served, children
// forked, reaped, zombies, refused, ring drops (always shown), client latency
// p50/p99 in ms, events recorded. Each line says where its number comes
// from: the events (a lower bound once the ring dropped some) or the kernel
// (zombies: state Z in the last /proc sample). Ends with a newline.
std::string summary(const Model& model, const Session& session);

}  // namespace sockscope::session
