#include "trace/ring.h"
#include "trace/gate.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace sockscope::trace {

struct TraceRing::Header {
  std::uint32_t magic;
  std::uint32_t version;
  std::uint64_t capacity;  // power of two
  alignas(64) std::atomic<std::uint64_t> head;
  alignas(64) std::atomic<std::uint64_t> drops;
};

struct TraceRing::Slot {
  std::atomic<std::uint64_t> seq;
  Event event;
  // Who claimed the slot and has not published it yet (0 = nobody, or not
  // known yet): lets the consumer step over a producer killed mid-push.
  std::atomic<std::int32_t> claimer;
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "the ring needs address-free 64-bit atomics to work across processes");

namespace {
std::size_t round_up_pow2(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}
std::size_t map_bytes(std::size_t capacity) {
  return 256 + capacity * 128;
}
}  // namespace

// Layout: header in the first 256 bytes, then the slots.

TraceRing::~TraceRing() { reset(); }

TraceRing::TraceRing(TraceRing&& o) noexcept { *this = std::move(o); }

TraceRing& TraceRing::operator=(TraceRing&& o) noexcept {
  if (this != &o) {
    reset();
    header_ = o.header_;
    slots_ = o.slots_;
    map_size_ = o.map_size_;
    fd_ = o.fd_;
    tail_ = o.tail_;
    stall_pos_ = o.stall_pos_;
    stall_since_ns_ = o.stall_since_ns_;
    abandoned_ = o.abandoned_;
    rejected_ = o.rejected_;
    capacity_ = o.capacity_;
    o.header_ = nullptr;
    o.slots_ = nullptr;
    o.map_size_ = 0;
    o.fd_ = -1;
    o.tail_ = 0;
  }
  return *this;
}

void TraceRing::reset() noexcept {
  if (header_) munmap(header_, map_size_);
  if (fd_ >= 0) ::close(fd_);
  header_ = nullptr;
  slots_ = nullptr;
  fd_ = -1;
  capacity_ = 0;
}

TraceRing TraceRing::create(std::size_t capacity) {
  static_assert(sizeof(Header) <= 256);
  static_assert(sizeof(Slot) <= 128, "slots are 128 bytes apart");
  capacity = round_up_pow2(capacity < 2 ? 2 : capacity);
  // No MFD_CLOEXEC: the fd must survive exec into servers and clients.
  int fd = static_cast<int>(syscall(SYS_memfd_create, "sockscope-trace", 0));
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "memfd_create");
  std::size_t bytes = map_bytes(capacity);
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "ftruncate trace ring");
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "mmap trace ring");
  }
  TraceRing r;
  r.fd_ = fd;
  r.map_size_ = bytes;
  r.header_ = new (p) Header{};
  r.header_->capacity = capacity;
  r.capacity_ = capacity;
  r.header_->head.store(0, std::memory_order_relaxed);
  r.header_->drops.store(0, std::memory_order_relaxed);
  r.slots_ = reinterpret_cast<Slot*>(static_cast<char*>(p) + 256);
  for (std::size_t i = 0; i < capacity; ++i) {
    auto* s = reinterpret_cast<Slot*>(reinterpret_cast<char*>(r.slots_) + i * 128);
    new (&s->seq) std::atomic<std::uint64_t>(i);
    new (&s->claimer) std::atomic<std::int32_t>(0);
  }
  r.header_->magic = kTraceMagic;
  r.header_->version = kTraceVersion;
  return r;
}

