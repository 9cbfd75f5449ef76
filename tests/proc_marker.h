// Finding the processes a test started, however they were started: the test
// puts a unique marker in the environment, every descendant inherits it, and
// /proc/PID/environ tells them apart from everyone else's processes on the
// machine. Used to prove that nothing outlives a killed lab.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace sockscope::test {

// Every pid whose environment carries `marker`.
inline std::vector<pid_t> pids_with_marker(const std::string& marker) {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream env(entry.path() / "environ", std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(env)), {});
    if (content.find(marker) != std::string::npos) out.push_back(std::stoi(name));
  }
  return out;
}

}  // namespace sockscope::test
