// The /proc sampler: ground truth for the process tree the user watches.
//
// Events say what a server *meant* to do ("forked child 4215 for connection
// 3"); /proc says what the kernel *did*: which processes exist right now, their
// parent, their scheduler state (R running, S sleeping, D in I/O, Z zombie),
// how many threads, how much memory and how many open descriptors. The session
// joins both; where they disagree, the UI shows it.
//
// A sample is one pass over /proc. Processes come and go while we read them,
// so a pid that vanishes between two reads is skipped quietly: that is the
// normal life of a fork server, not an error.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sockscope::observe {

// One process as /proc shows it at the sample instant.
struct ProcInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';          // R S D Z T t X I ... from /proc/PID/stat
  std::string comm;          // /proc/PID/stat's (comm), may contain spaces and ')'
  std::string cmdline;       // argv joined by spaces; empty for zombies and kernel threads
  int threads = 0;           // entries in /proc/PID/task
  std::vector<pid_t> tids;   // sorted
  std::uint64_t rss_kb = 0;  // resident set size
  std::uint64_t pss_kb = 0;  // proportional set size (smaps_rollup); 0 when unreadable (zombies, other users)
  int fds = 0;               // entries in /proc/PID/fd; 0 for zombies or when unreadable
  std::uint64_t start_ticks = 0;  // starttime in clock ticks since boot (with pid: a unique identity)
  double cpu_s = 0.0;        // utime + stime in seconds

  bool operator==(const ProcInfo&) const = default;
};

// The subtree rooted at `root` at one instant.
struct ProcSnapshot {
  std::uint64_t ts_ns = 0;  // CLOCK_MONOTONIC, the clock of trace::now_ns() and every Event
  pid_t root = 0;
  std::vector<ProcInfo> procs;  // root first (when alive), then descendants by pid

  const ProcInfo* find(pid_t pid) const;
  bool operator==(const ProcSnapshot&) const = default;
};

// Scans /proc once and returns `root` and all its descendants. When `root`
// does not exist, returns a snapshot with no procs (the server is gone).
ProcSnapshot sample_subtree(pid_t root);

// Reads one process. Returns false when it vanished or cannot be read.
bool read_proc(pid_t pid, ProcInfo& out);

// Parses the text of /proc/PID/stat into `out` (pid, comm, state, ppid,
// start_ticks, cpu_s). Exposed for tests: comm may hold spaces and parens, so
// the fields after it are found from the *last* ')'.
bool parse_stat(std::string_view stat_text, ProcInfo& out);

}  // namespace sockscope::observe
