#include "observe/proc_cost.h"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <string>

#include "observe/sockets.h"

namespace sockscope::observe {
namespace {

// A /proc file whole; false when unreadable or empty (a vanished thread).
bool slurp(const char* path, std::string& out) { return detail::read_file(path, out) && !out.empty(); }

double ticks_to_s(std::uint64_t ticks) {
  static const double hz = [] {
    long t = ::sysconf(_SC_CLK_TCK);
    return t > 0 ? static_cast<double>(t) : 100.0;
  }();
  return static_cast<double>(ticks) / hz;
}

std::uint64_t number_after(std::string_view text, std::string_view key) {
  auto at = text.find(key);
  if (at == std::string_view::npos) return 0;
  std::size_t i = at + key.size();
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  std::uint64_t v = 0;
  std::from_chars(text.data() + i, text.data() + text.size(), v);
  return v;
}

}  // namespace

TreeCost TreeCost::operator-(const TreeCost& o) const {
  auto sub = [](std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; };
  return {user_s > o.user_s ? user_s - o.user_s : 0.0, system_s > o.system_s ? system_s - o.system_s : 0.0,
          sub(voluntary_switches, o.voluntary_switches), sub(involuntary_switches, o.involuntary_switches)};
}

bool parse_stat_times(std::string_view text, std::uint64_t& utime, std::uint64_t& stime, std::uint64_t& cutime,
                      std::uint64_t& cstime) {
  // comm may hold spaces and ')': the fields start after the LAST ')'.
  auto close = text.rfind(')');
  if (close == std::string_view::npos) return false;
  std::string_view rest = text.substr(close + 1);
  int field = 3;
  int found = 0;
  std::size_t i = 0;
  while (i < rest.size() && field <= 17) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    std::size_t j = i;
    while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n') ++j;
    if (j == i) break;
    std::uint64_t* target = field == 14 ? &utime : field == 15 ? &stime : field == 16 ? &cutime
                          : field == 17 ? &cstime : nullptr;
    if (target) {
      if (std::from_chars(rest.data() + i, rest.data() + j, *target).ec != std::errc{}) return false;
      ++found;
    }
    ++field;
    i = j;
  }
  return found == 4;
}

void add_status_switches(std::string_view status_text, TreeCost& cost) {
  cost.voluntary_switches += number_after(status_text, "\nvoluntary_ctxt_switches:");
  cost.involuntary_switches += number_after(status_text, "\nnonvoluntary_ctxt_switches:");
}

TreeCost read_tree_cost(const std::vector<pid_t>& pids) {
  TreeCost cost;
  std::string text;
  char path[64];
  for (pid_t pid : pids) {
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    std::uint64_t ut = 0, st = 0, cut = 0, cst = 0;
    if (!slurp(path, text) || !parse_stat_times(text, ut, st, cut, cst)) continue;
    cost.user_s += ticks_to_s(ut + cut);
    cost.system_s += ticks_to_s(st + cst);
    std::snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR* dir = ::opendir(path);
    if (!dir) continue;
    while (dirent* d = ::readdir(dir)) {
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      char task[320];  // d_name is up to 255 bytes (a tid is far shorter)
      std::snprintf(task, sizeof task, "/proc/%d/task/%s/status", pid, d->d_name);
      if (slurp(task, text)) add_status_switches(text, cost);
    }
    ::closedir(dir);
  }
  return cost;
}

TreeCost cost_of(const struct rusage& u) {
  TreeCost c;
  c.user_s = static_cast<double>(u.ru_utime.tv_sec) + static_cast<double>(u.ru_utime.tv_usec) / 1e6;
  c.system_s = static_cast<double>(u.ru_stime.tv_sec) + static_cast<double>(u.ru_stime.tv_usec) / 1e6;
  c.voluntary_switches = static_cast<std::uint64_t>(u.ru_nvcsw);
  c.involuntary_switches = static_cast<std::uint64_t>(u.ru_nivcsw);
  return c;
}

}  // namespace sockscope::observe
