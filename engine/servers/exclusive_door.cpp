// See exclusive_door.h.
#include "servers/exclusive_door.h"

#include <sys/epoll.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace sockscope::servers {
namespace {

// How an epoll set holds a descriptor, from its fdinfo line
// "tfd: FD events: HEX data: HEX ...".
struct Registration {
  int epfd = -1;
  std::uint32_t events = 0;
  std::uint64_t data = 0;
};

bool find_registration(int fd, Registration& out) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    if (std::filesystem::read_symlink(entry.path(), ec).string() != "anon_inode:[eventpoll]") continue;
    const std::string name = entry.path().filename().string();
    std::ifstream info("/proc/self/fdinfo/" + name);
    std::string word;
    while (info >> word) {
      if (word != "tfd:") continue;
      int watched = -1;
      std::string events_word, data_word;
      if (!(info >> watched >> events_word >> std::hex >> out.events >> data_word >> out.data >> std::dec)) return false;
      if (watched != fd) continue;
      if (events_word != "events:" || data_word != "data:") return false;
      out.epfd = std::stoi(name);
      return true;
    }
  }
  return false;
}

}  // namespace

int make_listener_exclusive(int listener_fd) {
  Registration r;
  if (!find_registration(listener_fd, r)) return ENOENT;
  // The bits EPOLLEXCLUSIVE may be combined with (the kernel refuses others).
  constexpr std::uint32_t kAllowed = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET;
  epoll_event flagged{};
  flagged.events = (r.events & kAllowed) | EPOLLEXCLUSIVE;
  flagged.data.u64 = r.data;
  if (::epoll_ctl(r.epfd, EPOLL_CTL_DEL, listener_fd, nullptr) != 0) return errno;
  if (::epoll_ctl(r.epfd, EPOLL_CTL_ADD, listener_fd, &flagged) == 0) return 0;
  const int err = errno;
  epoll_event plain{};
  plain.events = r.events;
  plain.data.u64 = r.data;
  ::epoll_ctl(r.epfd, EPOLL_CTL_ADD, listener_fd, &plain);
  return err;
}

}  // namespace sockscope::servers
