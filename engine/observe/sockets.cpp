// See sockets.h.
//
// Sections: 1. /proc files and descriptors   2. parsing /proc/net/tcp
//           3. the table by sock_diag   4. joining descriptors to the table
#include "observe/sockets.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string_view>

#include "trace/ring.h"

namespace sockscope::observe {

// ---- 1. /proc files and descriptors -------------------------------------------

namespace detail {

bool read_file(const char* path, std::string& out) {
  out.clear();
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return true;
}


// readlink gives "socket:[INODE]" for a socket. Relative to the directory's
// own fd, so each readlink looks up one name, not a path (this is most of
// what sockets add to a sample).
int read_fds(pid_t pid, std::vector<SocketLink>& sockets) {
  char dir[64];
  std::snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
  DIR* d = ::opendir(dir);
  if (!d) return -1;
  int count = 0;
  char link[64];
  while (dirent* ent = ::readdir(d)) {
    if (ent->d_name[0] == '.') continue;
    int fd = 0;
    const char* end = ent->d_name + std::strlen(ent->d_name);
    if (std::from_chars(ent->d_name, end, fd).ptr != end) continue;
    ++count;
    ssize_t n = ::readlinkat(::dirfd(d), ent->d_name, link, sizeof link - 1);
    if (n <= 0) continue;  // closed since readdir: not an error
    std::string_view target(link, static_cast<std::size_t>(n));
    constexpr std::string_view prefix = "socket:[";
    if (!target.starts_with(prefix) || target.back() != ']') continue;
    std::uint64_t inode = 0;
    auto digits = target.substr(prefix.size(), target.size() - prefix.size() - 1);
    if (std::from_chars(digits.data(), digits.data() + digits.size(), inode).ec == std::errc{})
      sockets.push_back({fd, inode});
  }
  ::closedir(d);
  return count;
}

}  // namespace detail

// ---- 2. parsing /proc/net/tcp ------------------------------------------------------

namespace {

bool hex_u32(std::string_view s, std::uint32_t& out) {
  if (s.empty() || s.size() > 8) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc{} && p == s.data() + s.size();
}

// "0100007F:1F90" -> "127.0.0.1", 8080. The kernel prints each 32-bit word
// of the address as the number it is in memory (%08X of a __be32), so on any
// host storing the parsed number back into memory restores the bytes.
bool parse_endpoint(std::string_view s, std::string& addr, std::uint16_t& port) {
  auto colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view hex = s.substr(0, colon);
  std::uint32_t p = 0;
  if (!hex_u32(s.substr(colon + 1), p) || p > 0xFFFF) return false;
  port = static_cast<std::uint16_t>(p);
  char text[INET6_ADDRSTRLEN];
  if (hex.size() == 8) {
    in_addr a{};
    std::uint32_t w = 0;
    if (!hex_u32(hex, w)) return false;
    std::memcpy(&a.s_addr, &w, sizeof w);
    if (!::inet_ntop(AF_INET, &a, text, sizeof text)) return false;
  } else if (hex.size() == 32) {
    in6_addr a{};
    for (int i = 0; i < 4; ++i) {
      std::uint32_t w = 0;
      if (!hex_u32(hex.substr(static_cast<std::size_t>(i) * 8, 8), w)) return false;
      std::memcpy(reinterpret_cast<char*>(&a) + i * 4, &w, sizeof w);
    }
    if (!::inet_ntop(AF_INET6, &a, text, sizeof text)) return false;
  } else {
    return false;
  }
  addr = text;
  return true;
}

}  // namespace

std::string_view tcp_state_name(TcpState s) {
  switch (s) {
    case TcpState::established: return "ESTABLISHED";
    case TcpState::syn_sent: return "SYN_SENT";
    case TcpState::syn_recv: return "SYN_RECV";
    case TcpState::fin_wait1: return "FIN_WAIT1";
    case TcpState::fin_wait2: return "FIN_WAIT2";
    case TcpState::time_wait: return "TIME_WAIT";
    case TcpState::close: return "CLOSE";
    case TcpState::close_wait: return "CLOSE_WAIT";
    case TcpState::last_ack: return "LAST_ACK";
    case TcpState::listen: return "LISTEN";
    case TcpState::closing: return "CLOSING";
    case TcpState::new_syn_recv: return "NEW_SYN_RECV";
    case TcpState::unknown: break;
  }
  return "?";
}

std::vector<TcpEntry> parse_net_tcp(std::string_view text) {
  //   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
  //    0: 0100007F:1F90 00000000:0000 0A 00000000:00000010 00:00000000 00000000  1000        0 43213 ...
  std::vector<TcpEntry> out;
  std::size_t pos = text.find('\n');  // skip the header
  while (pos != std::string_view::npos && pos < text.size()) {
    std::size_t end = text.find('\n', pos + 1);
    std::string_view line = text.substr(pos + 1, end == std::string_view::npos ? std::string_view::npos : end - pos - 1);
    pos = end;
    std::string_view tok[10];
    std::size_t n = 0, i = 0;
    while (n < 10) {
      while (i < line.size() && line[i] == ' ') ++i;
      if (i >= line.size()) break;
      std::size_t j = line.find(' ', i);
      if (j == std::string_view::npos) j = line.size();
      tok[n++] = line.substr(i, j - i);
      i = j;
    }
    // 0 sl, 1 local, 2 remote, 3 st, 4 tx:rx, 5 tr:when, 6 retrnsmt, 7 uid, 8 timeout, 9 inode
    if (n < 10 || tok[0].empty() || tok[0].back() != ':') continue;
    TcpEntry e;
    std::uint32_t st = 0, tx = 0, rx = 0;
    auto colon = tok[4].find(':');
    if (!parse_endpoint(tok[1], e.local_addr, e.local_port) || !parse_endpoint(tok[2], e.remote_addr, e.remote_port) ||
        !hex_u32(tok[3], st) || st > 0xFF || colon == std::string_view::npos || !hex_u32(tok[4].substr(0, colon), tx) ||
        !hex_u32(tok[4].substr(colon + 1), rx) ||
        std::from_chars(tok[9].data(), tok[9].data() + tok[9].size(), e.inode).ec != std::errc{})
      continue;
    e.state = static_cast<TcpState>(st);
    e.tx_queue = tx;
    e.rx_queue = rx;
    out.push_back(std::move(e));
  }
  return out;
}

// ---- 3. the table by sock_diag -----------------------------------------------------

namespace {

using detail::TableReads;
using detail::TcpTable;

// Every state a socket some process holds can be in: all but TIME_WAIT and
// the two SYN_RECV states (the kernel's alone, inode 0).
constexpr std::uint32_t kHeldStates =
    ~((1u << static_cast<unsigned>(TcpState::time_wait)) | (1u << static_cast<unsigned>(TcpState::syn_recv)) |
      (1u << static_cast<unsigned>(TcpState::new_syn_recv)) | 1u);

std::string address_text(int family, const std::uint32_t (&words)[4]) {
  char text[INET6_ADDRSTRLEN] = "?";
  ::inet_ntop(family, words, text, sizeof text);
  return text;
}

// What a dump said about a socket: enough to ask for it alone next time.
struct Known {
  std::uint8_t family = AF_INET;
  inet_diag_sockid id{};  // its addresses, ports and cookie
  std::uint64_t used_ns = 0;
};

// What the dumps taught, shared by every caller (the lab's sampler, a
// comparison's): the sockets they found, and the inodes a full dump did not
// find (a unix socket; a TCP socket not yet bound or connected) with when.
struct Memory {
  std::mutex mutex;
  std::unordered_map<std::uint64_t, Known> known;
  std::unordered_map<std::uint64_t, std::uint64_t> not_found;
  TableReads reads;
  std::uint64_t walked_ns = 0;     // when the last walk began
  std::uint64_t walk_cost_ns = 0;  // and how long it took
  std::uint64_t walk_base_ns = UINT64_MAX;  // the cheapest walk yet
  // Whether each tree's walks churn (the lab's and a comparison's differ),
  // and when the tree was last sampled.
  struct Tree {
    detail::WalkChurn churn;
    std::uint64_t used_ns = 0;
  };
  std::unordered_map<pid_t, Tree> trees;
};

Memory& memory() {
  static Memory m;
  return m;
}

constexpr std::uint32_t kListen = 1u << static_cast<unsigned>(TcpState::listen);
// An inode a full dump did not find is looked for by a full dump again after
// this long (a socket can be made, then bound or connected later).
constexpr std::uint64_t kRecheckNs = 1'000'000'000;
// A socket not asked for this long is forgotten.
constexpr std::uint64_t kForgetNs = 5'000'000'000;
// A walk of the table costs a few milliseconds even on a quiet machine (the
// kernel visits every bucket of its hash of connections: 2.7 ms here) and
// more with every socket in it. Under a load of short connections it is
// mostly wasted: the new sockets it finds are gone by the next sample (the
// load churns), and the hundred thousand TIME_WAIT sockets that load leaves
// make each walk cost 20 to 35 ms, every sample (perf: tcp_diag_dump was
// more than half of the lab's CPU on evloop close). So while a tree's walks
// churn (detail::WalkChurn), a walk that cost more than kCheapWalkNs over
// the cheapest yet waits kWalkShare times its cost before the next (20 ms:
// every 4 s). Sockets that stay (a teacher's clients, a comparison's held
// connections) are found on the next sample, however costly the walk.
constexpr std::uint64_t kCheapWalkNs = 2'000'000;
constexpr std::uint64_t kWalkShare = 200;

}  // namespace

namespace detail {
bool walk_due(std::uint64_t now_ns, std::uint64_t walked_ns, std::uint64_t cost_ns, std::uint64_t base_ns,
              bool churning) {
  return !churning || cost_ns <= base_ns + kCheapWalkNs || now_ns - walked_ns >= kWalkShare * cost_ns;
}

void WalkChurn::walked(std::vector<std::uint64_t> found, std::size_t sought) {
  found_ = std::move(found);
  sought_ = sought;
  judged_ = false;
}

void WalkChurn::sampled(const std::vector<std::uint64_t>& wanted, bool unknown) {
  if (!judged_) {
    std::vector<std::uint64_t> sorted(wanted);
    std::sort(sorted.begin(), sorted.end());
    std::size_t still = 0;
    for (std::uint64_t inode : found_) still += std::binary_search(sorted.begin(), sorted.end(), inode) ? 1 : 0;
    wasted_sought_ = still * 10 < sought_ ? wasted_sought_ + sought_ : 0;
    judged_ = true;
    found_.clear();
  }
  if (!unknown) wasted_sought_ = 0;
}
}  // namespace detail

namespace {

// One sock_diag message into `table`, and what it takes to ask for that
// socket again into `known`.
void take_message(const nlmsghdr* h, TcpTable& table, std::unordered_map<std::uint64_t, Known>& known,
                  std::uint64_t now) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) return;
  const auto* d = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
  if (d->idiag_inode == 0) return;
  TcpEntry e;
  e.inode = d->idiag_inode;
  e.state = static_cast<TcpState>(d->idiag_state);
  e.local_addr = address_text(d->idiag_family, d->id.idiag_src);
  e.local_port = ntohs(d->id.idiag_sport);
  e.remote_addr = address_text(d->idiag_family, d->id.idiag_dst);
  e.remote_port = ntohs(d->id.idiag_dport);
  e.rx_queue = d->idiag_rqueue;
  e.tx_queue = d->idiag_wqueue;
  known.insert_or_assign(e.inode, Known{d->idiag_family, d->id, now});
  table.insert_or_assign(e.inode, std::move(e));
}

