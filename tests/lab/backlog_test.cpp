// Prefork, truthfully: a real `sockscope serve --arch prefork --workers 2`
// started through a Lab, five idle FTP clients held open with plain sockets.
// Each worker takes one client and serves it (a blocking worker serves one
// connection at a time); the other three wait in the listening socket's
// accept backlog, where only the kernel can count them. The master never
// accepts: no accept event of its own, no "accepting" span on its lane.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lab/lab.h"
#include "lab_steps.h"
#include "observe/proc_sampler.h"
#include "session/threads_fold.h"
#include "session/timeline.h"
#include "trace/ring.h"

using namespace sockscope;
using namespace std::chrono_literals;

namespace {

using test::eventually;


// Client sockets, closed on scope exit whatever happens.
struct HeldClients {
  std::vector<int> fds;
  ~HeldClients() { close_all(); }
  void close_all() {
    for (int fd : fds) ::close(fd);
    fds.clear();
  }
};

int connect_loopback(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True when `fd` has bytes to read now (an FTP greeting), without blocking.
bool greeted(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) != 1) return false;
  char buf[4];
  return ::recv(fd, buf, sizeof buf, MSG_PEEK) >= 3 && std::string(buf, 3) == "220";
}

// The kernel's count of connections waiting for accept() on the listener of
// 127.0.0.1:port, read straight from /proc/net/tcp (rx_queue of the LISTEN
// row), independently of the sampler's parser.
std::optional<std::uint32_t> kernel_backlog(std::uint16_t port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    unsigned local_port = 0, st = 0, tx = 0, rx = 0;
    if (std::sscanf(line.c_str(), " %*d: %*x:%x %*x:%*x %x %x:%x", &local_port, &st, &tx, &rx) == 4 &&
        local_port == port && st == 0x0A)
      return rx;
  }
  return std::nullopt;
}

// The listener's backlog limit as `ss -lt` reports it (Send-Q), when ss is there.
std::optional<std::uint32_t> ss_backlog_limit(std::uint16_t port) {
  std::string cmd = "ss -Hltn 'sport = :" + std::to_string(port) + "' 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return std::nullopt;
  char buf[512];
  std::string out;
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  std::istringstream ss(out);
  std::string state;
  std::uint32_t recv_q = 0, send_q = 0;
  if (ss >> state >> recv_q >> send_q && state == "LISTEN") return send_q;
  return std::nullopt;
}

session::BacklogView model_backlog(lab::Lab& lab) {
  return lab.session().read([](const session::Session& s) { return s.model().backlog; });
}

// The master never accepted: no accept event of its own (its workers made
// `accepts`), no accepting span on its timeline lane but a supervising one,
// the threads view has it supervising, and each worker that accepted has
// accepting spans.
void expect_master_supervises(const session::Session& s, pid_t master, int accepts) {
  int master_accepts = 0, worker_accepts = 0;
  for (const auto& e : s.events()) {
    if (e.kind != trace::Kind::accept) continue;
    (static_cast<pid_t>(e.pid) == master ? master_accepts : worker_accepts)++;
  }
  EXPECT_EQ(master_accepts, 0);
  EXPECT_EQ(worker_accepts, accepts);

  session::TimelineIndex t;
  t.update(s);
  const int lane = t.find_lane(master, static_cast<std::uint32_t>(master));
  ASSERT_GE(lane, 0);
  int supervising = 0;
  for (const auto& span : t.lanes()[static_cast<std::size_t>(lane)].rows[0]) {
    EXPECT_NE(span.kind, session::SpanKind::accepting) << "at " << span.begin_ns;
    if (span.kind == session::SpanKind::supervising) ++supervising;
  }
  EXPECT_GE(supervising, 1);
  std::set<pid_t> acceptors;
  for (const auto& e : s.events())
    if (e.kind == trace::Kind::accept) acceptors.insert(static_cast<pid_t>(e.pid));
  for (pid_t w : acceptors) {
    const int wl = t.find_lane(w, static_cast<std::uint32_t>(w));
    ASSERT_GE(wl, 0);
    bool accepting = false;
    for (const auto& span : t.lanes()[static_cast<std::size_t>(wl)].rows[0])
      accepting = accepting || span.kind == session::SpanKind::accepting;
    EXPECT_TRUE(accepting) << "worker " << w;
  }

  session::ThreadsModel threads = session::fold_threads(s);
  const session::ThreadLane* main = threads.find_thread(master);
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(main->activity, session::ThreadActivity::supervising);
}

}  // namespace

