// Totals over time: how big the server's process tree was at each /proc
// sample - processes, threads, open connections, memory - for the strip
// chart beside the tree. Everything comes from the samples (the kernel), none
// from events, so it stays true when the trace ring dropped events.
//
// Folded incrementally: snapshots are only ever appended, so update() reads
// the new ones since the last call (and starts over when the session was
// cleared or replaced).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "session/session.h"

namespace sockscope::session {

struct TotalsPoint {
  std::uint64_t ts_ns = 0;
  std::uint32_t processes = 0;    // in the server's tree, zombies included
  std::uint32_t zombies = 0;
  std::uint32_t threads = 0;      // all processes' threads
  std::uint32_t connections = 0;  // distinct TCP connections on the server's port held by the tree
  std::uint64_t pss_kb = 0;       // sum of PSS (shared pages counted once in all)
  std::uint64_t pss_anon_kb = 0;  // its anonymous part (see observe::ProcInfo::pss_anon_kb)
  std::uint64_t rss_kb = 0;       // sum of RSS (shared pages counted in every process)
};

// One sample of the server's tree summed up. `port`: the server's port (the
// connections counted are the non-listening sockets bound to it).
TotalsPoint totals_of(const ProcSnapshot& snap, std::uint16_t port);

class TotalsSeries {
 public:
  // Reads the snapshots of `s`'s server (meta().server_pid) added since the
  // last call.
  void update(const Session& s);
  const std::vector<TotalsPoint>& points() const { return points_; }
  // The latest point at or before `t` (nullptr when none is).
  const TotalsPoint* at(std::uint64_t t) const;
  // The largest value of each column up to `t` (ts_ns = 0).
  TotalsPoint peak(std::uint64_t t) const;

 private:
  const Session* session_ = nullptr;
  pid_t root_ = 0;
  std::size_t snapshots_seen_ = 0;
  std::vector<TotalsPoint> points_;
};

}  // namespace sockscope::session