// One sock_diag dump of the TCP sockets of `family` in `states`, into
// `table`. A listener's queues are its backlog and the backlog's limit, as
// `ss -lt` shows them. False when netlink cannot be used.
bool dump_family(int fd, int family, std::uint32_t states, TcpTable& table, Memory& mem, std::uint64_t now) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.req.sdiag_family = static_cast<std::uint8_t>(family);
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = states;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) return false;
  alignas(nlmsghdr) char buf[32768];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) return true;
      if (h->nlmsg_type == NLMSG_ERROR) return false;
      take_message(h, table, mem.known, now);
    }
  }
}

// Asks for each of `inodes` (all in mem.known) alone: the kernel looks each
// up by its addresses and ports in its hash table and checks its cookie,
// where a dump walks every socket of the machine. What is found goes into
// `table`; a socket that is gone is answered ENOENT and forgotten. The
// requests go in rounds of 64, so the answers fit the socket's receive
// buffer. False when netlink cannot be used.
bool ask_each(int fd, const std::vector<std::uint64_t>& inodes, TcpTable& table, Memory& mem, std::uint64_t now) {
  struct Request {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  };
  constexpr std::size_t kRound = 64;
  std::vector<Request> requests;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  for (std::size_t first = 0; first < inodes.size(); first += kRound) {
    const std::size_t count = std::min(kRound, inodes.size() - first);
    requests.assign(count, Request{});
    for (std::size_t i = 0; i < count; ++i) {
      const Known& k = mem.known.at(inodes[first + i]);
      Request& r = requests[i];
      r.nlh.nlmsg_len = sizeof(Request);
      r.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
      r.nlh.nlmsg_flags = NLM_F_REQUEST;
      r.nlh.nlmsg_seq = static_cast<std::uint32_t>(first + i + 1);
      r.req.sdiag_family = k.family;
      r.req.sdiag_protocol = IPPROTO_TCP;
      r.req.idiag_states = ~0u;
      r.req.id = k.id;
    }
    if (::sendto(fd, requests.data(), count * sizeof(Request), 0, reinterpret_cast<sockaddr*>(&kernel),
                 sizeof kernel) < 0)
      return false;
    // One answer per request: the socket, or an error (ENOENT: gone).
    std::size_t answered = 0;
    alignas(nlmsghdr) char buf[32768];
    while (answered < count) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      int left = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
        ++answered;
        if (h->nlmsg_type == NLMSG_ERROR) {
          const std::size_t i = h->nlmsg_seq - 1;
          if (h->nlmsg_seq >= 1 && i < inodes.size()) mem.known.erase(inodes[i]);
          continue;
        }
        take_message(h, table, mem.known, now);
      }
    }
    mem.reads.lookups += count;
  }
  return true;
}

