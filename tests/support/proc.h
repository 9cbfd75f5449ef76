// What the kernel says about processes, read from /proc (not through the
// engine's sampler, so tests can hold the model and the sampler to it): a
// process's parent and state, and the children of a process.
#pragma once

#include <dirent.h>
#include <sys/types.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace sockscope::test {

struct ProcStat {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';  // R, S, D, Z (zombie), ...
};

// From /proc/<pid>/stat; nullopt once the process is gone (reaped).
inline std::optional<ProcStat> proc_stat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name may hold spaces and parentheses: the fields follow the last ')'.
  const auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close_paren + 1));
  ProcStat s;
  s.pid = pid;
  if (!(rest >> s.state >> s.ppid)) return std::nullopt;
  return s;
}

// Every process whose parent is `parent` (zombies included), in pid order.
inline std::vector<ProcStat> proc_children(pid_t parent) {
  std::vector<ProcStat> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (const dirent* e = readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    if (auto s = proc_stat(static_cast<pid_t>(pid)); s && s->ppid == parent) out.push_back(*s);
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](const ProcStat& x, const ProcStat& y) { return x.pid < y.pid; });
  return out;
}

}  // namespace sockscope::test
