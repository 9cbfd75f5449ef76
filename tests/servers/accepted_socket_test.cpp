// servers/accepted_socket.h: what the event loop tells Asio about a socket it
// accepted (non-blocking already, no twin) holds, and the socket works.
#include "servers/accepted_socket.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio.hpp>
#include <string>

#include "epoll_fdinfo.h"

namespace sockscope::servers {
namespace {

using test::epoll_registrations;

struct Loopback {
  asio::io_context io{1};
  asio::ip::tcp::acceptor acceptor{io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  asio::ip::tcp::socket client{io};

  Loopback() { acceptor.non_blocking(true); }
  void connect() { client.connect(acceptor.local_endpoint()); }
  int accept4_once() {
    int fd = -1;
    for (int i = 0; i < 200 && fd < 0; ++i) {
      fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) ::usleep(5000);
    }
    return fd;
  }
};

// Reads what the client wrote through the accepted socket, with Asio, and
// answers; the client reads the answer.
void round_trip(Loopback& l, asio::ip::tcp::socket& server_side) {
  asio::write(l.client, asio::buffer(std::string("ping")));
  std::array<char, 16> buf{};
  std::size_t got = 0;
  server_side.async_read_some(asio::buffer(buf), [&](const std::error_code& ec, std::size_t n) {
    ASSERT_FALSE(ec) << ec.message();
    got = n;
  });
  l.io.restart();
  l.io.run_for(std::chrono::seconds(5));
  ASSERT_EQ(std::string(buf.data(), got), "ping");
  asio::write(server_side, asio::buffer(std::string("pong")));
  std::array<char, 4> back{};
  asio::read(l.client, asio::buffer(back));
  EXPECT_EQ(std::string(back.data(), back.size()), "pong");
}

TEST(AcceptedSocket, AnAdoptedAccept4SocketIsServedAndLeavesEpollWhenClosed) {
  Loopback l;
  l.connect();
  const int fd = l.accept4_once();
  ASSERT_GE(fd, 0);
  AcceptedSocket s(l.io);
  ASSERT_FALSE(s.adopt(asio::ip::tcp::v4(), fd));
  EXPECT_TRUE(::fcntl(fd, F_GETFL) & O_NONBLOCK) << "accept4(SOCK_NONBLOCK)";
  EXPECT_TRUE(s.native_non_blocking()) << "Asio knows it: no ioctl(FIONBIO) at the first operation";
  EXPECT_EQ(epoll_registrations().count(fd), 1u) << "registered with the reactor";
  asio::ip::tcp::socket socket = std::move(s);  // as the event loop hands it on
  round_trip(l, socket);
  socket.close();
  EXPECT_EQ(epoll_registrations().count(fd), 0u) << "closed: no longer registered (that no EPOLL_CTL_DEL was "
                                                    "made is TheMarkIsWhatSparesTheEpollCtlDel's to show)";

  // The same descriptor number for the next client is served too.
  asio::ip::tcp::socket second_client(l.io);
  std::swap(l.client, second_client);
  l.connect();
  const int fd2 = l.accept4_once();
  ASSERT_GE(fd2, 0);
  AcceptedSocket s2(l.io);
  ASSERT_FALSE(s2.adopt(asio::ip::tcp::v4(), fd2));
  round_trip(l, s2);
}

TEST(AcceptedSocket, AfterAsioAcceptTheSocketIsServedAndLeavesEpollWhenClosed) {
  Loopback l;
  AcceptedSocket s(l.io);
  bool accepted = false;
  l.acceptor.async_accept(s, [&](const std::error_code& ec) {
    ASSERT_FALSE(ec) << ec.message();
    accepted = true;
  });
  l.connect();
  l.io.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(accepted);
  s.accepted();
  const int fd = s.native_handle();
  EXPECT_EQ(epoll_registrations().count(fd), 1u);
  round_trip(l, s);
  s.close();
  EXPECT_EQ(epoll_registrations().count(fd), 0u);
}

// Why Asio is careful, and proof that it was told: with a dup()-ed twin open,
// close() leaves the registration behind (the twin keeps the socket alive),
// so Asio removes a "possibly dup()-ed" socket from epoll itself first. A
// socket marked as accepted is not removed: no EPOLL_CTL_DEL is made.
TEST(AcceptedSocket, TheMarkIsWhatSparesTheEpollCtlDel) {
  Loopback l;
  l.connect();
  const int fd = l.accept4_once();
  ASSERT_GE(fd, 0);
  const int fd_plain = ::dup(fd);  // the same client, a second descriptor
  AcceptedSocket marked(l.io);
  ASSERT_FALSE(marked.adopt(asio::ip::tcp::v4(), fd));
  asio::ip::tcp::socket plain(l.io, asio::ip::tcp::v4(), fd_plain);  // Asio's own assign: possibly a twin

  const int twin_of_marked = ::dup(fd);
  const int twin_of_plain = ::dup(fd_plain);
  marked.close();
  plain.close();
  const auto left = epoll_registrations();
  EXPECT_EQ(left.count(fd), 1u) << "marked: close() alone, no EPOLL_CTL_DEL (the twin keeps it registered)";
  EXPECT_EQ(left.count(fd_plain), 0u) << "plain: Asio made an EPOLL_CTL_DEL before close()";
  ::close(twin_of_marked);
  ::close(twin_of_plain);
  EXPECT_EQ(epoll_registrations().count(fd), 0u) << "the last descriptor closed ends the registration";
}

TEST(AcceptedSocket, ADescriptorTheReactorRefusesIsAnErrorNotASocket) {
  Loopback l;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  ::close(fds[1]);
  AcceptedSocket s(l.io);
  const std::error_code ec = s.adopt(asio::ip::tcp::v4(), fds[0]);
  EXPECT_TRUE(ec) << "epoll_ctl refuses a closed descriptor";
  EXPECT_FALSE(s.is_open());
}

}  // namespace
}  // namespace sockscope::servers
