// This process's epoll registrations as the kernel shows them: one "tfd:"
// line in /proc/self/fdinfo of each eventpoll descriptor for each watched
// descriptor ("tfd: FD events: HEX data: HEX ..."). Read independently of
// the engine's own reader (servers/exclusive_door.cpp), so a test of what
// the engine registered does not trust the engine to read it back.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace sockscope::test {

struct EpollEntry {
  int fd = -1;               // the watched descriptor
  std::uint32_t events = 0;  // as registered (EPOLLIN, EPOLLET, EPOLLEXCLUSIVE...)
  std::uint64_t data = 0;    // the epoll_event's data
};

inline std::vector<EpollEntry> epoll_entries() {
  std::vector<EpollEntry> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(e.path(), ec).string() != "anon_inode:[eventpoll]") continue;
    std::ifstream info("/proc/self/fdinfo/" + e.path().filename().string());
    std::string word, events_word, data_word;
    while (info >> word) {
      if (word != "tfd:") continue;
      EpollEntry entry;
      if (info >> entry.fd >> events_word >> std::hex >> entry.events >> data_word >> entry.data >> std::dec)
        out.push_back(entry);
    }
  }
  return out;
}

// The descriptors registered, each as often as it is.
inline std::multiset<int> epoll_registrations() {
  std::multiset<int> out;
  for (const EpollEntry& e : epoll_entries()) out.insert(e.fd);
  return out;
}

// How `fd` is registered (its first registration), if it is.
inline std::optional<EpollEntry> epoll_registration(int fd) {
  for (const EpollEntry& e : epoll_entries())
    if (e.fd == fd) return e;
  return std::nullopt;
}

}  // namespace sockscope::test
