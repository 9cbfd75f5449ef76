// TraceRing: a bounded multi-producer, single-consumer queue of Events in
// shared memory (a memfd), written without locks by every server process,
// forked child, thread and the client simulator, drained by the lab's one
// ingest thread.
//
// Why this shape: producers live in different processes, so the queue can use
// nothing but lock-free atomics in the shared mapping (std::atomic<uint64_t>
// is address-free on Linux/x86-64 and aarch64). Each slot carries a sequence
// number (D. Vyukov's bounded queue): a producer claims a slot by CAS on the
// head, writes the record, then publishes by storing the slot's sequence. A
// full ring never blocks a server: push() returns false and counts a drop in
// the shared header, and the drop count is part of every session. A producer
// killed between claim and publish would otherwise stall the consumer at its
// slot for good: each slot records its claimer's pid, and the consumer steps
// over a slot whose claimer has died (see pop()).
//
// The memfd is created by the lab before it execs servers and clients; its fd
// number is passed in the environment (SOCKSCOPE_TRACE_FD) and survives fork
// and exec, so every process maps the same ring.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "trace/event.h"

namespace sockscope::trace {

inline constexpr const char* kTraceFdEnv = "SOCKSCOPE_TRACE_FD";

class TraceRing {
 public:
  TraceRing() = default;
  ~TraceRing();
  TraceRing(TraceRing&& other) noexcept;
  TraceRing& operator=(TraceRing&& other) noexcept;
  TraceRing(const TraceRing&) = delete;
  TraceRing& operator=(const TraceRing&) = delete;

  // Creates a ring of `capacity` slots (rounded up to a power of two) in a new
  // memfd that is inherited across fork and exec. Throws std::system_error.
  static TraceRing create(std::size_t capacity);
  // Maps an existing ring from an inherited fd. Throws std::runtime_error on a
  // bad magic or version, naming what was found.
  static TraceRing attach(int fd);

  bool valid() const { return header_ != nullptr; }
  int fd() const { return fd_; }
  std::size_t capacity() const;

  // Producer side, any process or thread. Never blocks; false means dropped.
  // push() is claim() then publish() (apart only in tests: a producer killed
  // between the two, like a server SIGKILLed mid-emit, leaves its slot
  // claimed and never published).
  bool push(const Event& e) noexcept;
  struct Claim {
    std::uint64_t pos = 0;
    bool ok = false;  // false: the ring was full (a drop is counted)
  };
  Claim claim(pid_t producer) noexcept;
  void publish(const Claim& c, const Event& e) noexcept;
  // Consumer side, one thread only. False when nothing is ready. A slot
  // claimed by a process that has since died (gone or a zombie) is skipped
  // after kAbandonAfterNs of waiting and counted as a drop; a live producer
  // is waited for however long it takes.
  bool pop(Event& out) noexcept;
  static constexpr std::uint64_t kAbandonAfterNs = 200'000'000;
  std::uint64_t abandoned() const noexcept { return abandoned_; }  // slots skipped so far
  // Records pop() refused because no producer could have written them (an
  // unknown kind, pid 0, a gate event with an unknown gate): a process with
  // undefined behaviour scribbled on the shared mapping. Counted as drops too.
  std::uint64_t rejected() const noexcept { return rejected_; }

  std::uint64_t drops() const noexcept;
  std::uint64_t pushed() const noexcept;  // successful claims so far (each is published, or dropped if its producer died)

 private:
  struct Slot;
  struct Header;
  Header* header_ = nullptr;
  Slot* slots_ = nullptr;
  std::size_t map_size_ = 0;
  int fd_ = -1;
  std::uint64_t tail_ = 0;  // consumer position (only the consumer touches it)
  std::uint64_t stall_pos_ = 0;       // the claimed, unpublished slot the consumer waits at
  std::uint64_t stall_since_ns_ = 0;  // since when (0 = not waiting)
  std::uint64_t abandoned_ = 0;
  std::uint64_t rejected_ = 0;
  std::uint64_t capacity_ = 0;  // as mapped by this process (the header's copy is writable by all)
  Slot* slot_at(std::uint64_t pos) const noexcept;
  void reset() noexcept;
};

// True when `e` is a record some producer could have written (pop() checks
// every one: see rejected()).
bool plausible_event(const Event& e) noexcept;

// ---- The process-wide writer used by servers and clients --------------------

// Attaches to the ring named by SOCKSCOPE_TRACE_FD, if any. Without one (a
// server started by hand), emit() does nothing. Returns true when attached.
bool attach_from_env();
// Use `ring` (not owned) as this process's ring; tests and the lab use this.
void set_process_ring(TraceRing* ring);
// Turns tracing off for benchmarks (--no-trace): emit() returns at once.
void disable_tracing();
bool tracing_enabled();

// Monotonic nanoseconds, the clock of every Event.
std::uint64_t now_ns() noexcept;

// Writes one event stamped with now, pid and tid. Never blocks, never throws.
void emit(Kind kind, std::uint32_t conn = 0, std::int64_t a = 0, std::int64_t b = 0,
          std::string_view text = {}, std::uint16_t flags = 0) noexcept;
// A reply of `size` bytes with status `code`, of which send() took `written`:
// one reply event marked kReplyWhole when all of it went, else a write of
// what went and then the reply.
void emit_reply(std::uint32_t conn, int code, std::size_t size, std::size_t written) noexcept;
// A request `text` that arrived in a read of `read_bytes` not yet logged:
// one request event marked kRequestRead (0: the read was logged, a plain
// request).
void emit_request(std::uint32_t conn, std::string_view text, std::size_t read_bytes) noexcept;

}  // namespace sockscope::trace
