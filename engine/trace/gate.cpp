// Gates (see gate.h). Layout of the shared mapping: a 256-byte header, then
// kGateSlots slots of 64 bytes. Each slot's `state` word is also its futex.
//
// Slot states: free → claimed (a waiter fills it) → waiting → released (the
// lab) → free (the waiter, on its way out). A waiter that gives up (lab gone,
// stop requested, mode changed) frees its slot itself. A waiter that dies
// parked (SIGKILL) leaves `waiting` behind with a dead pid; waiters() frees
// such slots, so the lab never shows a ghost.
//
// run_to: the target is one 64-bit word (kind << 32 | conn), so a gate never
// reads a kind from one run_until() and a connection from another. It is
// stored before the mode (a seq_cst exchange), and pass() loads the mode with
// acquire, so a gate that sees run_to sees its target.
#include "trace/gate.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>

#include "trace/ring.h"

namespace sockscope::trace {

namespace {
constexpr std::uint32_t kFree = 0;
constexpr std::uint32_t kClaimed = 1;
constexpr std::uint32_t kWaiting = 2;
constexpr std::uint32_t kReleased = 3;
// How often a parked waiter re-checks that the lab is alive and whether it
// was asked to stop; also the longest a missed wake-up could cost.
constexpr long kRecheckNs = 200L * 1000 * 1000;
constexpr std::size_t kHeaderBytes = 256;
constexpr std::size_t kSlotBytes = 64;
constexpr std::size_t kMapBytes = kHeaderBytes + kGateSlots * kSlotBytes;

static_assert(std::atomic<std::uint32_t>::is_always_lock_free && sizeof(std::atomic<std::uint32_t>) == 4,
              "a slot's state must be a plain 32-bit futex word");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t val, const timespec* timeout) {
  // Not FUTEX_PRIVATE_FLAG: waiter and waker are different processes.
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, val, timeout, nullptr, 0);
}

GateTable* g_gates_owned = nullptr;
std::atomic<bool (*)()> g_stop_check{nullptr};
// Set when a waiter found the lab gone: this process stops gating for good.
std::atomic<bool> g_orphaned{false};

bool stop_requested() {
  auto check = g_stop_check.load(std::memory_order_relaxed);
  return check != nullptr && check();
}

void sleep_ns(long ns) {
  timespec ts{ns / 1000000000L, ns % 1000000000L};
  nanosleep(&ts, nullptr);
}
}  // namespace

namespace detail {
GateTable* g_gates = nullptr;
}

struct GateTable::Header {
  std::uint32_t magic;
  std::uint32_t version;
  std::uint32_t slots;
  std::uint32_t pad;
  std::atomic<std::uint32_t> mode;
  std::atomic<std::uint32_t> delay_ms;
  std::atomic<std::int32_t> lab_pid;
  std::atomic<std::uint64_t> arrivals;  // last arrival number handed out
  std::atomic<std::uint64_t> target;    // run_to: kind << 32 | conn (0 = any)
  std::atomic<std::uint64_t> breakpoint_seq;  // the arrival that reached it
};

struct GateTable::Slot {
  std::atomic<std::uint32_t> state;  // the futex word
  std::atomic<std::uint32_t> kind;
  std::atomic<std::int32_t> pid;
  std::atomic<std::int32_t> tid;
  std::atomic<std::uint32_t> conn;
  std::atomic<std::uint64_t> since_ns;
  std::atomic<std::uint64_t> seq;
  std::atomic<std::uint32_t> file;  // GateSite
  std::atomic<std::uint32_t> line;
};

std::string_view gate_mode_name(GateMode m) {
  switch (m) {
    case GateMode::run: return "run";
    case GateMode::step: return "step";
    case GateMode::slow: return "slow";
    case GateMode::run_to: return "run_to";
  }
  return "unknown";
}

