#include "session/totals.h"

#include <algorithm>
#include <unordered_set>

namespace sockscope::session {

TotalsPoint totals_of(const ProcSnapshot& snap, std::uint16_t port) {
  TotalsPoint t;
  t.ts_ns = snap.ts_ns;
  // A connection is one socket however many processes hold a copy of it.
  std::unordered_set<std::uint64_t> conns;
  for (const auto& p : snap.procs) {
    ++t.processes;
    if (p.state == 'Z') ++t.zombies;
    t.threads += static_cast<std::uint32_t>(p.threads);
    t.pss_kb += p.pss_kb;
    t.pss_anon_kb += p.pss_anon_kb;
    t.rss_kb += p.rss_kb;
    for (const auto& sock : p.sockets) {
      if (sock.state != observe::TcpState::listen && sock.local_port == port && sock.inode != 0)
        conns.insert(sock.inode);
    }
  }
  t.connections = static_cast<std::uint32_t>(conns.size());
  return t;
}

void TotalsSeries::update(const Session& s) {
  const auto& snaps = s.snapshots();
  if (&s != session_ || s.meta().server_pid != root_ || snaps.size() < snapshots_seen_) {
    session_ = &s;
    root_ = s.meta().server_pid;
    snapshots_seen_ = 0;
    points_.clear();
  }
  for (; snapshots_seen_ < snaps.size(); ++snapshots_seen_) {
    const ProcSnapshot& snap = snaps[snapshots_seen_];
    // The lab samples its client simulators too, as trees of their own.
    if (root_ == 0 || snap.root != root_) continue;
    points_.push_back(totals_of(snap, s.meta().port));
  }
}

const TotalsPoint* TotalsSeries::at(std::uint64_t t) const {
  auto it = std::upper_bound(points_.begin(), points_.end(), t,
                             [](std::uint64_t v, const TotalsPoint& p) { return v < p.ts_ns; });
  return it == points_.begin() ? nullptr : &*(it - 1);
}

TotalsPoint TotalsSeries::peak(std::uint64_t t) const {
  TotalsPoint m;
  for (const auto& p : points_) {
    if (p.ts_ns > t) break;
    m.processes = std::max(m.processes, p.processes);
    m.zombies = std::max(m.zombies, p.zombies);
    m.threads = std::max(m.threads, p.threads);
    m.connections = std::max(m.connections, p.connections);
    m.pss_kb = std::max(m.pss_kb, p.pss_kb);
    m.pss_anon_kb = std::max(m.pss_anon_kb, p.pss_anon_kb);
    m.rss_kb = std::max(m.rss_kb, p.rss_kb);
  }
  return m;
}

}  // namespace sockscope::session