// The TCP sockets of `wanted` (and maybe more) into `table`; false when
// netlink cannot be used. In three steps, cheapest first:
//   1. the listeners, by a dump of LISTEN sockets only: it walks the small
//      table of listeners, never the table of connections;
//   2. each socket a dump found before, asked for alone;
//   3. only if a wanted inode is still unknown (a new connection), a dump
//      of every other held state: IPv4, then IPv6 if IPv4 did not have them
//      all and the tree holds an IPv6 socket.
//      It walks the kernel's whole table of connections, TIME_WAIT included
//      (a load of short connections leaves a hundred thousand of them, 10 to
//      30 ms of walking), and both families walk the same table. An inode
//      that dump does not find is not looked for by a dump again for a
//      second: a unix socket never will be. While what the walks find is
//      gone by the walk or by the next sample (a load of short
//      connections: detail::WalkChurn), a costly walk is not repeated for
//      a while (detail::walk_due).
// A busy server's keep-alive connections are then read by step 2 alone.
bool sock_diag_table(pid_t pid, const std::vector<std::uint64_t>& wanted, TcpTable& table) {
  int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return false;
  Memory& mem = memory();
  std::lock_guard lock(mem.mutex);
  const std::uint64_t now = trace::now_ns();
  bool ok = dump_family(fd, AF_INET, kListen, table, mem, now) && dump_family(fd, AF_INET6, kListen, table, mem, now);

  std::vector<std::uint64_t> ask;
  for (std::uint64_t inode : wanted)
    if (!table.count(inode) && mem.known.count(inode)) ask.push_back(inode);
  std::sort(ask.begin(), ask.end());
  ask.erase(std::unique(ask.begin(), ask.end()), ask.end());
  if (ok && !ask.empty()) ok = ask_each(fd, ask, table, mem, now);

  auto found = [&](std::uint64_t inode) { return table.count(inode) > 0; };
  const bool walk = std::any_of(wanted.begin(), wanted.end(), [&](std::uint64_t inode) {
    if (found(inode)) return false;
    auto nf = mem.not_found.find(inode);
    return nf == mem.not_found.end() || now - nf->second >= kRecheckNs;
  });
  Memory::Tree& tree = mem.trees[pid];
  tree.used_ns = now;
  tree.churn.sampled(wanted, walk);
  const bool may_walk = mem.walk_base_ns == UINT64_MAX || detail::walk_due(now, mem.walked_ns, mem.walk_cost_ns,
                                                                           mem.walk_base_ns, tree.churn.churning());
  if (ok && walk && may_walk) {
    mem.walked_ns = now;
    std::vector<std::uint64_t> unknown;
    for (std::uint64_t inode : wanted)
      if (!found(inode)) unknown.push_back(inode);
    // IPv6 is walked too (the same table again) only for a tree that holds
    // an IPv6 socket already known (its listener, found by step 1): a
    // server on 127.0.0.1 has no IPv6 connection to look for.
    const bool holds_v6 = std::any_of(wanted.begin(), wanted.end(), [&](std::uint64_t inode) {
      auto k = mem.known.find(inode);
      return k != mem.known.end() && k->second.family == AF_INET6;
    });
    const std::uint32_t states = kHeldStates & ~kListen;
    ok = dump_family(fd, AF_INET, states, table, mem, now);
    if (ok && holds_v6 && !std::all_of(wanted.begin(), wanted.end(), found))
      ok = dump_family(fd, AF_INET6, states, table, mem, now);
    ++mem.reads.walks;
    mem.walk_cost_ns = trace::now_ns() - now;
    mem.walk_base_ns = std::min(mem.walk_base_ns, mem.walk_cost_ns);
    if (ok)
      for (std::uint64_t inode : wanted)
        if (!found(inode)) mem.not_found[inode] = now;
    std::vector<std::uint64_t> found_now;
    for (std::uint64_t inode : unknown)
      if (found(inode)) found_now.push_back(inode);
    tree.churn.walked(std::move(found_now), unknown.size());
  }
  ::close(fd);
  for (std::uint64_t inode : wanted) {
    auto k = mem.known.find(inode);
    if (k != mem.known.end()) k->second.used_ns = now;
  }
  // A walk is what fills the memory (with every held socket of the machine):
  // after one, forget what nobody asked for lately (closed connections, by
  // the thousand). Between walks it does not grow.
  if (walk && may_walk) {
    std::erase_if(mem.known, [&](const auto& kv) { return now - kv.second.used_ns > kForgetNs; });
    std::erase_if(mem.not_found, [&](const auto& kv) { return now - kv.second > kForgetNs; });
    std::erase_if(mem.trees, [&](const auto& kv) { return now - kv.second.used_ns > kForgetNs; });
  }
  return ok;
}

