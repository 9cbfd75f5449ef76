// A process's TCP sockets, for the /proc sampler (internal to observe/).
//
// Which descriptors of a process are sockets comes from /proc/PID/fd
// ("socket:[INODE]"); what each socket is (state, ports, queues) comes from
// the TCP table of the process's network namespace, joined by inode. The
// table is read with one sock_diag dump per address family, as `ss` does.
// The dump leaves out the TIME_WAIT sockets a busy server leaves behind by
// the ten thousand (no process holds them), where /proc/net/tcp would format
// every one of them as text on every sample, and it gives a listener's
// backlog limit, which /proc/net/tcp does not print. A server in another
// network namespace than the sampler's is read from its /proc/PID/net/tcp
// and tcp6 instead.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "observe/proc_sampler.h"

namespace sockscope::observe::detail {

// Reads a small /proc file whole (they report size 0: read until EOF).
bool read_file(const char* path, std::string& out);

// A descriptor that links to a socket: fd number and the socket's inode.
struct SocketLink {
  int fd = -1;
  std::uint64_t inode = 0;
};

// Counts the entries of /proc/PID/fd (-1 when unreadable) and collects the
// sockets among them in `sockets`.
int read_fds(pid_t pid, std::vector<SocketLink>& sockets);

// The TCP sockets of one network namespace that a process may hold, by inode.
using TcpTable = std::unordered_map<std::uint64_t, TcpEntry>;

// The table of PID's network namespace, with at least the sockets of
// `wanted` (inodes) that are TCP sockets. A LISTEN socket's rx_queue is its
// accept backlog and its tx_queue the backlog's limit.
TcpTable read_tcp_table(pid_t pid, const std::vector<std::uint64_t>& wanted);

// How the tables were read, since the process started: full dumps of the
// table of connections (each walks every socket of the machine), and
// sockets asked for alone.
struct TableReads {
  std::uint64_t walks = 0;
  std::uint64_t lookups = 0;
};
TableReads table_reads();
// Whether a walk of the whole table may happen at `now_ns`, the last one
// having begun at `walked_ns` and taken `cost_ns`, the cheapest yet
// `base_ns`: always, unless the walks' findings churn (a load of short
// connections); then one near the cheapest (within 2 ms) always, a costlier
// one after 200 times its cost.
bool walk_due(std::uint64_t now_ns, std::uint64_t walked_ns, std::uint64_t cost_ns, std::uint64_t base_ns,
              bool churning);
// Whether one tree's walks are churning: what its walks looked for was gone
// (by the walk, or by the tree's next sample) walk after walk. A walk is
// wasted when fewer than a tenth of the unknown sockets it `sought` were
// found by it and still wanted at the next sample; the wasted walks in a row
// churn once they sought 8 sockets or more between them. A load of short
// connections churns at its first walk (fifty sought, a few found, none
// left); serial on close, one connection at a time, after eight. A walk that
// found sockets that stay, or a sample with nothing unknown (the load is
// over), ends the run.
class WalkChurn {
 public:
  // The last walk sought `sought` unknown sockets and found `found` of them.
  void walked(std::vector<std::uint64_t> found, std::size_t sought);
  // A sample of the tree, wanting `wanted`; `unknown`: some of them are not
  // known yet. Judges the last walk, if it is not judged yet.
  void sampled(const std::vector<std::uint64_t>& wanted, bool unknown);
  bool churning() const { return wasted_sought_ >= kSought; }
  static constexpr std::size_t kSought = 8;

 private:
  std::vector<std::uint64_t> found_;
  std::size_t sought_ = 0;
  bool judged_ = true;
  std::size_t wasted_sought_ = 0;
};

// The sockets of `links` that the table knows, in fd order.
std::vector<SocketFd> resolve_sockets(const std::vector<SocketLink>& links, const TcpTable& table);

// Whether one of `links` is a listening socket.
bool holds_listener(const std::vector<SocketLink>& links, const TcpTable& table);

}  // namespace sockscope::observe::detail
