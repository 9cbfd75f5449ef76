// The architecture table's suite (every_architecture_test.cpp), sections 6
// and 7: the limits every row must meet. A slowloris meets the request
// deadline; a server out of descriptors still answers every new client.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "every_architecture.h"
#include "servers/server_harness.h"

namespace sockscope::test {
namespace {

using namespace std::chrono_literals;

// ---- 6. The request deadline -----------------------------------------------------

// Issue 17: a slowloris stalled serial, fork, prefork and pool for ever,
// because the idle timeout restarts on every byte. The request deadline does
// not: with request_timeout=2 the client is answered (FTP 421, HTTP 408) and
// closed about 2 s after its first byte, however many bytes it trickled, and
// the client that connected behind it (the serial server's backlog) is served.
TEST_P(EveryArchitecture, ARequestDeadlineEndsASlowlorisAndTheServerServesOn) {
  using Clock = std::chrono::steady_clock;
  for (const std::string proto : {"ftp", "http"}) {
    SCOPED_TRACE(proto);
    const bool ftp = proto == "ftp";
    std::vector<std::string> a = args(proto);
    a.insert(a.end(), {"--request-timeout", "2"});
    ServerProcess s(a);
    RawClient slow(s.port());
    if (ftp) {
      ASSERT_TRUE(slow.reply().value_or("").starts_with("220"));
    }
    RawClient behind(s.port());  // one at a time: waits in the backlog until the slowloris is gone
    const std::string never_ends = ftp ? "USER anonymous-who-never-finishes-this-line"
                                       : "GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Slow: never-ends";
    const auto first_byte = Clock::now();
    std::string got;
    // One byte every 300 ms: about 40 bytes, 12 s, if nothing stops it.
    for (std::size_t i = 0; i < never_ends.size() && !slow.closed_by_server(); ++i) {
      if (Clock::now() - first_byte > 10s) break;
      if (!slow.send_all(never_ends.substr(i, 1))) break;  // reset: the read below sees the close
      got += slow.read_for(300);
    }
    got += slow.read_for(200);
    const auto took = Clock::now() - first_byte;
    EXPECT_TRUE(slow.closed_by_server()) << "still open after " << never_ends.size() << " bytes; got '" << got << "'";
    EXPECT_TRUE(got.starts_with(ftp ? "421 " : "HTTP/1.1 408 Request Timeout\r\n")) << got;
    EXPECT_GE(took, 1500ms) << "the deadline is 2 s from the first byte";
    EXPECT_LE(took, 6s) << "more bytes must not extend the deadline";
    slow.close_now();

    // The one behind it is served now.
    if (ftp) {
      auto greeting = behind.reply(6000);
      ASSERT_TRUE(greeting.has_value()) << "the client behind the slowloris was never greeted";
      EXPECT_TRUE(greeting->starts_with("220")) << *greeting;
      EXPECT_EQ(behind.command("USER anonymous"), 331);
      EXPECT_EQ(behind.command("QUIT"), 221);
    } else {
      ASSERT_TRUE(behind.send_all("GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
      const std::string reply = behind.read_for(6000);
      EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 OK\r\n")) << reply;
      EXPECT_TRUE(reply.ends_with(read_file(assets_root() / "hello.txt"))) << reply;
    }
    EXPECT_EQ(s.stop(), 0) << "a clean SIGTERM shutdown";
  }
}

// ---- 7. Out of descriptors -------------------------------------------------------

// The lowest descriptor number `pid` has free: with its soft RLIMIT_NOFILE set
// there, its next open(), socket() or accept() fails with EMFILE.
int lowest_free_descriptor(pid_t pid) {
  std::set<int> used;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
    used.insert(std::stoi(e.path().filename()));
  int n = 0;
  while (used.count(n)) ++n;
  return n;
}

// The highest descriptor of `pid` that is a socket: a one-at-a-time server's
// connection (its listener is older, so lower).
int newest_socket(pid_t pid) {
  int newest = -1;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::error_code ec;
    if (fs::read_symlink(e.path(), ec).string().starts_with("socket:"))
      newest = std::max(newest, std::stoi(e.path().filename()));
  }
  return newest;
}

// Issue 16: at 10,000 connections the event loop ran out of descriptors and
// new clients hung in the backlog, neither served nor refused. Every process
// of the server's tree is held at its descriptor limit (prlimit, as `ulimit
// -n` would): a client connected before keeps working, and a new one hears
// FTP 421 within a second (for a row that serves one at a time: a second
// after the first client leaves), and the event log says why.
TEST_P(EveryArchitecture, OutOfDescriptorsANewClientIsRefusedAndTheOthersGoOn) {
  ServerProcess s(args("ftp"));
  settle(s);
  {
    // One whole client first. Under UBSan a polymorphic call's first check
    // probes memory through a pipe, which a process at its descriptor limit
    // cannot make; the checks are cached after that. (The server's own code
    // needs no descriptor for what follows.)
    RawClient warm(s.port());
    ASSERT_TRUE(warm.login());
    EXPECT_EQ(warm.command("QUIT"), 221);
    warm.close_now();
    std::this_thread::sleep_for(200ms);
  }
  RawClient first(s.port());
  ASSERT_TRUE(first.login());
  // Wait until the tree is what serving `first` makes it (its child or thread).
  std::this_thread::sleep_for(200ms);
  std::vector<pid_t> tree{s.pid()};
  for (const auto& k : children_of(s.pid())) tree.push_back(k.pid);
  std::vector<rlimit> was(tree.size());
  for (std::size_t i = 0; i < tree.size(); ++i) {
    const pid_t pid = tree[i];
    // A row that serves one at a time closes `first` before it accepts again,
    // which frees a descriptor: its limit leaves out `first`'s.
    const rlim_t at = static_cast<rlim_t>(one_at_a_time() ? newest_socket(pid) : lowest_free_descriptor(pid));
    ASSERT_EQ(prlimit(pid, RLIMIT_NOFILE, nullptr, &was[i]), 0);
    rlimit low{at, was[i].rlim_max};
    ASSERT_EQ(prlimit(pid, RLIMIT_NOFILE, &low, nullptr), 0) << "pid " << pid;
  }
  RawClient late(s.port());
  EXPECT_EQ(first.command("PWD"), 257) << "the client served before goes on";
  if (one_at_a_time()) {
    EXPECT_EQ(first.command("QUIT"), 221);
    first.close_now();  // as a client does after 221: the server stops lingering on it
  }
  auto reply = late.reply(1000);
  ASSERT_TRUE(reply.has_value()) << "a client of a server out of descriptors heard nothing within 1 s";
  EXPECT_TRUE(reply->starts_with("421 ")) << *reply;
  EXPECT_TRUE(late.sees_close(1000));
  // Again: the spare descriptor was taken back, and is there for the next one.
  RawClient again(s.port());
  auto second = again.reply(1000);
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(second->starts_with("421 ")) << *second;
  if (!one_at_a_time()) {
    EXPECT_EQ(first.command("QUIT"), 221);
    first.close_now();
  }
  // The limits as they were, so the shutdown (and, under ASan, the leak check
  // at exit, which opens /proc files) has its descriptors.
  for (std::size_t i = 0; i < tree.size(); ++i) prlimit(tree[i], RLIMIT_NOFILE, &was[i], nullptr);
  EXPECT_EQ(s.stop(), 0) << "a clean SIGTERM shutdown";
}

}  // namespace
}  // namespace sockscope::test
