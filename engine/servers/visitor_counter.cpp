// The visitor counter (see visitor_counter.h for the lesson).
//
// ThreadSanitizer: increment_unsafe() is a data race BY DESIGN and is listed
// in tests/tsan.supp; everything else in the servers must stay race-free.
#include "servers/visitor_counter.h"

#include <time.h>

#include <atomic>
#include <cerrno>

#include "trace/gate.h"
#include "trace/ring.h"

namespace sockscope::servers {

using trace::GateKind;
using trace::Kind;

void VisitorCounter::configure(Mode mode, int race_window_us) {
  mode_ = mode;
  race_window_us_ = race_window_us < 0 ? 0 : race_window_us;
}

std::int64_t VisitorCounter::increment(std::uint32_t conn) {
  return mode_ == Mode::mutex ? increment_locked(conn) : increment_unsafe(conn);
}

// The time between the read and the write. Without it the window is a few
// nanoseconds and the lost update shows up once in a blue moon; with it, the
// race happens every time two visitors arrive together - as it would with a
// real handler that did some work (a database call) between read and write.
void VisitorCounter::pause() const {
  if (race_window_us_ <= 0) return;
  timespec req{race_window_us_ / 1000000, static_cast<long>(race_window_us_ % 1000000) * 1000L};
  timespec rem{};
  while (nanosleep(&req, &rem) < 0 && errno == EINTR) req = rem;
}

// read, pause, write: three steps another thread can interleave with.
// noinline keeps this frame in ThreadSanitizer's stacks, so the suppression
// in tests/tsan.supp can name it and nothing else.
__attribute__((noinline)) std::int64_t VisitorCounter::increment_unsafe(std::uint32_t conn) {
  // 1. read: this thread's private copy of the shared value.
  // GATE counter_read: a plain load of the shared counter into a register.
  trace::gate(GateKind::counter_read, conn);
  std::int64_t seen = value_;
  trace::emit(Kind::counter_read, conn, seen);
  // 2. the window: any other thread may read the same `seen` meanwhile.
  pause();
  // 3. write our result, blind to whatever happened in the window. The store
  // is an exchange only so that the trace learns exactly what it replaced
  // (`before`: anything but `seen` means other threads' increments are being
  // erased right now). Atomic or not, this write cannot save the update: the
  // damage was done when we read and then let others write.
  // GATE counter_write: a plain store of (what we read + 1), whatever the
  // counter holds by now.
  trace::gate(GateKind::counter_write, conn);
  std::int64_t before = std::atomic_ref<std::int64_t>(value_).exchange(seen + 1, std::memory_order_relaxed);
  trace::emit(Kind::counter_write, conn, seen + 1, before);
  return seen + 1;
}

// The same three steps as one critical section: nobody reads while another
// thread is between its read and its write.
std::int64_t VisitorCounter::increment_locked(std::uint32_t conn) {
  // GATE lock: pthread_mutex_lock() takes the mutex, or sleeps in the kernel
  // (futex) until its holder unlocks it.
  trace::gate(GateKind::lock, conn);
  trace::emit(Kind::lock_wait, conn);
  std::int64_t result = 0;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    // Emitted while holding the lock, so the event order matches the order in
    // which threads really held it.
    trace::emit(Kind::lock_acquire, conn);
    // GATE counter_read (inside the lock): nobody else can be between read and write.
    trace::gate(GateKind::counter_read, conn);
    std::int64_t seen = value_;
    trace::emit(Kind::counter_read, conn, seen);
    pause();  // the same window as the unsafe mode: now nobody can use it
    // GATE counter_write (inside the lock).
    trace::gate(GateKind::counter_write, conn);
    std::int64_t before = value_;
    value_ = seen + 1;
    result = value_;
    trace::emit(Kind::counter_write, conn, result, before);
    // GATE unlock: pthread_mutex_unlock() releases the mutex and wakes one
    // thread sleeping on it, if any.
    trace::gate(GateKind::unlock, conn);
    trace::emit(Kind::unlock, conn);
  }
  return result;
}

VisitorCounter& visitor_counter() {
  // A function-local static: constructed before main's first use, and a
  // forked child gets a copy of it with the rest of the parent's memory.
  static VisitorCounter counter;
  return counter;
}

}  // namespace sockscope::servers
