// The /proc sampler. One pass reads every /proc/PID/stat to learn the parent
// of each process (the kernel keeps no child list we could read cheaply for a
// whole subtree), then reads the details of the subtree only, and last the
// TCP table, once, to name the sockets the subtree holds (observe/sockets.h).
//
// Sections: 1. reading /proc files   2. one process   3. a subtree
#include "observe/proc_sampler.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "observe/sockets.h"
#include "trace/ring.h"

namespace sockscope::observe {
namespace {

using detail::read_fds;
using detail::read_file;
using detail::SocketLink;
using detail::TcpTable;

// ---- 1. reading /proc files ----------------------------------------------------

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

bool read_proc_without_sockets(pid_t pid, ProcInfo& out, std::vector<SocketLink>& links, bool with_pss);

// PSS costs a walk of the process's page tables (smaps_rollup): a few
// milliseconds in a process that has written across the trace ring (8,192
// entries for the lab's 32 MiB; 32,768 when it was 128 MiB). A fork
// server's fifty kept-alive children have, and reading them all made each
// sample 25 to 175 ms with the larger ring, most of the lab's CPU on that
// load. So in a tree of more than kPssEverySample processes a process
// keeps its last reading until it is kPssMaxAgeNs old, and then is read
// again when the sample's budget for such readings (kPssBudgetNs) allows,
// stalest first; a process with no reading yet is read at once. A
// teacher's smaller trees are read in full every sample.
constexpr std::size_t kPssEverySample = 16;
constexpr std::uint64_t kPssMaxAgeNs = 2'000'000'000;
constexpr std::uint64_t kPssBudgetNs = 5'000'000;
struct PssReading {
  std::uint64_t start_ticks = 0;  // the same process, not a new one with its pid
  std::uint64_t pss_kb = 0, pss_anon_kb = 0;
  std::uint64_t read_ns = 0;
};
struct PssMemory {
  std::mutex mutex;
  std::unordered_map<pid_t, PssReading> readings;
  std::atomic<std::uint64_t> reads{0};
};
PssMemory& pss_memory() {
  static PssMemory m;
  return m;
}

// The sockets the TCP table must answer for: the inodes of `links`.
void add_inodes(const std::vector<SocketLink>& links, std::vector<std::uint64_t>& wanted) {
  for (const SocketLink& l : links) wanted.push_back(l.inode);
}

}  // namespace

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

// ---- 2. one process ----------------------------------------------------------------

bool read_proc(pid_t pid, ProcInfo& out) {
  std::vector<SocketLink> links;
  if (!read_proc_without_sockets(pid, out, links, true)) return false;
  if (!links.empty()) {
    std::vector<std::uint64_t> wanted;
    add_inodes(links, wanted);
    out.sockets = detail::resolve_sockets(links, detail::read_tcp_table(pid, wanted));
  }
  return true;
}

namespace {

// PSS shares each page among the processes mapping it: the honest cost of
// a forked child that still shares most pages with its parent. Zombies have
// no mm (the file is empty) and other users' processes are unreadable: 0.
void read_pss(pid_t pid, ProcInfo& out) {
  char path[64];
  std::string text;
  out.pss_kb = out.pss_anon_kb = 0;
  std::snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
  if (read_file(path, text)) {
    out.pss_kb = field_kb(text, "\nPss:");
    out.pss_anon_kb = field_kb(text, "\nPss_Anon:");
  }
  pss_memory().reads.fetch_add(1, std::memory_order_relaxed);
}

// Everything but the sockets, which need the TCP tables: their descriptors
// go to `links`. PSS only `with_pss`.
bool read_proc_without_sockets(pid_t pid, ProcInfo& out, std::vector<SocketLink>& links, bool with_pss) {
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

  if (with_pss) read_pss(pid, out);

  links.clear();
  out.sockets.clear();
  int fds = read_fds(pid, links);
  out.fds = fds < 0 ? 0 : fds;
  return true;
}

}  // namespace

// ---- 3. a subtree --------------------------------------------------------------------

namespace {

void read_or_recall_pss(std::vector<ProcInfo>& procs, std::uint64_t now) {
  PssMemory& mem = pss_memory();
  std::lock_guard lock(mem.mutex);
  const bool big = procs.size() > kPssEverySample;
  // Processes with no reading of theirs are read, always; in a big tree the
  // rest keep their reading unless it is kPssMaxAgeNs old, and then are read
  // stalest first while this sample has spent less than kPssBudgetNs on it.
  std::vector<std::pair<std::uint64_t, ProcInfo*>> stale;  // (read at, process)
  for (ProcInfo& p : procs) {
    auto it = mem.readings.find(p.pid);
    const bool known = it != mem.readings.end() && it->second.start_ticks == p.start_ticks;
    // A zombie has no memory left (an empty file, cheap to read): never an
    // old reading from before it exited.
    if (big && known && p.state != 'Z') {
      p.pss_kb = it->second.pss_kb;
      p.pss_anon_kb = it->second.pss_anon_kb;
      if (now - it->second.read_ns >= kPssMaxAgeNs) stale.emplace_back(it->second.read_ns, &p);
      continue;
    }
    read_pss(p.pid, p);
    mem.readings[p.pid] = {p.start_ticks, p.pss_kb, p.pss_anon_kb, now};
  }
  std::sort(stale.begin(), stale.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  const std::uint64_t began = trace::now_ns();
  for (auto& [read_ns, p] : stale) {
    if (trace::now_ns() - began >= kPssBudgetNs) break;
    read_pss(p->pid, *p);
    mem.readings[p->pid] = {p->start_ticks, p->pss_kb, p->pss_anon_kb, now};
  }
  // Short-lived processes (a fork server's children on short connections)
  // leave readings behind by the thousand: forget the old ones now and then.
  if (mem.readings.size() > 4096)
    std::erase_if(mem.readings, [&](const auto& kv) { return now - kv.second.read_ns > kPssMaxAgeNs; });
}

}  // namespace

namespace detail {
std::uint64_t pss_reads() { return pss_memory().reads.load(std::memory_order_relaxed); }
}  // namespace detail

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
    if (!read_proc_without_sockets(pid, info, own, false)) {
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
  read_or_recall_pss(snap.procs, snap.ts_ns);
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
    std::vector<std::uint64_t> wanted;
    for (const auto& own : links) add_inodes(own, wanted);
    const TcpTable table = detail::read_tcp_table(net_pid, wanted);
    for (std::size_t i = 0; i < snap.procs.size(); ++i)
      snap.procs[i].sockets = detail::resolve_sockets(links[i], table);
  }
  // Root first, then descendants by pid: stable order for diffs and tests.
  if (snap.procs.size() > 1)
    std::sort(snap.procs.begin() + 1, snap.procs.end(),
              [](const ProcInfo& x, const ProcInfo& y) { return x.pid < y.pid; });
  return snap;
}

}  // namespace sockscope::observe
