// The shared visitor counter: the one piece of shared state in the servers,
// there to show what sharing costs.
//
// Every FTP `SITE COUNT` and HTTP `/count` adds one and replies with the new
// value. There is one counter per process, a plain global on purpose:
//  - in the thread and pool servers every handler thread updates the SAME
//    counter, so an unsynchronized read-modify-write loses updates;
//  - in the fork server each child updates its OWN copy (fork copied the
//    parent's memory), so every child counts from the parent's value and the
//    parent's counter never moves at all.
//
// Two modes (sockscope serve --unsafe-counter | --mutex):
//  - unsafe: read the value, pause (--race-window-us, so the race is seen
//    reliably instead of once a week), write value + 1. Two threads that read
//    the same value both write the same result: one visit is lost.
//  - mutex: the same steps inside a std::mutex. No update is lost; threads
//    queue at the lock instead (lock_wait / lock_acquire / unlock events).
//
// Events (engine/trace/event.h), conn = the connection asking:
//   counter_read   a = value read
//   counter_write  a = value written, b = the value this write replaced (==
//                  a - 1 unless another thread wrote between this thread's read
//                  and its write: a lost update)
//   lock_wait, lock_acquire, unlock   (mutex mode only)
// The session folds these into expected vs actual and the list of lost updates
// (session/threads_fold.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

namespace sockscope::servers {

class VisitorCounter {
 public:
  enum class Mode { unsafe, mutex };

  // Called once by `serve` before any connection is served.
  void configure(Mode mode, int race_window_us);
  Mode mode() const { return mode_; }
  int race_window_us() const { return race_window_us_; }

  // Adds one visit for connection `conn`; returns the value this request
  // wrote (what the visitor is told).
  std::int64_t increment(std::uint32_t conn);

 private:
  std::int64_t increment_unsafe(std::uint32_t conn);
  std::int64_t increment_locked(std::uint32_t conn);
  void pause() const;

  Mode mode_ = Mode::unsafe;
  int race_window_us_ = 200;
  // Deliberately a plain integer, not std::atomic: the unsafe mode is the
  // classic lost-update bug, and this is the memory it races on. (Aligned so
  // the unsafe write can use std::atomic_ref for its trace, see the .cpp.)
  alignas(std::atomic_ref<std::int64_t>::required_alignment) std::int64_t value_ = 0;
  std::mutex mutex_;
};

// The process's counter (see above: shared by threads, copied by fork).
VisitorCounter& visitor_counter();

}  // namespace sockscope::servers
