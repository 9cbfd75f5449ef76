// Reference servers (nginx, Apache httpd) started by our code: the table, a
// real HTTP/1.1 keep-alive exchange with every one that is installed, its
// process tree in /proc, and the promise that nothing of it outlives stop().
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "compare/reference.h"
#include "observe/proc_sampler.h"
#include "support/wait.h"

using namespace sockscope;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using test::eventually;

const fs::path kRoot = SOCKSCOPE_ASSETS "/ftp-root";

std::string file_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// The processes whose parent is `pid`, by /proc.
std::set<pid_t> children_of(pid_t pid) {
  std::set<pid_t> out;
  for (const auto& p : observe::sample_subtree(pid).procs)
    if (p.ppid == pid) out.insert(p.pid);
  return out;
}

bool group_gone(pid_t pgid) { return kill(-pgid, 0) != 0 && errno == ESRCH; }
bool process_gone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// One HTTP/1.1 connection, read by hand: the status line, the headers, then
// a body sized by Content-Length or sent in chunks (directory listings are).
class HttpConnection {
 public:
  explicit HttpConnection(std::uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("connect");
  }
  ~HttpConnection() { close(fd_); }

  HttpReply get(const std::string& target) {
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: sockscope-test\r\n\r\n";
    if (send(fd_, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
      throw std::runtime_error("send");
    HttpReply reply;
    std::string status_line = line();
    if (status_line.rfind("HTTP/1.1 ", 0) != 0) throw std::runtime_error("bad status line: " + status_line);
    reply.status = std::stoi(status_line.substr(9, 3));
    for (std::string h = line(); !h.empty(); h = line()) {
      auto colon = h.find(':');
      if (colon == std::string::npos) continue;
      std::string name = h.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      std::string value = h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      reply.headers[name] = value;
    }
    if (reply.headers["transfer-encoding"] == "chunked") {
      for (;;) {
        std::size_t size = std::stoul(line(), nullptr, 16);
        if (size == 0) {
          while (!line().empty()) {}  // trailers
          break;
        }
        reply.body += take(size);
        take(2);  // CRLF after each chunk
      }
    } else if (reply.headers.count("content-length")) {
      reply.body = take(std::stoul(reply.headers["content-length"]));
    }
    return reply;
  }

 private:
  void fill() {
    char tmp[4096];
    ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) throw std::runtime_error("connection closed or timed out before the reply ended");
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
  std::string line() {
    std::size_t end;
    while ((end = buf_.find("\r\n")) == std::string::npos) fill();
    std::string out = buf_.substr(0, end);
    buf_.erase(0, end + 2);
    return out;
  }
  std::string take(std::size_t n) {
    while (buf_.size() < n) fill();
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }
  int fd_ = -1;
  std::string buf_;
};

std::string test_name(const testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

std::vector<std::string> all_names() {
  std::vector<std::string> out;
  for (const auto& r : compare::references()) out.emplace_back(r.name);
  return out;
}

}  // namespace

// ---- The table --------------------------------------------------------------

TEST(ReferenceTable, EveryRowIsComplete) {
  std::set<std::string_view> names;
  for (const compare::Reference& r : compare::references()) {
    SCOPED_TRACE(std::string(r.name));
    EXPECT_FALSE(r.name.empty());
    EXPECT_FALSE(r.summary.empty());
    EXPECT_FALSE(r.program.empty());
    EXPECT_FALSE(r.package.empty());
    EXPECT_TRUE(names.insert(r.name).second) << "duplicate name";
    // nginx rows name a worker count, Apache rows an MPM: exactly one of them.
    EXPECT_NE(r.workers > 0, !r.mpm.empty());
    EXPECT_EQ(compare::find_reference(r.name), &r);
    EXPECT_NE(compare::reference_names().find(r.name), std::string::npos);
  }
  EXPECT_EQ(compare::find_reference("nginx-3"), nullptr);
  EXPECT_EQ(compare::find_reference(""), nullptr);
  EXPECT_EQ(compare::reference_names(), "nginx-1, nginx-2, apache-prefork, apache-worker, apache-event");
}

TEST(ReferenceTable, ExitTexts) {
  EXPECT_EQ(compare::exit_info_from_wait_status(1 << 8).text, "exit 1");
  compare::ExitInfo killed = compare::exit_info_from_wait_status(SIGKILL);
  EXPECT_FALSE(killed.exited);
  EXPECT_EQ(killed.status, 9);
  EXPECT_EQ(killed.text, "killed by signal 9 (Killed)");
}

TEST(ReferenceTable, MissingRootIsRefusedWithAReason) {
  for (const compare::Reference& r : compare::references()) {
    if (!compare::unavailable_reason(r).empty()) continue;
    try {
      compare::ReferenceServer::start(r, kRoot / "no-such-directory");
      ADD_FAILURE() << r.name << " started without a root";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("no-such-directory"), std::string::npos) << e.what();
    }
    return;
  }
  GTEST_SKIP() << "no reference server is installed";
}

TEST(ReferenceTable, AServerThatDoesNotStartSaysWhyAndLeavesNothing) {
  const compare::Reference& nginx = *compare::find_reference("nginx-1");
  if (std::string why = compare::unavailable_reason(nginx); !why.empty()) GTEST_SKIP() << why;
  // A row the table would never hold: nginx refuses the config it makes.
  compare::Reference broken = nginx;
  broken.name = "nginx-broken";
  broken.workers = -1;
  // Our own $TMPDIR, to see that the attempt's directory is removed.
  fs::path tmp = fs::temp_directory_path() / ("reference_test-" + std::to_string(getpid()));
  fs::create_directories(tmp);
  const char* old_tmp = std::getenv("TMPDIR");
  std::string saved = old_tmp ? old_tmp : "";
  setenv("TMPDIR", tmp.c_str(), 1);
  try {
    compare::ReferenceServer::start(broken, kRoot);
    ADD_FAILURE() << "a broken config started";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("nginx-broken did not start: exit 1"), std::string::npos) << what;
    EXPECT_NE(what.find("worker_processes"), std::string::npos) << what;  // nginx's own words
  }
  if (old_tmp) setenv("TMPDIR", saved.c_str(), 1);
  else unsetenv("TMPDIR");
  EXPECT_TRUE(fs::is_empty(tmp));
  fs::remove_all(tmp);
}