GateTable::~GateTable() { reset(); }
GateTable::GateTable(GateTable&& o) noexcept { *this = std::move(o); }
GateTable& GateTable::operator=(GateTable&& o) noexcept {
  if (this != &o) {
    reset();
    header_ = o.header_;
    slots_ = o.slots_;
    mode_word_ = o.mode_word_;
    map_size_ = o.map_size_;
    fd_ = o.fd_;
    o.header_ = nullptr;
    o.slots_ = nullptr;
    o.mode_word_ = nullptr;
    o.map_size_ = 0;
    o.fd_ = -1;
  }
  return *this;
}

void GateTable::reset() noexcept {
  if (header_) munmap(header_, map_size_);
  if (fd_ >= 0) ::close(fd_);
  header_ = nullptr;
  slots_ = nullptr;
  mode_word_ = nullptr;
  fd_ = -1;
}

GateTable GateTable::create() {
  static_assert(sizeof(Header) <= kHeaderBytes);
  static_assert(sizeof(Slot) <= kSlotBytes);
  // No MFD_CLOEXEC: the fd must survive exec into servers.
  int fd = static_cast<int>(syscall(SYS_memfd_create, "sockscope-gates", 0));
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "memfd_create gates");
  if (ftruncate(fd, static_cast<off_t>(kMapBytes)) != 0) {
    int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "ftruncate gates");
  }
  void* p = mmap(nullptr, kMapBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "mmap gates");
  }
  GateTable t;
  t.fd_ = fd;
  t.map_size_ = kMapBytes;
  t.header_ = new (p) Header{};
  t.header_->slots = kGateSlots;
  t.header_->mode.store(static_cast<std::uint32_t>(GateMode::run));
  t.header_->delay_ms.store(0);
  t.header_->lab_pid.store(getpid());
  t.header_->arrivals.store(0);
  t.header_->target.store(0);
  t.header_->breakpoint_seq.store(0);
  t.slots_ = reinterpret_cast<Slot*>(static_cast<char*>(p) + kHeaderBytes);
  for (std::size_t i = 0; i < kGateSlots; ++i) {
    auto* s = new (reinterpret_cast<char*>(t.slots_) + i * kSlotBytes) Slot{};
    s->state.store(kFree);
  }
  t.mode_word_ = &t.header_->mode;
  t.header_->version = kGateVersion;
  t.header_->magic = kGateMagic;
  return t;
}

GateTable GateTable::attach(int fd) {
  void* p = mmap(nullptr, kMapBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap gates");
  std::uint32_t magic = 0, version = 0, slots = 0;
  std::memcpy(&magic, p, 4);
  std::memcpy(&version, static_cast<char*>(p) + 4, 4);
  std::memcpy(&slots, static_cast<char*>(p) + 8, 4);
  if (magic != kGateMagic || version != kGateVersion || slots != kGateSlots) {
    munmap(p, kMapBytes);
    if (magic != kGateMagic) throw std::runtime_error("gate table: bad magic (not a sockscope gate table)");
    throw std::runtime_error("gate table: version " + std::to_string(version) + " with " + std::to_string(slots) +
                             " slots, this build reads version " + std::to_string(kGateVersion));
  }
  GateTable t;
  t.fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 0);  // our own copy; the inherited one stays for children
  t.map_size_ = kMapBytes;
  t.header_ = static_cast<Header*>(p);
  t.slots_ = reinterpret_cast<Slot*>(static_cast<char*>(p) + kHeaderBytes);
  t.mode_word_ = &t.header_->mode;
  return t;
}

// ---- lab side -----------------------------------------------------------------

void GateTable::set_mode(GateMode mode, std::uint32_t delay_ms) {
  if (!header_) return;
  header_->delay_ms.store(delay_ms);
  const std::uint64_t parked_by = header_->arrivals.load();
  std::uint32_t old = header_->mode.exchange(static_cast<std::uint32_t>(mode));
  // Leaving step mode releases everyone. A waiter that was still claiming its
  // slot sees the new mode before it sleeps (it re-reads the mode after
  // publishing `waiting`), so nobody can slip past this.
  if (old == static_cast<std::uint32_t>(GateMode::step) && mode != GateMode::step) release_arrived_by(parked_by);
}

