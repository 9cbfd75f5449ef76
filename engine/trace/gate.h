// Gates: named points in every server architecture's code where a teacher can
// stop a process or thread, one system call at a time.
//
// A GateTable lives in shared memory (a memfd, like the trace ring) created by
// the lab; its fd number is passed in SOCKSCOPE_GATE_FD and survives fork and
// exec, so servers, forked children, pool workers and the event loop thread
// all see the same table. Three modes:
//  - run:   gate() costs one relaxed atomic load and returns;
//  - step:  the caller claims a waiter slot (lock-free CAS), emits gate_wait,
//           and sleeps on a futex in that slot until the lab releases it, then
//           emits gate_pass;
//  - slow:  the caller sleeps the table's delay, then emits gate_pass.
// Leaving step mode releases every waiter.
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
#include <string_view>
#include <vector>

namespace sockscope::trace {

inline constexpr const char* kGateFdEnv = "SOCKSCOPE_GATE_FD";
inline constexpr std::uint32_t kGateMagic = 0x53434b47;  // "SCKG"
inline constexpr std::uint32_t kGateVersion = 1;
inline constexpr std::size_t kGateSlots = 128;

// Where a gate stands. Each sits just BEFORE the system call it is named after
// (accept before accept4(), fork before fork(), read before recv(), ...), so a
// process parked at a gate is about to make that call.
enum class GateKind : std::uint8_t {
  accept, fork, child_start, spawn, enqueue, dequeue, read, reply, close, exit, reap,
  lock, unlock, counter_read, counter_write, handler_begin,
  count_
};
inline constexpr std::array<std::string_view, static_cast<std::size_t>(GateKind::count_)> kGateNames = {
    "accept", "fork", "child_start", "spawn", "enqueue", "dequeue", "read", "reply", "close", "exit", "reap",
    "lock",   "unlock", "counter_read", "counter_write", "handler_begin",
};
static_assert(kGateNames.back() == "handler_begin", "kGateNames out of step with GateKind");

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

enum class GateMode : std::uint32_t { run = 0, step = 1, slow = 2 };
std::string_view gate_mode_name(GateMode m);

// One parked process or thread, as the lab sees it.
struct GateWaiter {
  int slot = -1;
  pid_t pid = 0;
  pid_t tid = 0;
  GateKind kind = GateKind::accept;
  std::uint32_t conn = 0;
  std::uint64_t since_ns = 0;  // CLOCK_MONOTONIC, like Event::ts_ns
  std::uint64_t seq = 0;       // arrival order (1, 2, ...), unique per table
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
  void set_mode(GateMode mode, std::uint32_t delay_ms = 0);
  GateMode mode() const;
  std::uint32_t delay_ms() const;
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
  void pass(GateKind kind, std::uint32_t conn) noexcept;
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
  void wait_step(GateKind kind, std::uint32_t conn) noexcept;
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

// The gate itself. Run mode: one load of a pointer and one relaxed load.
inline void gate(GateKind kind, std::uint32_t conn = 0) noexcept {
  GateTable* t = detail::g_gates;
  if (t == nullptr || t->mode_relaxed() == GateMode::run) return;
  t->pass(kind, conn);
}

}  // namespace sockscope::trace