TEST(PreforkBacklog, MasterNeverAcceptsAndTheWaitingClientsAreTheKernels) {
  lab::Lab lab(test::lab_options());
  lab::ServerSpec spec;
  spec.arch = "prefork";
  spec.settings.set(servers::SettingId::workers, 2);
  const std::uint16_t port = lab.start_server(spec);
  ASSERT_GT(port, 0);
  const pid_t master = lab.server_pid();

  // Both workers up (each emitted worker_start) before the clients come.
  ASSERT_TRUE(eventually([&] {
    return lab.session().read([&](const session::Session& s) {
      int workers = 0;
      for (const auto& e : s.events())
        if (e.kind == trace::Kind::worker_start && static_cast<pid_t>(e.pid) != master) ++workers;
      return workers == 2;
    });
  }));

  HeldClients clients;
  for (int i = 0; i < 5; ++i) {
    int fd = connect_loopback(port);
    ASSERT_GE(fd, 0) << "connect " << i << ": " << std::strerror(errno);
    clients.fds.push_back(fd);
  }
  // Two greetings (one per worker), and the kernel holding the other three.
  auto greetings = [&] {
    int n = 0;
    for (int fd : clients.fds) n += greeted(fd) ? 1 : 0;
    return n;
  };
  ASSERT_TRUE(eventually([&] { return greetings() == 2 && kernel_backlog(port) == 3u; }))
      << "greetings " << greetings() << ", kernel backlog " << kernel_backlog(port).value_or(999);
  const std::uint64_t kernel_said_3 = trace::now_ns();

  // The session's sample taken after that instant says the same (nothing
  // moves: the workers are busy and the clients are silent).
  ASSERT_TRUE(eventually([&] { return model_backlog(lab).sampled_ns > kernel_said_3; }, 5s));
  const session::BacklogView b = model_backlog(lab);
  EXPECT_EQ(kernel_backlog(port), 3u) << "still 3 after the sample";
  EXPECT_EQ(b.depth, 3u);
  EXPECT_EQ(b.owner, master) << "the master's own copy of the listener";
  EXPECT_EQ(b.port, port);
  EXPECT_GT(b.limit, 0u);
  if (auto limit = ss_backlog_limit(port)) {
    EXPECT_EQ(b.limit, *limit) << "ss -lt's Send-Q";
  }
  EXPECT_EQ(greetings(), 2) << "nobody took a third client meanwhile";

  lab.session().read([&](const session::Session& s) {
    const session::Model& m = s.model();
    EXPECT_EQ(m.counts.connections_accepted, 2u);
    const session::ProcessView* mp = m.find_process(master);
    ASSERT_NE(mp, nullptr);
    EXPECT_EQ(mp->role, session::ProcessRole::listener);
    EXPECT_TRUE(mp->socket_copies) << "every worker holds a copy of its listener";
    int workers = 0;
    for (const session::ProcessView* w : m.children_of(master)) {
      if (!w->alive()) continue;
      ++workers;
      EXPECT_EQ(w->role, session::ProcessRole::worker);
      bool listener = false, serving = false;
      for (const auto& sock : w->sockets) {
        if (sock.state == observe::TcpState::listen && sock.inode == b.inode) listener = sock.copy();
        if (sock.state == observe::TcpState::established && sock.local_port == port) serving = !sock.copy();
      }
      EXPECT_TRUE(listener) << "worker " << w->pid << " holds the listener, shared";
      EXPECT_TRUE(serving) << "worker " << w->pid << " holds its own client's socket";
    }
    EXPECT_EQ(workers, 2);
  });

  // Every client hangs up: each worker's session ends, and the workers
  // accept the waiting ones from the backlog (hung up too) until none is left.
  clients.close_all();
  ASSERT_TRUE(eventually([&] { return kernel_backlog(port) == 0u; }));
  EXPECT_TRUE(eventually([&] {
    return lab.session().read([](const session::Session& s) { return s.model().counts.connections_accepted; }) == 5u;
  }));
  const std::uint64_t kernel_said_0 = trace::now_ns();
  ASSERT_TRUE(eventually([&] { return model_backlog(lab).sampled_ns > kernel_said_0; }, 5s));
  EXPECT_EQ(model_backlog(lab).depth, 0u);

  lab.session().read([&](const session::Session& s) { expect_master_supervises(s, master, 5); });

  lab.stop_server();
  EXPECT_FALSE(lab.server_running());
  // Nothing of the server's tree outlives it.
  EXPECT_TRUE(observe::sample_subtree(master).procs.empty());
}

// Hybrid's master is prefork's (run_prefork_master): it builds the event loop
// and registers the listener with it, then forks workers that run the loop
// and accept; it never does.
TEST(PreforkBacklog, HybridMasterSupervisesToo) {
  lab::Lab lab(test::lab_options());
  lab::ServerSpec spec;
  spec.arch = "hybrid";
  spec.settings.set(servers::SettingId::workers, 2);
  const std::uint16_t port = lab.start_server(spec);
  ASSERT_GT(port, 0);
  const pid_t master = lab.server_pid();
  HeldClients clients;
  for (int i = 0; i < 3; ++i) {
    int fd = connect_loopback(port);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    clients.fds.push_back(fd);
  }
  // An event loop worker serves many at once: all three are greeted.
  ASSERT_TRUE(eventually([&] {
    int n = 0;
    for (int fd : clients.fds) n += greeted(fd) ? 1 : 0;
    return n == 3;
  }));
  ASSERT_TRUE(eventually([&] {
    return lab.session().read([](const session::Session& s) { return s.model().counts.connections_accepted; }) == 3u;
  }));
  const std::uint64_t served = trace::now_ns();
  ASSERT_TRUE(eventually([&] { return model_backlog(lab).sampled_ns > served; }, 5s));
  const session::BacklogView b = model_backlog(lab);
  EXPECT_EQ(b.owner, master);
  EXPECT_EQ(b.depth, 0u) << "nobody waits: the loops accepted everyone";
  lab.session().read([&](const session::Session& s) {
    expect_master_supervises(s, master, 3);
    // The master holds the listener twice (its fd and the loop's dup): one
    // holder; the two workers hold it too.
    const session::ProcessView* mp = s.model().find_process(master);
    ASSERT_NE(mp, nullptr);
    int listeners = 0;
    for (const auto& sock : mp->sockets) {
      if (sock.inode != b.inode) continue;
      ++listeners;
      EXPECT_EQ(sock.holders, 3);
    }
    EXPECT_EQ(listeners, 2);
  });
  clients.close_all();
  lab.stop_server();
  EXPECT_TRUE(observe::sample_subtree(master).procs.empty());
}