GateMode GateTable::mode() const {
  if (!header_) return GateMode::run;
  const std::uint32_t m = header_->mode.load();  // a scribbled word reads as run
  return m <= static_cast<std::uint32_t>(GateMode::run_to) ? static_cast<GateMode>(m) : GateMode::run;
}
std::uint32_t GateTable::delay_ms() const { return header_ ? header_->delay_ms.load() : 0; }

namespace {
std::uint64_t pack_target(GateKind kind, std::uint32_t conn) {
  return (std::uint64_t(static_cast<std::uint8_t>(kind)) << 32) | conn;
}
RunTarget unpack_target(std::uint64_t word) {
  return RunTarget{static_cast<GateKind>(word >> 32), static_cast<std::uint32_t>(word)};
}
}  // namespace

void GateTable::run_until(GateKind kind, std::uint32_t conn) {
  if (!header_) return;
  header_->breakpoint_seq.store(0);
  header_->target.store(pack_target(kind, conn));
  // Leaving step mode: everyone parked goes on past the gate they stand at
  // (their loop sees the mode change even if the release below misses a
  // waiter that is still claiming its slot). Only those parked before the
  // switch: the target may be reached, and the table back in step mode,
  // before the release loop is done, and whoever parks after the breakpoint
  // must stay parked.
  const std::uint64_t parked_by = header_->arrivals.load();
  std::uint32_t old = header_->mode.exchange(static_cast<std::uint32_t>(GateMode::run_to));
  if (old == static_cast<std::uint32_t>(GateMode::step)) release_arrived_by(parked_by);
}

std::optional<RunTarget> GateTable::run_target() const {
  if (!header_ || mode() != GateMode::run_to) return std::nullopt;
  return unpack_target(header_->target.load());
}

std::uint64_t GateTable::breakpoint_seq() const { return header_ ? header_->breakpoint_seq.load() : 0; }

void GateTable::set_lab_pid(pid_t pid) {
  if (header_) header_->lab_pid.store(pid);
}

std::vector<GateWaiter> GateTable::waiters() const {
  std::vector<GateWaiter> out;
  if (!header_) return out;
  for (std::size_t i = 0; i < kGateSlots; ++i) {
    Slot& s = *reinterpret_cast<Slot*>(reinterpret_cast<char*>(slots_) + i * kSlotBytes);
    if (s.state.load(std::memory_order_acquire) != kWaiting) continue;
    GateWaiter w;
    w.slot = static_cast<int>(i);
    w.pid = s.pid.load(std::memory_order_relaxed);
    w.tid = s.tid.load(std::memory_order_relaxed);
    w.kind = static_cast<GateKind>(s.kind.load(std::memory_order_relaxed));
    w.conn = s.conn.load(std::memory_order_relaxed);
    w.since_ns = s.since_ns.load(std::memory_order_relaxed);
    w.seq = s.seq.load(std::memory_order_relaxed);
    w.site.file = s.file.load(std::memory_order_relaxed);
    w.site.line = s.line.load(std::memory_order_relaxed);
    // A waiter killed while parked (its server was stopped) leaves its slot
    // marked waiting: free it instead of showing a ghost.
    if (w.pid > 0 && kill(w.pid, 0) != 0 && errno == ESRCH) {
      std::uint32_t expected = kWaiting;
      s.state.compare_exchange_strong(expected, kFree);
      continue;
    }
    // Re-check: the slot may have changed hands while we read it.
    if (s.state.load(std::memory_order_acquire) != kWaiting || s.seq.load() != w.seq) continue;
    // A slot no gate() could have written (every process can write the
    // shared table, and one with undefined behaviour may write anything):
    // never shown, and released so that whoever waits there goes on.
    if (static_cast<std::size_t>(w.kind) >= static_cast<std::size_t>(GateKind::count_) || w.pid <= 0 || w.tid <= 0) {
      std::uint32_t expected = kWaiting;
      if (s.state.compare_exchange_strong(expected, kReleased)) futex(&s.state, FUTEX_WAKE, 1, nullptr);
      continue;
    }
    out.push_back(w);
  }
  std::sort(out.begin(), out.end(), [](const GateWaiter& a, const GateWaiter& b) { return a.seq < b.seq; });
  return out;
}

