// FoldState's two whole-fold parts (see fold_state.h): finish(), what
// depends on everything folded so far, and apply(ProcSnapshot), the /proc
// side of the fold.
#include "session/fold_state.h"

namespace sockscope::session {

// Derives what depends on the whole fold: each process's state and role,
// the counts, the latency percentiles, the backlog. Called every frame, so
// nothing here walks the connections (their counts are kept as they change).
void FoldState::finish(const SessionMeta& meta, std::uint64_t drops, std::uint64_t at_ns) {
  m.at_ns = at_ns;
  if (finished_ && finished_server_pid_ == meta.server_pid && finished_port_ == meta.port &&
      m.counts.drops == drops)
    return;
  Counts& c = m.counts;
  c.drops = drops;
  c.zombies_now = 0;
  for (std::size_t i = 0; i < m.processes.size(); ++i) {
    ProcessView& p = m.processes[i];
    const Evidence& ev = evidence_[i];
    if (p.in_proc && p.sampled_ns >= std::max(p.exit_ns, p.reap_ns)) {
      p.state = ev.proc_state;  // /proc is fresher than any event about its end
    } else if (p.reap_ns != 0 || p.gone_ns != 0) {
      p.state = 'X';
    } else if (p.exit_ns != 0) {
      p.state = 'Z';  // exited, and nobody has waited for it yet
    } else {
      p.state = p.in_proc ? ev.proc_state : '?';
    }
    p.zombie = p.state == 'Z';
    if (p.zombie) ++c.zombies_now;

    if (ev.client)
      p.role = ProcessRole::client_sim;
    else if (ev.listener || (meta.server_pid != 0 && p.pid == meta.server_pid) || ev.snapshot_root)
      p.role = ProcessRole::listener;
    else if (ev.forked_as_worker || (ev.accepts && !ev.forked_for_conn))
      p.role = ProcessRole::worker;
    else if (ev.forked_for_conn || ev.snapshot_descendant)
      p.role = ProcessRole::child;
    else
      p.role = ProcessRole::unknown;
  }
  c.connections_open = conns_open_;
  c.connections_served = m.connections.size() - conns_refused_;
  if (sorted_count_ != m.latencies.size()) {
    // Merge the samples folded since last time into the sorted copy: O(n)
    // per refresh instead of a full sort every frame.
    std::size_t old = sorted_latency_.size();
    for (std::size_t i = sorted_count_; i < m.latencies.size(); ++i) {
      sorted_latency_.push_back(m.latencies[i].latency_ns);
      latency_sum_ += m.latencies[i].latency_ns;
    }
    auto mid = sorted_latency_.begin() + static_cast<std::ptrdiff_t>(old);
    std::sort(mid, sorted_latency_.end());
    std::inplace_merge(sorted_latency_.begin(), mid, sorted_latency_.end());
    sorted_count_ = m.latencies.size();
    LatencyStats& l = m.latency;
    l.count = sorted_latency_.size();
    l.p50_ns = nearest_rank(sorted_latency_, 0.50);
    l.p99_ns = nearest_rank(sorted_latency_, 0.99);
    l.max_ns = sorted_latency_.empty() ? 0 : sorted_latency_.back();
    l.mean_ns = l.count ? static_cast<double>(latency_sum_) / static_cast<double>(l.count) : 0.0;
  }
  m.backlog = backlog_for(meta);
  finished_ = true;
  finished_server_pid_ = meta.server_pid;
  finished_port_ = meta.port;
}

void FoldState::apply(const ProcSnapshot& s) {
  last_ts = std::max(last_ts, s.ts_ns);
  ++snapshot_seq_;
  std::unordered_map<std::uint64_t, int> holders;
  ListeningSockets& listening = listening_by_root_[s.root];
  listening = {s.ts_ns, s.root, {}};
  last_root_ = s.root;
  std::vector<std::uint64_t> inodes;
  for (const ProcInfo& info : s.procs) {
    inodes.clear();
    for (const SocketFd& sock : info.sockets) {
      inodes.push_back(sock.inode);
      if (sock.state == observe::TcpState::listen) listening.sockets.emplace_back(info.pid, sock);
    }
    // A process holding one socket twice (dup) is one holder.
    std::sort(inodes.begin(), inodes.end());
    inodes.erase(std::unique(inodes.begin(), inodes.end()), inodes.end());
    for (std::uint64_t inode : inodes) ++holders[inode];
  }
  for (const ProcInfo& info : s.procs) {
    std::size_t pi = process_index(info.pid, s.ts_ns);
    ProcessView& p = m.processes[pi];
    Evidence& ev = evidence_[pi];
    p.ppid = info.ppid;  // the kernel's word beats the events'
    p.comm = info.comm;
    p.cmdline = info.cmdline;
    p.sampled_ns = s.ts_ns;
    p.in_proc = true;
    p.gone_ns = 0;
    p.threads = info.threads;
    p.tids = info.tids;
    p.rss_kb = info.rss_kb;
    p.pss_kb = info.pss_kb;
    p.fds = info.fds;
    set_sockets(p, info, holders);
    p.cpu_s = info.cpu_s;
    ev.proc_state = info.state;
    ev.proc_root = s.root;
    ev.snapshot_seq = snapshot_seq_;
    if (info.pid == s.root)
      ev.snapshot_root = true;
    else
      ev.snapshot_descendant = true;
  }
  // Whatever this root's previous sample listed and this one does not has
  // left the process table (exited and reaped, by its parent or by init).
  std::vector<std::size_t>& listed = listed_by_root_[s.root];
  for (std::size_t i : listed) {
    ProcessView& p = m.processes[i];
    Evidence& ev = evidence_[i];
    if (p.in_proc && ev.proc_root == s.root && ev.snapshot_seq != snapshot_seq_) {
      p.in_proc = false;
      if (p.gone_ns == 0) p.gone_ns = s.ts_ns;
    }
  }
  listed.clear();
  for (const ProcInfo& info : s.procs) listed.push_back(m.process_at[info.pid]);
}

}  // namespace sockscope::session
