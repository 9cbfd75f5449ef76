// The /proc sampler: ground truth for the process tree the user watches.
//
// Events say what a server *meant* to do ("forked child 4215 for connection
// 3"); /proc says what the kernel *did*: which processes exist right now, their
// parent, their scheduler state (R running, S sleeping, D in I/O, Z zombie),
// how many threads, how much memory and how many open descriptors. The session
// joins both; where they disagree, the UI shows it.
//
// Sockets come from the kernel too: each /proc/PID/fd entry that links to
// `socket:[INODE]` is looked up by inode in /proc/PID/net/tcp and tcp6, which
// give its TCP state, its ports and its queues. For a LISTEN socket the
// queues are the accept backlog: rx_queue = connections the kernel completed
// that nobody has accept()ed yet, tx_queue = the backlog's limit. That is the
// one number no event can tell (no process runs while a client waits there).
// /proc/net/tcp prints the backlog but not the limit (its tx_queue column is
// the send queue, 0 for a listener); the sampler asks sock_diag for it, as
// `ss -lt` does (Send-Q).
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

// TCP states as the kernel numbers them (include/net/tcp_states.h), which is
// what /proc/net/tcp's `st` column prints. Other values pass through as is.
enum class TcpState : std::uint8_t {
  unknown = 0,
  established = 1,
  syn_sent = 2,
  syn_recv = 3,
  fin_wait1 = 4,
  fin_wait2 = 5,
  time_wait = 6,
  close = 7,
  close_wait = 8,
  last_ack = 9,
  listen = 10,
  closing = 11,
  new_syn_recv = 12,
};
// "ESTABLISHED", "LISTEN", "CLOSE_WAIT", ... as ss and netstat print them; "?" for others.
std::string_view tcp_state_name(TcpState s);

// One row of /proc/net/tcp or /proc/net/tcp6.
struct TcpEntry {
  std::uint64_t inode = 0;       // 0 for a socket no process holds (TIME_WAIT)
  TcpState state = TcpState::unknown;
  std::string local_addr;        // "127.0.0.1", "::1", "::ffff:127.0.0.1"
  std::uint16_t local_port = 0;
  std::string remote_addr;       // "0.0.0.0" / "::" for a listener
  std::uint16_t remote_port = 0;
  // LISTEN: rx = connections waiting in the accept backlog now, tx = the
  // backlog limit (listen()'s argument, capped by net.core.somaxconn; from
  // sock_diag: parse_net_tcp alone leaves the 0 /proc/net/tcp prints).
  // Otherwise: bytes received and not yet read, bytes sent and not yet acked.
  std::uint32_t rx_queue = 0;
  std::uint32_t tx_queue = 0;
  bool operator==(const TcpEntry&) const = default;
};

// A TCP socket a process holds, as descriptor `fd`.
struct SocketFd : TcpEntry {
  int fd = -1;
  bool operator==(const SocketFd&) const = default;
};

// Parses the text of /proc/net/tcp or tcp6 (header line first). Rows that do
// not parse are skipped. Exposed for tests.
std::vector<TcpEntry> parse_net_tcp(std::string_view text);

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
  // Its anonymous part (Pss_Anon): heap, stacks, copy-on-write data. Not the
  // program's text, which every process of the same binary shares (the
  // client simulator too), nor shared memory (the trace ring): what a
  // connection really adds.
  std::uint64_t pss_anon_kb = 0;
  int fds = 0;               // entries in /proc/PID/fd; 0 for zombies or when unreadable
  // Its TCP sockets (by fd). Unix sockets and other descriptors are counted
  // in `fds` only. Empty when the fds are unreadable (zombies, other users).
  std::vector<SocketFd> sockets;
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
// Reads /proc/PID/net/tcp and tcp6 once, PID being the root (or the first
// member that is not a zombie), for the sockets of the whole subtree. In a
// tree of more than 16 processes a process's PSS (a walk of its page
// tables) is read when it is new, and again when its reading is 2 s old and
// the sample's 5 ms for such readings allow; in between it is recalled
// (proc_sampler.cpp).
ProcSnapshot sample_subtree(pid_t root);

// Reads one process, its sockets included (reading the TCP tables for it
// alone: a subtree should use sample_subtree, which reads them once). Returns
// false when it vanished or cannot be read.
bool read_proc(pid_t pid, ProcInfo& out);

// Parses the text of /proc/PID/stat into `out` (pid, comm, state, ppid,
// start_ticks, cpu_s). Exposed for tests: comm may hold spaces and parens, so
// the fields after it are found from the *last* ')'.
bool parse_stat(std::string_view stat_text, ProcInfo& out);

namespace detail {
// How many times PSS was read (smaps_rollup) since the process started.
std::uint64_t pss_reads();
}  // namespace detail

}  // namespace sockscope::observe
