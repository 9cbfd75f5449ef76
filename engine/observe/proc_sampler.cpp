// The /proc sampler. One pass reads every /proc/PID/stat to learn the parent
// of each process (the kernel keeps no child list we could read cheaply for a
// whole subtree), then reads the details of the subtree only, and last the
// TCP tables, once, to name the sockets the subtree holds.
//
// Sections: 1. reading /proc files   2. the TCP tables   3. one process
//           4. a subtree
#include "observe/proc_sampler.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "trace/ring.h"

namespace sockscope::observe {
namespace {

// ---- 1. reading /proc files ----------------------------------------------------

// Reads a small /proc file whole. /proc files report size 0, so read until EOF.
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

bool parse_pid(const char* name, pid_t& out) {
  const char* end = name + std::strlen(name);
  if (name == end) return false;
  auto [p, ec] = std::from_chars(name, end, out);
  return ec == std::errc{} && p == end && out > 0;
}

// Numeric directory entries of `path` (pids or tids, or fd numbers).
template <class F>
int for_each_numeric_entry(const char* path, F&& f) {
  DIR* d = ::opendir(path);
  if (!d) return -1;
  int count = 0;
  while (dirent* ent = ::readdir(d)) {
    pid_t n = 0;
    if (ent->d_name[0] == '.') continue;
    if (!parse_pid(ent->d_name, n) && std::strcmp(ent->d_name, "0") != 0) continue;
    f(n);
    ++count;
  }
  ::closedir(d);
  return count;
}

std::uint64_t field_kb(const std::string& text, std::string_view key) {
  auto pos = text.find(key);
  if (pos == std::string::npos) return 0;
  pos += key.size();
  while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
  std::uint64_t v = 0;
  std::from_chars(text.data() + pos, text.data() + text.size(), v);
  return v;
}

// ---- 2. the TCP tables -----------------------------------------------------------

// A descriptor that links to a socket: fd number and the socket's inode.
struct SocketLink {
  int fd = -1;
  std::uint64_t inode = 0;
};

// Counts the entries of /proc/PID/fd (-1 when unreadable) and collects the
// sockets among them: readlink gives "socket:[INODE]" for a socket. Relative
// to the directory's own fd, so each readlink looks up one name, not a path
// (this is most of what sockets add to a sample).
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

// The TCP sockets of one network namespace, by inode.
using TcpTable = std::unordered_map<std::uint64_t, TcpEntry>;

// Reads /proc/PID/net/tcp and tcp6: the tables of PID's network namespace
// (the server's, whatever namespace the sampler runs in).
TcpTable read_tcp_table(pid_t pid) {
  TcpTable table;
  std::string text;
  char path[64];
  for (const char* name : {"tcp", "tcp6"}) {
    std::snprintf(path, sizeof path, "/proc/%d/net/%s", pid, name);
    if (!read_file(path, text)) continue;
    for (TcpEntry& e : parse_net_tcp(text))
      if (e.inode != 0) table.insert_or_assign(e.inode, std::move(e));
  }
  return table;
}

// /proc/net/tcp prints a listener's accept backlog (rx_queue) but not its
// limit: its tx_queue column is the send queue, 0 for a listener. The limit,
// sk_max_ack_backlog, is what sock_diag reports as idiag_wqueue (ss -lt shows
// it as Send-Q). One dump of the LISTEN sockets per family fills it in, and
// takes the backlog from the same reply so both numbers are one instant's.
// The netlink socket sees the sampler's network namespace: a listener in
// another namespace keeps what /proc said.
void fill_listen_limits(TcpTable& table) {
  int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return;
  std::unordered_map<std::uint32_t, TcpEntry*> listeners;  // sock_diag gives 32-bit inodes
  for (auto& [inode, e] : table)
    if (e.state == TcpState::listen) listeners.emplace(static_cast<std::uint32_t>(inode), &e);
  for (int family : {AF_INET, AF_INET6}) {
    struct {
      nlmsghdr nlh;
      inet_diag_req_v2 req;
    } msg{};
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.req.sdiag_family = static_cast<std::uint8_t>(family);
    msg.req.sdiag_protocol = IPPROTO_TCP;
    msg.req.idiag_states = 1u << static_cast<unsigned>(TcpState::listen);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd, &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) break;
    alignas(nlmsghdr) char buf[16384];
    bool done = false;
    while (!done) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      int left = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
          done = true;
          break;
        }
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
        const auto* d = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
        auto it = listeners.find(d->idiag_inode);
        if (it == listeners.end()) continue;
        it->second->rx_queue = d->idiag_rqueue;
        it->second->tx_queue = d->idiag_wqueue;
      }
    }
  }
  ::close(fd);
}