// ---- Every reference, for real ----------------------------------------------

class ReferenceRun : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ref_ = compare::find_reference(GetParam());
    ASSERT_NE(ref_, nullptr);
    if (std::string why = compare::unavailable_reason(*ref_); !why.empty()) GTEST_SKIP() << why;
  }
  const compare::Reference* ref_ = nullptr;
};

TEST_P(ReferenceRun, ServesFilesOverKeepAliveAndLeavesNothing) {
  auto server = compare::ReferenceServer::start(*ref_, kRoot);
  const pid_t pid = server->pid();
  const fs::path dir = server->directory();
  ASSERT_GT(pid, 0);
  ASSERT_NE(server->port(), 0);
  EXPECT_EQ(&server->reference(), ref_);
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_FALSE(server->exited().has_value());
  // Its own process group, led by the master, which is our child.
  EXPECT_EQ(getpgid(pid), pid);
  observe::ProcInfo master;
  ASSERT_TRUE(observe::read_proc(pid, master));
  EXPECT_EQ(master.ppid, getpid());

  // Three requests on one connection: keep-alive holds.
  const std::string hello = file_text(kRoot / "hello.txt");
  ASSERT_FALSE(hello.empty());
  {
    HttpConnection conn(server->port());
    for (int i = 0; i < 2; ++i) {
      HttpReply r = conn.get("/hello.txt");
      EXPECT_EQ(r.status, 200);
      EXPECT_EQ(r.body, hello);
      EXPECT_NE(r.headers["connection"], "close");
    }
    HttpReply listing = conn.get("/");
    EXPECT_EQ(listing.status, 200);
    EXPECT_NE(listing.body.find("hello.txt"), std::string::npos) << listing.body;
  }

  // The tree in /proc: nginx has exactly its worker_processes; Apache has at
  // least one child serving.
  if (ref_->workers > 0) {
    EXPECT_TRUE(eventually([&] { return children_of(pid).size() == static_cast<std::size_t>(ref_->workers); }, 5s))
        << children_of(pid).size() << " children";
  } else {
    EXPECT_TRUE(eventually([&] { return !children_of(pid).empty(); }, 5s));
  }
  // As root, the workers drop to an unprivileged account (Apache with no
  // `User` keeps its children as root).
  if (geteuid() == 0) {
    for (pid_t child : children_of(pid)) {
      struct stat st{};
      if (stat(("/proc/" + std::to_string(child)).c_str(), &st) == 0) {
        EXPECT_NE(st.st_uid, 0u) << child;
      }
    }
  }

  compare::StopResult stopped = server->stop();
  EXPECT_TRUE(stopped.graceful) << stopped.exit.text;
  EXPECT_TRUE(stopped.usage_valid);
  EXPECT_TRUE(stopped.usage_complete);
  EXPECT_TRUE(stopped.exit.exited) << stopped.exit.text;
  EXPECT_TRUE(process_gone(pid));
  EXPECT_TRUE(group_gone(pid));
  // Idempotent, and exited() now tells how it ended.
  EXPECT_EQ(server->stop().exit.text, stopped.exit.text);
  ASSERT_TRUE(server->exited().has_value());
  EXPECT_EQ(server->exited()->text, stopped.exit.text);

  server.reset();
  EXPECT_FALSE(fs::exists(dir));
}

TEST_P(ReferenceRun, AMasterKilledBySignalIsReportedAndItsWorkersCleanedUp) {
  auto server = compare::ReferenceServer::start(*ref_, kRoot);
  const pid_t pid = server->pid();
  ASSERT_TRUE(eventually([&] { return !children_of(pid).empty(); }, 5s));
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return server->exited().has_value(); }, 5s));
  EXPECT_NE(server->exited()->text.find("signal 9"), std::string::npos) << server->exited()->text;
  // exited() only peeks: the master is still our zombie, waiting for stop().
  EXPECT_TRUE(server->exited().has_value());
  EXPECT_EQ(kill(pid, 0), 0);

  compare::StopResult stopped = server->stop();
  EXPECT_FALSE(stopped.graceful);
  EXPECT_FALSE(stopped.usage_complete);  // its workers died as orphans
  EXPECT_FALSE(stopped.exit.exited);
  EXPECT_EQ(stopped.exit.status, SIGKILL);
  EXPECT_TRUE(process_gone(pid));
  EXPECT_TRUE(group_gone(pid));  // the orphaned workers too
}

TEST_P(ReferenceRun, TheDestructorStopsARunningServer) {
  auto server = compare::ReferenceServer::start(*ref_, kRoot);
  const pid_t pid = server->pid();
  const fs::path dir = server->directory();
  server.reset();
  EXPECT_TRUE(process_gone(pid));
  EXPECT_TRUE(group_gone(pid));
  EXPECT_FALSE(fs::exists(dir));
}

INSTANTIATE_TEST_SUITE_P(Every, ReferenceRun, testing::ValuesIn(all_names()), test_name);
