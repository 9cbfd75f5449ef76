// Gates: named points in every server architecture's code where a teacher can
// stop a process or thread, one system call at a time.
//
// A GateTable lives in shared memory (a memfd, like the trace ring) created by
// the lab; its fd number is passed in SOCKSCOPE_GATE_FD and survives fork and
// exec, so servers, forked children, pool workers and the event loop thread
// all see the same table. Four modes:
//  - run:    gate() costs one relaxed atomic load and returns;
//  - step:   the caller claims a waiter slot (lock-free CAS), emits gate_wait,
//            and sleeps on a futex in that slot until the lab releases it,
//            then emits gate_pass;
//  - slow:   the caller sleeps the table's delay, then emits gate_pass;
//  - run_to: a breakpoint, like a debugger's all-stop. Gates that do not match
//            the target (a gate kind, and a connection or any) return at once,
//            with no event, as in run mode. The first process or thread to
//            reach a matching gate switches the table to step (one CAS) and
//            parks there; everyone else then parks at their next gate.
// Leaving step mode releases every waiter. A waiter released that way (by
// run(), slow() or run_until()) goes on past the gate it stood at: run_until
// never stops someone where they already stand.
//
// Nobody stays parked when the lab is gone: a waiter wakes every 200 ms (the
// futex wait has a timeout) and gives up when the lab's pid no longer exists,
// when its process was asked to stop (the server's SIGTERM path), or when the
// mode is no longer step. A process that finds the lab gone stops gating.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <source_location>
#include <string_view>
#include <vector>

namespace sockscope::trace {

inline constexpr const char* kGateFdEnv = "SOCKSCOPE_GATE_FD";
inline constexpr std::uint32_t kGateMagic = 0x53434b47;  // "SCKG"
inline constexpr std::uint32_t kGateVersion = 3;  // 2: run_to mode and its target; 3: the gate's source line
inline constexpr std::size_t kGateSlots = 128;

// Where a gate stands. Each sits just BEFORE the system call it is named after
// (accept before accept4(), fork before fork(), read before recv(), ...), so a
// process parked at a gate is about to make that call.
enum class GateKind : std::uint8_t {
  accept, fork, child_start, spawn, enqueue, dequeue, read, reply, close, exit, reap,
  lock, unlock, counter_read, counter_write, handler_begin, exec,
  count_
};
inline constexpr std::array<std::string_view, static_cast<std::size_t>(GateKind::count_)> kGateNames = {
    "accept", "fork", "child_start", "spawn", "enqueue", "dequeue", "read", "reply", "close", "exit", "reap",
    "lock",   "unlock", "counter_read", "counter_write", "handler_begin", "exec",
};
static_assert(kGateNames.back() == "exec", "kGateNames out of step with GateKind");

constexpr std::string_view gate_name(GateKind k) {
  auto i = static_cast<std::size_t>(k);
  return i < kGateNames.size() ? kGateNames[i] : std::string_view{"unknown"};
}
constexpr bool gate_from_name(std::string_view name, GateKind& out) {
  for (std::size_t i = 0; i < kGateNames.size(); ++i)
    if (kGateNames[i] == name) {
      out = static_cast<GateKind>(i);
      return true;
    }
  return false;
}

enum class GateMode : std::uint32_t { run = 0, step = 1, slow = 2, run_to = 3 };
std::string_view gate_mode_name(GateMode m);

// Where a gate call stands in the source: the file's name hashed (FNV-1a of
// its last path component, so "fork_server.cpp" from any build directory)
// and the line. Two gates of one kind in one architecture (shotgun forks per
// connection and per request) are told apart by it.
struct GateSite {
  std::uint32_t file = 0;  // 0 = unknown
  std::uint32_t line = 0;
  bool operator==(const GateSite&) const = default;
};
constexpr std::uint32_t gate_file_hash(std::string_view path) {
  std::size_t slash = path.find_last_of('/');
  if (slash != std::string_view::npos) path.remove_prefix(slash + 1);
  std::uint32_t h = 2166136261u;
  for (char c : path) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return h == 0 ? 1 : h;
}

// Where run_to stops: the next `kind` gate of connection `conn` (0 = any).
struct RunTarget {
  GateKind kind = GateKind::accept;
  std::uint32_t conn = 0;
  bool operator==(const RunTarget&) const = default;
};

// One parked process or thread, as the lab sees it.
struct GateWaiter {
  int slot = -1;
  pid_t pid = 0;
  pid_t tid = 0;
  GateKind kind = GateKind::accept;
  std::uint32_t conn = 0;
  std::uint64_t since_ns = 0;  // CLOCK_MONOTONIC, like Event::ts_ns
  std::uint64_t seq = 0;       // arrival order (1, 2, ...), unique per table
  GateSite site;               // the gate call it stands at
  bool operator==(const GateWaiter&) const = default;
};

class GateTable {
 public:
  GateTable() = default;
  ~GateTable();
  GateTable(GateTable&& other) noexcept;
  GateTable& operator=(GateTable&& other) noexcept;
  GateTable(const GateTable&) = delete;
  GateTable& operator=(const GateTable&) = delete;

