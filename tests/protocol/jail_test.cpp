// The jail: paths never climb above the root, escapes are refused on both
// resolvers, ls lines, and one root descriptor shared by every session.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "protocol/jail.h"
#include "protocol/protocol.h"
#include "protocol_fixtures.h"

using namespace sockscope::protocol;
using namespace sockscope::protocol::testing_fixture;

TEST(Jail, ResolveNeverClimbsAboveRoot) {
  EXPECT_EQ(Jail::resolve("/", ""), "/");
  EXPECT_EQ(Jail::resolve("/", ".."), "/");
  EXPECT_EQ(Jail::resolve("/a/b", "../../../../etc"), "/etc");
  EXPECT_EQ(Jail::resolve("/a/b", "/etc/passwd"), "/etc/passwd");
  EXPECT_EQ(Jail::resolve("/a", "./b//c/./"), "/a/b/c");
  EXPECT_EQ(Jail::resolve("/a", "b/../../.."), "/");
  EXPECT_EQ(Jail::resolve("/", "my dir/x y.txt"), "/my dir/x y.txt");
  EXPECT_EQ(Jail::resolve("/", "/../../etc/passwd"), "/etc/passwd");
}

TEST(Jail, MissingRootThrows) {
  EXPECT_THROW(Jail("/nonexistent/sockscope/root"), std::system_error);
  SessionConfig c;
  c.root = "/nonexistent/sockscope/root";
  EXPECT_THROW(make_session(Protocol::ftp, c), std::system_error);
}

class JailResolvers : public ::testing::TestWithParam<Jail::Resolver> {};

TEST_P(JailResolvers, RefusesEscapesServesInside) {
  TempJail t;
  Jail j(t.root, GetParam());
  std::string out;
  EXPECT_EQ(j.read_file("/hello.txt", 0, 1 << 20, out), JailError::none);
  EXPECT_EQ(out, "hello, world\n");
  EXPECT_EQ(j.read_file("/inner.txt", 0, 1 << 20, out), JailError::none);
  EXPECT_EQ(out, "hello, world\n");
  for (const char* p : {"/escape_file", "/abs_passwd", "/sub/up_escape", "/escape_dir/secret.txt", "/missing"}) {
    EXPECT_NE(j.read_file(p, 0, 1 << 20, out), JailError::none) << p;
    EXPECT_EQ(out.find("SECRET"), std::string::npos) << p;
    EXPECT_FALSE(j.stat(p)) << p;
  }
  EXPECT_FALSE(j.is_dir("/escape_dir"));
  EXPECT_TRUE(j.is_dir("/sub"));
  EXPECT_TRUE(j.is_dir("/"));
  // Directories and FIFOs are not regular files; the FIFO must not block.
  EXPECT_EQ(j.read_file("/sub", 0, 1 << 20, out), JailError::not_regular);
  EXPECT_NE(j.read_file("/fifo", 0, 1 << 20, out), JailError::none);
  EXPECT_FALSE(j.stat("/fifo"));
  EXPECT_EQ(j.read_file("/hello.txt", 0, 5, out), JailError::too_large);
  EXPECT_EQ(j.read_file("/hello.txt", 7, 1 << 20, out), JailError::none);
  EXPECT_EQ(out, "world\n");
  EXPECT_EQ(j.read_file("/hello.txt", 1000, 1 << 20, out), JailError::none);
  EXPECT_EQ(out, "");

  auto entries = j.list("/");
  ASSERT_TRUE(entries);
  std::vector<std::string> names;
  for (const auto& e : *entries) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"data.bin", "hello.txt", "inner.txt", "my dir", "old.txt", "sub"}));
  EXPECT_FALSE(j.list("/escape_dir"));
  EXPECT_FALSE(j.list("/hello.txt"));
}

INSTANTIATE_TEST_SUITE_P(Both, JailResolvers, ::testing::Values(Jail::Resolver::openat2, Jail::Resolver::realpath));

TEST(Jail, LsLineFormat) {
  JailEntry e{"hello.txt", false, 28, 0, 0644, 1};
  // 2024-11-22 13:38:00 UTC, listed "now" a day later: time of day.
  e.mtime = 1732282680;
  std::string recent = Jail::ls_line(e, e.mtime + 86400);
  EXPECT_TRUE(std::regex_match(recent, std::regex(R"(-rw-r--r-- +1 ftp +ftp +28 Nov 22 13:38 hello\.txt)"))) << recent;
  // A year later: the year replaces the time.
  std::string old = Jail::ls_line(e, e.mtime + 365LL * 86400);
  EXPECT_TRUE(std::regex_match(old, std::regex(R"(-rw-r--r-- +1 ftp +ftp +28 Nov 22 +2024 hello\.txt)"))) << old;
  JailEntry dir{"pub", true, 4096, 1732282680, 0755, 2};
  std::string d = Jail::ls_line(dir, dir.mtime);
  EXPECT_TRUE(std::regex_match(d, std::regex(R"(drwxr-xr-x +2 ftp +ftp +4096 Nov 22 13:38 pub)"))) << d;
  e.mtime = 1577836800 + 5 * 86400;  // 2020-01-06
  EXPECT_NE(Jail::ls_line(e, e.mtime + 400 * 86400LL).find("Jan  6  2020"), std::string::npos);
  EXPECT_EQ(Jail::mdtm(1732282680), "20241122133800");
}

namespace {

int open_descriptors() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

}  // namespace

// 10,000 idle connections must fit in 10,000 descriptors: every session of a
// process reads its root through one shared descriptor, closed with the last.
TEST(Jail, EverySessionOfAProcessSharesOneRootDescriptor) {
  TempJail t;
  const int before = open_descriptors();
  std::vector<std::unique_ptr<Session>> sessions;
  for (int i = 0; i < 200; ++i) sessions.push_back(make_session(i % 2 ? Protocol::ftp : Protocol::http, t.config()));
  EXPECT_EQ(open_descriptors(), before + 1);
  // Each still reads its files and refuses the escapes.
  Jail a(t.root), b(t.root);
  std::string out;
  EXPECT_EQ(a.read_file("/hello.txt", 0, 1 << 20, out), JailError::none);
  EXPECT_EQ(out, "hello, world\n");
  EXPECT_NE(b.read_file("/escape_file", 0, 1 << 20, out), JailError::none);
  sessions.clear();
  EXPECT_EQ(open_descriptors(), before + 1);  // kept for the next session
}

TEST(Jail, ARemovedRootIsOpenedAfresh) {
  TempJail t;
  { Jail j(t.root); }
  const int before = open_descriptors();
  { Jail j(t.root); }
  EXPECT_EQ(open_descriptors(), before) << "the root stays open for the process, once";
  // Removed and made again: the new directory is served, not the old one.
  fs::remove_all(t.root);
  fs::create_directories(t.root);
  write_file(t.root / "new.txt", "new\n");
  Jail j(t.root);
  std::string out;
  EXPECT_EQ(j.read_file("/new.txt", 0, 1 << 20, out), JailError::none);
  EXPECT_EQ(out, "new\n");
}