// The sockets of `links` that the table knows, in fd order.
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

bool holds_listener(const std::vector<SocketLink>& links, const TcpTable& table) {
  return std::any_of(links.begin(), links.end(), [&](const SocketLink& l) {
    auto it = table.find(l.inode);
    return it != table.end() && it->second.state == TcpState::listen;
  });
}

bool read_proc_without_sockets(pid_t pid, ProcInfo& out, std::vector<SocketLink>& links);

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

const ProcInfo* ProcSnapshot::find(pid_t pid) const {
  for (const auto& p : procs)
    if (p.pid == pid) return &p;
  return nullptr;
}

bool parse_stat(std::string_view text, ProcInfo& out) {
  // "pid (comm) S ppid ..." — comm is whatever the program set (up to 15
  // bytes) and may itself contain ") ", so the real end is the LAST ')'.
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return false;
  pid_t pid = 0;
  auto head = text.substr(0, open);
  while (!head.empty() && head.back() == ' ') head.remove_suffix(1);
  if (std::from_chars(head.data(), head.data() + head.size(), pid).ec != std::errc{}) return false;
  out.pid = pid;
  out.comm = std::string(text.substr(open + 1, close - open - 1));

  // Fields after comm, numbered as in proc(5): 3 state, 4 ppid, 14 utime,
  // 15 stime, 22 starttime.
  std::string_view rest = text.substr(close + 1);
  int field = 3;
  std::uint64_t utime = 0, stime = 0;
  bool have_state = false, have_ppid = false;
  std::size_t i = 0;
  while (i < rest.size() && field <= 22) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    std::size_t j = i;
    while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n') ++j;
    if (j == i) break;
    std::string_view tok = rest.substr(i, j - i);
    auto num = [&](auto& v) { std::from_chars(tok.data(), tok.data() + tok.size(), v); };
    switch (field) {
      case 3: out.state = tok[0]; have_state = true; break;
      case 4: num(out.ppid); have_ppid = true; break;
      case 14: num(utime); break;
      case 15: num(stime); break;
      case 22: num(out.start_ticks); break;
      default: break;
    }
    ++field;
    i = j;
  }
  if (!have_state || !have_ppid) return false;
  static const long ticks = [] {
    long t = ::sysconf(_SC_CLK_TCK);
    return t > 0 ? t : 100;
  }();
  out.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(ticks);
  return true;
}

// ---- 3. one process ----------------------------------------------------------------

bool read_proc(pid_t pid, ProcInfo& out) {
  std::vector<SocketLink> links;
  if (!read_proc_without_sockets(pid, out, links)) return false;
  if (!links.empty()) {
    TcpTable table = read_tcp_table(pid);
    if (holds_listener(links, table)) fill_listen_limits(table);
    out.sockets = resolve_sockets(links, table);
  }
  return true;
}