  // A new table in run mode, in a memfd inherited across fork and exec. The
  // creating process is recorded as the lab (waiters give up when it dies).
  // Throws std::system_error.
  static GateTable create();
  // Maps an inherited table. Throws std::runtime_error on a bad magic/version.
  static GateTable attach(int fd);

  bool valid() const { return header_ != nullptr; }
  int fd() const { return fd_; }

  // ---- lab side ----
  // Leaving step mode releases every waiter. delay_ms is used by slow mode.
  // set_mode(run_to) runs to the last target set; use run_until().
  void set_mode(GateMode mode, std::uint32_t delay_ms = 0);
  GateMode mode() const;
  std::uint32_t delay_ms() const;
  // Runs (releasing everyone parked) until the next `kind` gate reached by
  // connection `conn` (0 = any connection), then stops everyone as Pause does.
  void run_until(GateKind kind, std::uint32_t conn = 0);
  // The target, while in run_to mode; nullopt in any other mode.
  std::optional<RunTarget> run_target() const;
  // The arrival (GateWaiter::seq) that reached the last run_until() target
  // and switched the table to step; 0 until one has.
  std::uint64_t breakpoint_seq() const;
  // The waiters now, in arrival order.
  std::vector<GateWaiter> waiters() const;
  // Releases the earliest arrival; false when nobody waits.
  bool release_next();
  // Releases the waiter in `slot`; false when that slot holds nobody waiting.
  bool release(int slot);
  // Releases `w` only if its slot still holds that same arrival (w.seq).
  bool release(const GateWaiter& w);
  // Releases everyone; returns how many.
  int release_all();
  // The process whose death frees every waiter (default: the creator).
  void set_lab_pid(pid_t pid);

  // ---- server side (use trace::gate() below) ----
  void pass(GateKind kind, std::uint32_t conn, GateSite site = {}) noexcept;
  GateMode mode_relaxed() const noexcept {
    return static_cast<GateMode>(mode_word_->load(std::memory_order_relaxed));
  }

 private:
  struct Header;
  struct Slot;
  Header* header_ = nullptr;
  Slot* slots_ = nullptr;
  std::atomic<std::uint32_t>* mode_word_ = nullptr;
  std::size_t map_size_ = 0;
  int fd_ = -1;
  void reset() noexcept;
  // Releases the waiters whose arrival number is <= last_seq.
  int release_arrived_by(std::uint64_t last_seq);
  void wait_step(GateKind kind, std::uint32_t conn, GateSite site, bool breakpoint) noexcept;
  void pass_run_to(GateKind kind, std::uint32_t conn, GateSite site) noexcept;
  bool lab_alive() const noexcept;
};

// ---- the process-wide table used by servers ---------------------------------

// Attaches to the table named by SOCKSCOPE_GATE_FD, if any. Without one, gate()
// returns at once. Returns true when attached.
bool attach_gates_from_env();
// Use `table` (not owned) as this process's table; tests use this.
void set_process_gates(GateTable* table);
// A check a parked waiter runs every wake-up: true = stop waiting now (the
// server's SIGTERM path). Async-signal-safe functions only.
void set_gate_stop_check(bool (*check)());

namespace detail {
extern GateTable* g_gates;
}

// The gate itself. Run mode: one load of a pointer and one relaxed load (the
// source location is a constant the compiler fills in at the call).
inline void gate(GateKind kind, std::uint32_t conn = 0,
                 std::source_location where = std::source_location::current()) noexcept {
  GateTable* t = detail::g_gates;
  if (t == nullptr || t->mode_relaxed() == GateMode::run) return;
  t->pass(kind, conn, GateSite{gate_file_hash(where.file_name()), where.line()});
}

// True while the lab steps, slows or runs-to (any mode but run): the servers'
// time is then the teacher's, and the request deadline does not count it.
inline bool gates_held() noexcept {
  GateTable* t = detail::g_gates;
  return t != nullptr && t->mode_relaxed() != GateMode::run;
}

}  // namespace sockscope::trace