bool GateTable::release(int slot) {
  if (!header_ || slot < 0 || static_cast<std::size_t>(slot) >= kGateSlots) return false;
  Slot& s = *reinterpret_cast<Slot*>(reinterpret_cast<char*>(slots_) + static_cast<std::size_t>(slot) * kSlotBytes);
  std::uint32_t expected = kWaiting;
  if (!s.state.compare_exchange_strong(expected, kReleased)) return false;
  futex(&s.state, FUTEX_WAKE, 1, nullptr);
  return true;
}

bool GateTable::release(const GateWaiter& w) {
  if (!header_ || w.slot < 0 || static_cast<std::size_t>(w.slot) >= kGateSlots) return false;
  Slot& s = *reinterpret_cast<Slot*>(reinterpret_cast<char*>(slots_) + static_cast<std::size_t>(w.slot) * kSlotBytes);
  if (s.seq.load() != w.seq) return false;  // that arrival already left
  return release(w.slot);
}

bool GateTable::release_next() {
  for (const GateWaiter& w : waiters())
    if (release(w)) return true;
  return false;
}

int GateTable::release_arrived_by(std::uint64_t last_seq) {
  int n = 0;
  for (std::size_t i = 0; i < kGateSlots; ++i) {
    Slot& s = *reinterpret_cast<Slot*>(reinterpret_cast<char*>(slots_) + i * kSlotBytes);
    if (s.state.load() != kWaiting || s.seq.load() > last_seq) continue;
    if (release(static_cast<int>(i))) ++n;
  }
  return n;
}

int GateTable::release_all() {
  if (!header_) return 0;
  int n = 0;
  for (std::size_t i = 0; i < kGateSlots; ++i)
    if (release(static_cast<int>(i))) ++n;
  return n;
}

bool GateTable::lab_alive() const noexcept {
  pid_t lab = header_->lab_pid.load(std::memory_order_relaxed);
  return lab <= 0 || kill(lab, 0) == 0 || errno != ESRCH;
}

// ---- server side ----------------------------------------------------------------

void GateTable::pass(GateKind kind, std::uint32_t conn, GateSite site) noexcept {
  if (!header_ || g_orphaned.load(std::memory_order_relaxed)) return;
  // Acquire: run_to's target was stored before the mode.
  GateMode m = static_cast<GateMode>(mode_word_->load(std::memory_order_acquire));
  if (m == GateMode::step) {
    wait_step(kind, conn, site, false);
    return;
  }
  if (m == GateMode::run_to) {
    pass_run_to(kind, conn, site);
    return;
  }
  if (m != GateMode::slow) return;
  // Slow motion: sleep the delay in short pieces, so a switch back to run
  // mode, a SIGTERM or the lab's death cut it short.
  std::uint64_t end = now_ns() + std::uint64_t(header_->delay_ms.load(std::memory_order_relaxed)) * 1000000ull;
  for (;;) {
    std::uint64_t now = now_ns();
    if (now >= end || mode_relaxed() != GateMode::slow || stop_requested()) break;
    if (!lab_alive()) {
      g_orphaned.store(true);
      break;
    }
    std::uint64_t left = end - now;
    sleep_ns(static_cast<long>(std::min<std::uint64_t>(left, 50ull * 1000 * 1000)));
  }
  emit(Kind::gate_pass, conn, static_cast<std::int64_t>(kind), -1, gate_name(kind));
}

void GateTable::pass_run_to(GateKind kind, std::uint32_t conn, GateSite site) noexcept {
  const RunTarget target = unpack_target(header_->target.load(std::memory_order_relaxed));
  if (kind != target.kind || (target.conn != 0 && conn != target.conn)) return;  // full speed, no event
  // The breakpoint. Whoever switches the mode first parks here as the one
  // that reached it; the rest park at their next gate, as after Pause.
  std::uint32_t expected = static_cast<std::uint32_t>(GateMode::run_to);
  if (mode_word_->compare_exchange_strong(expected, static_cast<std::uint32_t>(GateMode::step))) {
    wait_step(kind, conn, site, true);
    return;
  }
  // Lost the race. Two threads reaching the target at once both park (the
  // other one already switched to step); if the lab left run_to meanwhile
  // (Run, Slow), do what the new mode says.
  if (expected == static_cast<std::uint32_t>(GateMode::step)) wait_step(kind, conn, site, false);
  else if (expected == static_cast<std::uint32_t>(GateMode::slow)) pass(kind, conn, site);
}

