// The architecture table's suite (every_architecture_test.cpp), section 8:
// how every row closes a connection. When the client has nothing in flight
// (a Connection: close request, a QUIT) the server closes its socket at once;
// when the client is still sending, the server lingers, reading and dropping
// what comes, so that its last reply is not destroyed by a reset.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "every_architecture.h"
#include "servers/server_harness.h"

namespace sockscope::test {
namespace {

using namespace std::chrono_literals;

// Whether the server's end of `c` is closed for good: bytes sent to a closed
// socket are answered with a reset, which fails the next send (EPIPE or
// ECONNRESET). A lingering server reads and drops them instead.
bool server_socket_gone(RawClient& c) {
  if (::send(c.fd(), "x", 1, MSG_NOSIGNAL) != 1) return true;
  // The reset comes back over loopback at once; give a loaded machine time.
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(25ms);
    if (::send(c.fd(), "x", 1, MSG_NOSIGNAL) < 0) return errno == EPIPE || errno == ECONNRESET;
  }
  return false;
}

const std::string kCloseRequest = "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

TEST_P(EveryArchitecture, NothingInFlightClosesAtOnceAndAClientStillSendingGetsItsReply) {
  const std::string hello = read_file(assets_root() / "hello.txt");
  {
    SCOPED_TRACE("http, Connection: close");
    ServerProcess s(args("http"));
    RawClient c(s.port());
    ASSERT_TRUE(c.send_all(kCloseRequest));
    const std::string got = c.read_for(5000);
    ASSERT_TRUE(c.closed_by_server()) << got;
    EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
    EXPECT_TRUE(got.ends_with(hello)) << got;
    EXPECT_TRUE(server_socket_gone(c)) << "the server lingered with nothing in flight";
  }
  {
    SCOPED_TRACE("ftp, QUIT");
    ServerProcess s(args("ftp"));
    RawClient c(s.port());
    ASSERT_TRUE(c.reply().value_or("").starts_with("220"));
    EXPECT_EQ(c.command("QUIT"), 221);
    EXPECT_TRUE(c.sees_close());
    EXPECT_TRUE(server_socket_gone(c)) << "the server lingered with nothing in flight";
  }
  {
    // A second request right behind the one that asked to close: the server
    // must not answer it, and must not reset the connection over it either.
    SCOPED_TRACE("http, a request in flight behind Connection: close");
    ServerProcess s(args("http"));
    RawClient c(s.port());
    ASSERT_TRUE(c.send_all(kCloseRequest + "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string got = c.read_for(5000);
    ASSERT_TRUE(c.closed_by_server()) << got;
    EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
    EXPECT_TRUE(got.ends_with(hello)) << "one whole reply and nothing after it: " << got;
    EXPECT_FALSE(server_socket_gone(c)) << "with bytes in flight the server lingers";
  }
}

}  // namespace
}  // namespace sockscope::test
