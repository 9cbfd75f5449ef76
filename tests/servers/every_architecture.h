// The one parameterised suite over the architecture table (see
// every_architecture_test.cpp): its fixture and the helpers its files share.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "servers/architecture.h"
#include "servers/server_harness.h"

namespace sockscope::test {

inline const std::string kTimeout = "timeout 20 ";

inline std::string url(const ServerProcess& s, const std::string& scheme, const std::string& path) {
  return scheme + "://127.0.0.1:" + std::to_string(s.port()) + path;
}

// A normal client after any abuse: the server must still serve.
inline void expect_still_serving(const ServerProcess& s) {
  auto r = run_command(kTimeout + "curl -s " + url(s, "ftp", "/hello.txt"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, read_file(assets_root() / "hello.txt"));
}

inline int thread_count(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/task", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  return n;
}

// What /proc must show for a row whose processes and threads do not depend
// on its clients.
struct Shape {
  std::size_t children = 0;
  int threads = 1;  // per process
};

inline ::testing::AssertionResult has_shape(pid_t server, const Shape& want) {
  auto kids = children_of(server);
  if (kids.size() != want.children) return ::testing::AssertionFailure() << kids.size() << " children, want " << want.children;
  if (thread_count(server) != want.threads)
    return ::testing::AssertionFailure() << "server has " << thread_count(server) << " threads";
  for (const auto& k : kids)
    if (thread_count(k.pid) != want.threads)
      return ::testing::AssertionFailure() << "worker " << k.pid << " has " << thread_count(k.pid) << " threads";
  return ::testing::AssertionSuccess();
}

class EveryArchitecture : public ::testing::TestWithParam<std::string> {
 protected:
  const servers::Architecture& arch() const {
    const servers::Architecture* a = servers::find_architecture(GetParam());
    if (a == nullptr) throw std::runtime_error("not in the table: " + GetParam());
    return *a;
  }
  std::vector<std::string> args(const std::string& protocol = "ftp") const {
    return {"--arch", GetParam(), "--port", "0", "--protocol", protocol};
  }
  // No traits: accept, serve, close, one connection at a time.
  bool one_at_a_time() const { return arch().traits == 0; }
  std::optional<Shape> shape() const {
    using namespace servers;
    const Architecture& a = arch();
    if (a.has(kEventLoop) && !a.has(kPrestartedWorkers)) return Shape{0, 1};
    if (a.has(kPrestartedWorkers) && !a.has(kThreads))
      return Shape{static_cast<std::size_t>(setting(SettingId::workers).def), 1};
    return std::nullopt;  // a process or thread per client, or a pool's threads
  }
  // Workers are forked before the banner is printed but may still be
  // starting: wait for the whole set.
  void settle(const ServerProcess& s) const {
    if (auto want = shape()) ASSERT_TRUE(wait_until([&] { return children_of(s.pid()).size() == want->children; }));
  }
  void expect_shape(const ServerProcess& s) const {
    if (auto want = shape()) EXPECT_TRUE(has_shape(s.pid(), *want));
  }
};

}  // namespace sockscope::test