void GateTable::wait_step(GateKind kind, std::uint32_t conn, GateSite site, bool breakpoint) noexcept {
  // Claim a free slot. All taken (more than kGateSlots parked at once): wait
  // for one to free up, still honouring mode changes and the lab's death.
  Slot* slot = nullptr;
  int index = -1;
  while (slot == nullptr) {
    for (std::size_t i = 0; i < kGateSlots && slot == nullptr; ++i) {
      Slot& s = *reinterpret_cast<Slot*>(reinterpret_cast<char*>(slots_) + i * kSlotBytes);
      std::uint32_t expected = kFree;
      if (s.state.compare_exchange_strong(expected, kClaimed, std::memory_order_acquire)) {
        slot = &s;
        index = static_cast<int>(i);
      }
    }
    if (slot) break;
    if (mode_relaxed() != GateMode::step || stop_requested()) return;
    if (!lab_alive()) {
      g_orphaned.store(true);
      return;
    }
    sleep_ns(10L * 1000 * 1000);
  }
  slot->pid.store(getpid(), std::memory_order_relaxed);
  slot->tid.store(gettid(), std::memory_order_relaxed);
  slot->kind.store(static_cast<std::uint32_t>(kind), std::memory_order_relaxed);
  slot->conn.store(conn, std::memory_order_relaxed);
  slot->since_ns.store(now_ns(), std::memory_order_relaxed);
  slot->file.store(site.file, std::memory_order_relaxed);
  slot->line.store(site.line, std::memory_order_relaxed);
  const std::uint64_t seq = header_->arrivals.fetch_add(1) + 1;
  slot->seq.store(seq, std::memory_order_relaxed);
  // Before the slot is visible: the lab never sees the breakpoint's waiter
  // without knowing it is the one.
  if (breakpoint) header_->breakpoint_seq.store(seq);
  // The event goes out before the slot is visible, so gate_wait always
  // precedes the gate_pass that the lab's release causes.
  // b carries the slot and, above it, the gate's file hash; flags its line
  // (a recording places its cursors by them).
  emit(Kind::gate_wait, conn, static_cast<std::int64_t>(kind),
       static_cast<std::int64_t>(index) | static_cast<std::int64_t>(site.file) << 32, gate_name(kind),
       static_cast<std::uint16_t>(site.line > 0xffff ? 0 : site.line));
  slot->state.store(kWaiting);  // seq_cst: ordered before the mode load below

  for (;;) {
    std::uint32_t st = slot->state.load();
    if (st == kReleased) break;
    if (mode_relaxed() != GateMode::step || stop_requested()) break;
    if (!lab_alive()) {
      g_orphaned.store(true);
      break;
    }
    timespec ts{0, kRecheckNs};
    futex(&slot->state, FUTEX_WAIT, kWaiting, &ts);  // EAGAIN / EINTR / ETIMEDOUT: loop re-checks
  }
  slot->state.store(kFree, std::memory_order_release);
  emit(Kind::gate_pass, conn, static_cast<std::int64_t>(kind), index, gate_name(kind));
}

// ---- process-wide -------------------------------------------------------------

bool attach_gates_from_env() {
  const char* v = std::getenv(kGateFdEnv);
  if (!v || !*v) return false;
  char* end = nullptr;
  long fd = std::strtol(v, &end, 10);
  if (*end != '\0' || fd < 0) return false;
  static GateTable owned;
  owned = GateTable::attach(static_cast<int>(fd));
  g_gates_owned = &owned;
  detail::g_gates = g_gates_owned;
  return true;
}

void set_process_gates(GateTable* table) { detail::g_gates = table; }
void set_gate_stop_check(bool (*check)()) { g_stop_check.store(check); }

}  // namespace sockscope::trace