TraceRing TraceRing::attach(int fd) {
  Header probe{};
  void* p = mmap(nullptr, 256, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap trace header");
  std::memcpy(&probe.magic, p, sizeof probe.magic);
  std::memcpy(&probe.version, static_cast<char*>(p) + 4, sizeof probe.version);
  std::memcpy(&probe.capacity, static_cast<char*>(p) + 8, sizeof probe.capacity);
  munmap(p, 256);
  if (probe.magic != kTraceMagic)
    throw std::runtime_error("trace ring: bad magic (not a sockscope ring)");
  if (probe.version != kTraceVersion)
    throw std::runtime_error("trace ring: version " + std::to_string(probe.version) +
                             ", this build reads version " + std::to_string(kTraceVersion));
  if (probe.capacity < 2 || (probe.capacity & (probe.capacity - 1)) != 0 || probe.capacity > (1ull << 30))
    throw std::runtime_error("trace ring: capacity " + std::to_string(probe.capacity) + " is not a power of two");
  std::size_t bytes = map_bytes(probe.capacity);
  p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap trace ring");
  TraceRing r;
  // The ring owns a private copy of the fd; the inherited one stays for children.
  r.fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  r.map_size_ = bytes;
  r.capacity_ = probe.capacity;
  r.header_ = static_cast<Header*>(p);
  r.slots_ = reinterpret_cast<Slot*>(static_cast<char*>(p) + 256);
  return r;
}

std::size_t TraceRing::capacity() const { return header_ ? capacity_ : 0; }

// Every process can write the whole mapping, and a process with undefined
// behaviour (hybrid with notify_fork off follows a sibling's pointers) may
// write anything anywhere in it. So the ring's own bookkeeping uses the
// capacity this process mapped, never the header's copy, and the consumer
// checks each record before the lab sees it.
TraceRing::Slot* TraceRing::slot_at(std::uint64_t pos) const noexcept {
  return reinterpret_cast<Slot*>(reinterpret_cast<char*>(slots_) + (pos & (capacity_ - 1)) * 128);
}

// How many slots ahead pop() prefetches.
constexpr std::uint64_t kPrefetchAhead = 8;

bool plausible_event(const Event& e) noexcept {
  if (static_cast<std::size_t>(e.kind) >= static_cast<std::size_t>(Kind::count_)) return false;
  if (e.pid == 0) return false;
  if ((e.kind == Kind::gate_wait || e.kind == Kind::gate_pass) &&
      (e.a < 0 || e.a >= static_cast<std::int64_t>(GateKind::count_)))
    return false;
  return true;
}

TraceRing::Claim TraceRing::claim(pid_t producer) noexcept {
  if (!header_) return {};
  std::uint64_t pos = header_->head.load(std::memory_order_relaxed);
  for (;;) {
    Slot* slot = slot_at(pos);
    std::uint64_t seq = slot->seq.load(std::memory_order_acquire);
    auto diff = static_cast<std::int64_t>(seq - pos);
    if (diff == 0) {
      if (header_->head.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
        slot->claimer.store(static_cast<std::int32_t>(producer), std::memory_order_relaxed);
        return {pos, true};
      }
    } else if (diff < 0) {
      // The consumer has not freed this slot yet: the ring is full.
      header_->drops.fetch_add(1, std::memory_order_relaxed);
      return {};
    } else {
      pos = header_->head.load(std::memory_order_relaxed);
    }
  }
}

void TraceRing::publish(const Claim& c, const Event& e) noexcept {
  if (!c.ok) return;
  Slot* slot = slot_at(c.pos);
  slot->event = e;
  slot->seq.store(c.pos + 1, std::memory_order_release);
}

bool TraceRing::push(const Event& e) noexcept {
  Claim c = claim(static_cast<pid_t>(e.pid));
  publish(c, e);
  return c.ok;
}

namespace {
// Gone, or a zombie: either way it will never publish.
bool process_dead(pid_t pid) {
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;
  char buf[256];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* close_paren = std::strrchr(buf, ')');
  return close_paren != nullptr && close_paren[1] == ' ' && (close_paren[2] == 'Z' || close_paren[2] == 'X');
}
}  // namespace

bool TraceRing::pop(Event& out) noexcept {
  if (!header_) return false;
  const std::uint64_t cap = capacity_;
  for (;;) {
    Slot* slot = slot_at(tail_);
    std::uint64_t seq = slot->seq.load(std::memory_order_acquire);
    if (seq == tail_ + 1) {
      // The slots ahead were written on another core: ask for their two
      // cache lines now, so the next pops do not each wait for them.
      const char* ahead = reinterpret_cast<const char*>(slot_at(tail_ + kPrefetchAhead));
      __builtin_prefetch(ahead);
      __builtin_prefetch(ahead + 64);
      out = slot->event;
      slot->claimer.store(0, std::memory_order_relaxed);
      slot->seq.store(tail_ + cap, std::memory_order_release);
      ++tail_;
      stall_since_ns_ = 0;
      if (plausible_event(out)) return true;
      // Scribbled over: not shown, counted as lost.
      ++rejected_;
      header_->drops.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    // Not published. Empty, or claimed by a producer still writing, or by
    // one that was killed between claim and publish: that slot would stall
    // the ring for good. After a wait, and only when the claimer is known
    // and dead, step over it and count a drop.
    if (seq != tail_ || header_->head.load(std::memory_order_relaxed) <= tail_) return false;
    const std::uint64_t now = now_ns();
    if (stall_since_ns_ == 0 || stall_pos_ != tail_) {
      stall_pos_ = tail_;
      stall_since_ns_ = now;
      return false;
    }
    if (now - stall_since_ns_ < kAbandonAfterNs) return false;
    const pid_t claimer = slot->claimer.load(std::memory_order_relaxed);
    if (claimer <= 0 || !process_dead(claimer)) {
      stall_since_ns_ = now;  // look again after another wait
      return false;
    }
    slot->claimer.store(0, std::memory_order_relaxed);
    slot->seq.store(tail_ + cap, std::memory_order_release);
    ++tail_;
    ++abandoned_;
    stall_since_ns_ = 0;
    header_->drops.fetch_add(1, std::memory_order_relaxed);
  }
}

std::uint64_t TraceRing::drops() const noexcept {
  return header_ ? header_->drops.load(std::memory_order_relaxed) : 0;
}
// Every successful claim moves the head by one, and nothing else does: the
// head is the count (a counter of its own cost every push an atomic add on a
// line all producers share).
std::uint64_t TraceRing::pushed() const noexcept {
  return header_ ? header_->head.load(std::memory_order_relaxed) : 0;
}

// ---- process-wide writer -----------------------------------------------------

namespace {
TraceRing* g_ring = nullptr;
TraceRing g_owned;
std::atomic<bool> g_enabled{true};

// getpid() and gettid() are real system calls; an event loop emitting a dozen
// events per request paid for them on every one. Cache both per thread, and
// invalidate every cache in a forked child (whose pid and tid are new) by
// bumping a generation in a pthread_atfork handler.
std::atomic<unsigned> g_fork_generation{1};
void on_fork_child() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }
[[maybe_unused]] const int g_atfork_registered = pthread_atfork(nullptr, nullptr, &on_fork_child);

struct ThreadIds {
  unsigned generation = 0;
  std::uint32_t pid = 0;
  std::uint32_t tid = 0;
};
thread_local ThreadIds t_ids;

inline const ThreadIds& thread_ids() noexcept {
  unsigned gen = g_fork_generation.load(std::memory_order_relaxed);
  if (t_ids.generation != gen) {
    t_ids.pid = static_cast<std::uint32_t>(getpid());
    t_ids.tid = static_cast<std::uint32_t>(gettid());
    t_ids.generation = gen;
  }
  return t_ids;
}
}  // namespace

bool attach_from_env() {
  const char* v = std::getenv(kTraceFdEnv);
  if (!v || !*v) return false;
  char* end = nullptr;
  long fd = std::strtol(v, &end, 10);
  if (*end != '\0' || fd < 0) return false;
  g_owned = TraceRing::attach(static_cast<int>(fd));
  g_ring = &g_owned;
  return true;
}

void set_process_ring(TraceRing* ring) { g_ring = ring; }
void disable_tracing() { g_enabled.store(false, std::memory_order_relaxed); }
bool tracing_enabled() { return g_enabled.load(std::memory_order_relaxed) && g_ring != nullptr; }

std::uint64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

void emit(Kind kind, std::uint32_t conn, std::int64_t a, std::int64_t b, std::string_view text,
          std::uint16_t flags) noexcept {
  TraceRing* r = g_ring;
  if (!r || !g_enabled.load(std::memory_order_relaxed)) return;
  Event e;
  e.ts_ns = now_ns();
  const ThreadIds& ids = thread_ids();
  e.pid = ids.pid;
  e.tid = ids.tid;
  e.kind = kind;
  e.conn = conn;
  e.a = a;
  e.b = b;
  e.flags = flags;
  e.set_text(text);
  r->push(e);
}

void emit_request(std::uint32_t conn, std::string_view text, std::size_t read_bytes) noexcept {
  if (read_bytes == 0) emit(Kind::request, conn, 0, 0, text);
  else emit(Kind::request, conn, static_cast<std::int64_t>(read_bytes), 0, text, kRequestRead);
}

void emit_reply(std::uint32_t conn, int code, std::size_t size, std::size_t written) noexcept {
  if (written == size) {
    emit(Kind::reply, conn, code, static_cast<std::int64_t>(size), {}, kReplyWhole);
    return;
  }
  emit(Kind::write, conn, static_cast<std::int64_t>(written));
  emit(Kind::reply, conn, code, static_cast<std::int64_t>(size));
}

}  // namespace sockscope::trace