// Whether PID lives in the sampler's own network namespace, the only one its
// netlink socket sees.
bool same_net_namespace(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/ns/net", pid);
  struct stat theirs {};
  struct stat ours {};
  return ::stat(path, &theirs) == 0 && ::stat("/proc/self/ns/net", &ours) == 0 && theirs.st_ino == ours.st_ino &&
         theirs.st_dev == ours.st_dev;
}

// The text tables of PID's namespace, TIME_WAIT included. They print a
// listener's backlog but not its limit (tx_queue is the send queue there).
TcpTable proc_tcp_table(pid_t pid) {
  TcpTable table;
  std::string text;
  char path[64];
  for (const char* name : {"tcp", "tcp6"}) {
    std::snprintf(path, sizeof path, "/proc/%d/net/%s", pid, name);
    if (!detail::read_file(path, text)) continue;
    for (TcpEntry& e : parse_net_tcp(text))
      if (e.inode != 0) table.insert_or_assign(e.inode, std::move(e));
  }
  return table;
}

}  // namespace

// ---- 4. joining descriptors to the table -----------------------------------------

namespace detail {

TcpTable read_tcp_table(pid_t pid, const std::vector<std::uint64_t>& wanted) {
  TcpTable table;
  if (same_net_namespace(pid) && sock_diag_table(pid, wanted, table)) return table;
  table.clear();
  return proc_tcp_table(pid);
}

std::vector<SocketFd> resolve_sockets(const std::vector<SocketLink>& links, const TcpTable& table) {
  std::vector<SocketFd> out;
  for (const SocketLink& l : links) {
    auto it = table.find(l.inode);
    if (it == table.end()) continue;  // a unix socket, or closed since we listed it
    SocketFd s;
    static_cast<TcpEntry&>(s) = it->second;
    s.fd = l.fd;
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const SocketFd& x, const SocketFd& y) { return x.fd < y.fd; });
  return out;
}

TableReads table_reads() {
  Memory& mem = memory();
  std::lock_guard lock(mem.mutex);
  return mem.reads;
}

bool holds_listener(const std::vector<SocketLink>& links, const TcpTable& table) {
  return std::any_of(links.begin(), links.end(), [&](const SocketLink& l) {
    auto it = table.find(l.inode);
    return it != table.end() && it->second.state == TcpState::listen;
  });
}

}  // namespace detail

}  // namespace sockscope::observe
