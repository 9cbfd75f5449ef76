// The socket an event loop accepts a client into: Asio's own, told what Asio
// cannot know about its descriptor.
//
// Asio marks every socket it is handed by descriptor (an accepted one
// included) "possibly dup()-ed", and removes such a socket from epoll
// (EPOLL_CTL_DEL) before close(): for a descriptor with a twin, close() would
// not end the epoll registration. A descriptor fresh from accept() has no
// twin, and close() ends its registration by itself, as nginx relies on. And
// a descriptor from accept4(SOCK_NONBLOCK) is already non-blocking, where Asio
// would set that with ioctl(FIONBIO) at the first operation. Each fact told
// is one system call less for every connection.
//
// This reaches into Asio's socket state (asio::detail), which is not public
// API: the static_assert stops the build if that state changes shape, and
// tests/servers/accepted_socket_test.cpp checks the behaviour.
#pragma once

#include <unistd.h>

#include <asio.hpp>

namespace sockscope::servers {

#if defined(ASIO_HAS_IOCP) || defined(ASIO_HAS_IO_URING_AS_DEFAULT) || defined(ASIO_WINDOWS_RUNTIME)
#error "AcceptedSocket knows only Asio's reactive (epoll) socket service"
#endif

class AcceptedSocket : public asio::ip::tcp::socket {
  using State = asio::detail::socket_ops::state_type;
  static constexpr State kNonBlocking = asio::detail::socket_ops::internal_non_blocking;
  static constexpr State kPossibleDup = asio::detail::socket_ops::possible_dup;
  static_assert(kNonBlocking == 2 && kPossibleDup == 64,
                "Asio's socket state bits moved: check AcceptedSocket against this Asio");

 public:
  explicit AcceptedSocket(asio::io_context& io) : asio::ip::tcp::socket(io) {}

  // Takes `fd`, from accept4(..., SOCK_NONBLOCK | SOCK_CLOEXEC) on a listener
  // of `protocol`, and registers it with the reactor (one EPOLL_CTL_ADD). On
  // failure (epoll full) the descriptor is closed and the error returned.
  std::error_code adopt(const asio::ip::tcp& protocol, int fd) {
    std::error_code ec;
    assign(protocol, fd, ec);
    if (ec) {
      ::close(fd);
      return ec;
    }
    state() |= kNonBlocking;  // no FIONBIO
    accepted();
    return ec;
  }

  // After async_accept filled this socket, before its first operation: the
  // descriptor came from accept() and nothing else holds it.
  void accepted() { state() &= static_cast<State>(~kPossibleDup); }

 private:
  State& state() { return impl_.get_implementation().state_; }
};

}  // namespace sockscope::servers
