// Synthetic recorded sessions for the GUI tests: the events and /proc
// snapshots a fork server with simulated clients would produce, built by hand
// so the views can be drawn with no lab, no window and no processes.
#pragma once

#include <cstdint>

#include "session/session.h"

namespace sockscope::gui_test {

struct RecordedShape {
  int children_alive = 3;   // serving an open connection, listed in /proc (S)
  int children_done = 2;    // served, exited, reaped
  int zombies = 1;          // exited, not reaped, listed in /proc as Z
  int external = 1;         // of the alive ones, served a client with no simulator id (curl)
  int extra_io_events = 0;  // read/write pairs spread over the connections (the "huge" session)
  int snapshots = 5;
};

inline constexpr pid_t kServerPid = 41000;
inline constexpr pid_t kSimPid = 42000;
inline constexpr std::uint64_t kT0 = 5'000'000'000ull;

session::Session make_recorded_session(const RecordedShape& shape);

}  // namespace sockscope::gui_test
