// servers/exclusive_door.h: a hybrid worker's listener is in its epoll set
// with EPOLLEXCLUSIVE and Asio's own data, Asio still accepts through it, and
// in the real hybrid server a client wakes one worker, not both.
#include "servers/exclusive_door.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>

#include <asio.hpp>
#include <cerrno>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "epoll_fdinfo.h"
#include "server_harness.h"
#include "support/events.h"
#include "trace/ring.h"

namespace sockscope::servers {
namespace {

using namespace sockscope::test;

TEST(ExclusiveDoor, TheListenerIsFlaggedWithAsiosOwnDataAndStillAccepts) {
  asio::io_context io{1};
  asio::ip::tcp::acceptor acceptor{io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  const int fd = acceptor.native_handle();
  const auto before = epoll_registration(fd);
  ASSERT_TRUE(before) << "Asio registers the listener when it is opened";
  EXPECT_EQ(before->events & EPOLLEXCLUSIVE, 0u);
  EXPECT_NE(before->events & EPOLLPRI, 0u) << "Asio's own registration asks for EPOLLPRI";

  ASSERT_EQ(make_listener_exclusive(fd), 0);
  const auto after = epoll_registration(fd);
  ASSERT_TRUE(after);
  EXPECT_NE(after->events & EPOLLEXCLUSIVE, 0u);
  EXPECT_EQ(after->events & EPOLLPRI, 0u) << "the kernel refuses EPOLLPRI with EPOLLEXCLUSIVE";
  EXPECT_NE(after->events & EPOLLIN, 0u);
  EXPECT_NE(after->events & EPOLLET, 0u);
  EXPECT_EQ(after->data, before->data) << "Asio finds its state for the descriptor by this data";

  // Asio's reactor still hands the client over.
  asio::ip::tcp::socket client{io}, served{io};
  bool accepted = false;
  acceptor.async_accept(served, [&](const std::error_code& ec) { accepted = !ec; });
  client.connect(acceptor.local_endpoint());
  io.run_for(std::chrono::seconds(5));
  EXPECT_TRUE(accepted);

  // A descriptor no epoll set holds is an error, not a guess.
  EXPECT_EQ(make_listener_exclusive(client.native_handle() + 1000), ENOENT);
  acceptor.close();
  EXPECT_FALSE(epoll_registration(fd)) << "closing the acceptor removes the flagged registration";
}

// How often a process has gone to sleep and been woken (it blocked: in
// epoll_wait, for a worker with nothing to do).
long voluntary_switches(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0) return std::stol(line.substr(line.find(':') + 1));
  return -1;
}

// Twenty clients one after another against hybrid with two workers, both
// asleep in epoll_wait between clients. Each client wakes one of them: the
// kernel wakes the first exclusive waiter, so one worker serves (nearly)
// every client and the other sleeps through. Without the flag every client
// woke both: the idle worker found the queue empty (usually inside
// epoll_wait, which looks again before it returns) and slept again, once a
// client.
TEST(ExclusiveDoor, InTheHybridServerAClientWakesOneSleepingWorker) {
  auto ring = trace::TraceRing::create(1 << 14);
  ServerProcess s({"--arch", "hybrid", "--protocol", "http", "--workers", "2", "--port", "0"},
                  {"SOCKSCOPE_TRACE_FD=" + std::to_string(ring.fd())});
  std::vector<pid_t> workers;
  ASSERT_TRUE(wait_until([&] {
    workers.clear();
    for (const auto& p : children_of(s.pid())) workers.push_back(p.pid);
    return workers.size() == 2;
  }));
  // Both loops running (a first client, served by either) before counting.
  {
    RawClient c(s.port());
    ASSERT_TRUE(c.send_all("GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    c.read_for(5000);
    ASSERT_TRUE(c.closed_by_server());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::map<pid_t, long> before;
  for (pid_t w : workers) before[w] = voluntary_switches(w);
  constexpr int kClients = 20;
  for (int i = 0; i < kClients; ++i) {
    RawClient c(s.port());
    ASSERT_TRUE(c.send_all("GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    const std::string got = c.read_for(5000);
    ASSERT_TRUE(c.closed_by_server()) << "client " << i;
    ASSERT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
    // The worker back asleep before the next client comes.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::map<pid_t, long> woke;
  for (pid_t w : workers) woke[w] = voluntary_switches(w) - before[w];
  ASSERT_EQ(s.stop(), 0);
  int accepts = 0, errors = 0;
  for (const auto& e : drain(ring)) {
    if (e.kind == trace::Kind::accept) ++accepts;
    if (e.kind == trace::Kind::error) ++errors;
  }
  EXPECT_EQ(accepts, kClients + 1);
  EXPECT_EQ(errors, 0) << "an error event (EPOLLEXCLUSIVE refused?)";
  const long least = std::min(woke[workers[0]], woke[workers[1]]);
  EXPECT_LT(least, kClients / 2) << "both workers woke for the clients: " << woke[workers[0]] << " and "
                                 << woke[workers[1]] << " sleeps";
}

}  // namespace
}  // namespace sockscope::servers