namespace {

// Everything but the sockets, which need the TCP tables: their descriptors
// go to `links`.
bool read_proc_without_sockets(pid_t pid, ProcInfo& out, std::vector<SocketLink>& links) {
  char path[64];
  std::string text;
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  if (!read_file(path, text) || !parse_stat(text, out)) return false;

  std::snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
  out.cmdline.clear();
  if (read_file(path, text)) {
    // argv is NUL-separated (and NUL-terminated); show it as one line.
    while (!text.empty() && text.back() == '\0') text.pop_back();
    std::replace(text.begin(), text.end(), '\0', ' ');
    out.cmdline = std::move(text);
  }

  out.tids.clear();
  std::snprintf(path, sizeof path, "/proc/%d/task", pid);
  for_each_numeric_entry(path, [&](pid_t tid) { out.tids.push_back(tid); });
  std::sort(out.tids.begin(), out.tids.end());
  out.threads = static_cast<int>(out.tids.size());

  // statm's second field is resident pages; status's VmRSS says the same in kB
  // but costs a bigger parse.
  out.rss_kb = 0;
  std::snprintf(path, sizeof path, "/proc/%d/statm", pid);
  if (read_file(path, text)) {
    std::uint64_t size = 0, resident = 0;
    const char* p = text.data();
    const char* end = text.data() + text.size();
    auto r = std::from_chars(p, end, size);
    if (r.ec == std::errc{} && r.ptr < end) {
      std::from_chars(r.ptr + 1, end, resident);
      static const long page_kb = [] {
        long ps = ::sysconf(_SC_PAGESIZE);
        return ps > 0 ? ps / 1024 : 4;
      }();
      out.rss_kb = resident * static_cast<std::uint64_t>(page_kb);
    }
  }

  // PSS shares each page among the processes mapping it: the honest cost of
  // a forked child that still shares most pages with its parent. Zombies have
  // no mm (the file is empty) and other users' processes are unreadable: 0.
  out.pss_kb = out.pss_anon_kb = 0;
  std::snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
  if (read_file(path, text)) {
    out.pss_kb = field_kb(text, "\nPss:");
    out.pss_anon_kb = field_kb(text, "\nPss_Anon:");
  }

  links.clear();
  out.sockets.clear();
  int fds = read_fds(pid, links);
  out.fds = fds < 0 ? 0 : fds;
  return true;
}

}  // namespace

// ---- 4. a subtree --------------------------------------------------------------------

ProcSnapshot sample_subtree(pid_t root) {
  ProcSnapshot snap;
  snap.root = root;
  snap.ts_ns = trace::now_ns();

  // Pass 1: parent of every process on the machine.
  std::unordered_multimap<pid_t, pid_t> children;  // ppid -> pid
  std::string text;
  char path[64];
  for_each_numeric_entry("/proc", [&](pid_t pid) {
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    ProcInfo p;
    if (read_file(path, text) && parse_stat(text, p)) children.emplace(p.ppid, pid);
  });

  // Pass 2: breadth-first from root, reading each member in full. A process
  // that exits between the passes is skipped.
  std::vector<pid_t> queue{root};
  std::vector<std::vector<SocketLink>> links;  // parallel to snap.procs
  bool any_socket = false;
  for (std::size_t i = 0; i < queue.size(); ++i) {
    pid_t pid = queue[i];
    ProcInfo info;
    std::vector<SocketLink> own;
    if (!read_proc_without_sockets(pid, info, own)) {
      if (pid == root) return snap;  // the whole subtree is gone
      continue;
    }
    any_socket = any_socket || !own.empty();
    links.push_back(std::move(own));
    snap.procs.push_back(std::move(info));
    auto range = children.equal_range(pid);
    std::vector<pid_t> kids;
    for (auto it = range.first; it != range.second; ++it) kids.push_back(it->second);
    std::sort(kids.begin(), kids.end());
    queue.insert(queue.end(), kids.begin(), kids.end());
  }
  // Pass 3: the TCP tables, once for the whole subtree. A socket opened after
  // its process was listed is not in this sample; one closed since is not in
  // the tables and is skipped: each sample is a slightly smeared instant.
  if (any_socket) {
    // The tables of the tree's network namespace, read through a living
    // member: a zombie (a root that exited, its workers still serving) has
    // no namespace left to show.
    pid_t net_pid = root;
    for (const ProcInfo& p : snap.procs)
      if (p.state != 'Z') {
        net_pid = p.pid;
        break;
      }
    TcpTable table = read_tcp_table(net_pid);
    if (std::any_of(links.begin(), links.end(), [&](const auto& own) { return holds_listener(own, table); }))
      fill_listen_limits(table);
    for (std::size_t i = 0; i < snap.procs.size(); ++i) snap.procs[i].sockets = resolve_sockets(links[i], table);
  }
  // Root first, then descendants by pid: stable order for diffs and tests.
  if (snap.procs.size() > 1)
    std::sort(snap.procs.begin() + 1, snap.procs.end(),
              [](const ProcInfo& x, const ProcInfo& y) { return x.pid < y.pid; });
  return snap;
}

}  // namespace sockscope::observe
