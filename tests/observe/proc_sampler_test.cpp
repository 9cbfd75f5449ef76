// The /proc sampler against real processes: forked children, a zombie,
// threads. Every child is killed and reaped before each test returns.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "observe/proc_sampler.h"

using namespace sockscope::observe;
using namespace std::chrono_literals;

namespace {

// Children forked by a test; killed and reaped on scope exit whatever happens.
struct Children {
  std::vector<pid_t> pids;    // killed and reaped here unless already reaped
  std::vector<pid_t> reaped;  // reaped by the test itself: never signal a pid that may be reused
  std::vector<pid_t> others;  // grandchildren: killed here
  ~Children() {
    for (pid_t p : others) ::kill(p, SIGKILL);
    for (pid_t p : pids)
      if (std::find(reaped.begin(), reaped.end(), p) == reaped.end()) ::kill(p, SIGKILL);
    for (pid_t p : pids)
      if (std::find(reaped.begin(), reaped.end(), p) == reaped.end()) ::waitpid(p, nullptr, 0);
  }
};

// Polls until `pred(snapshot)` holds or 5 s pass.
template <class Pred>
ProcSnapshot sample_until(pid_t root, Pred pred) {
  ProcSnapshot s;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  do {
    s = sample_subtree(root);
    if (pred(s)) return s;
    std::this_thread::sleep_for(10ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return s;
}

}  // namespace

TEST(ParseStat, CommWithSpacesAndParens) {
  ProcInfo p;
  std::string stat =
      "4242 (evil) (name)) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 987654 1000 10 "
      "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
  ASSERT_TRUE(parse_stat(stat, p));
  EXPECT_EQ(p.pid, 4242);
  EXPECT_EQ(p.comm, "evil) (name)");
  EXPECT_EQ(p.state, 'S');
  EXPECT_EQ(p.ppid, 17);
  EXPECT_EQ(p.start_ticks, 987654u);
  EXPECT_NEAR(p.cpu_s, 300.0 / static_cast<double>(::sysconf(_SC_CLK_TCK)), 1e-9);
}

TEST(ParseStat, RejectsGarbage) {
  ProcInfo p;
  EXPECT_FALSE(parse_stat("", p));
  EXPECT_FALSE(parse_stat("12 no parens S 1", p));
  EXPECT_FALSE(parse_stat("12 (x)", p));
}

TEST(ReadProc, Self) {
  ProcInfo p;
  ASSERT_TRUE(read_proc(::getpid(), p));
  EXPECT_EQ(p.pid, ::getpid());
  EXPECT_EQ(p.ppid, ::getppid());
  EXPECT_EQ(p.state, 'R');  // we are running while we read ourselves
  EXPECT_GT(p.rss_kb, 0u);
  EXPECT_GE(p.fds, 3);  // stdin, stdout, stderr at least
  EXPECT_NE(p.cmdline.find("observe_test"), std::string::npos) << p.cmdline;
  EXPECT_GE(p.threads, 1);
  EXPECT_GT(p.start_ticks, 0u);
}

TEST(ReadProc, VanishedPidIsFalse) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
  ProcInfo p;
  EXPECT_FALSE(read_proc(pid, p));
}

TEST(SampleSubtree, ChildrenGrandchildAndZombie) {
  Children kids;
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  // Two sleeping children, one of which forks a sleeping grandchild.
  for (int i = 0; i < 2; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (i == 1) {
        pid_t g = ::fork();
        if (g == 0) {
          ::pause();
          ::_exit(0);
        }
        // Tell the test the grandchild's pid, then wait for it: this child
        // reaps its own child, so nothing is orphaned (PID 1 in a container
        // may never reap).
        if (::write(pipefd[1], &g, sizeof g) != sizeof g) ::_exit(1);
        while (::waitpid(g, nullptr, 0) < 0 && errno == EINTR) {
        }
        ::_exit(0);
      }
      ::pause();
      ::_exit(0);
    }
    kids.pids.push_back(pid);
  }
  pid_t grandchild = 0;
  ASSERT_EQ(::read(pipefd[0], &grandchild, sizeof grandchild), static_cast<ssize_t>(sizeof grandchild));
  kids.others.push_back(grandchild);
  ::close(pipefd[0]);
  ::close(pipefd[1]);
  // A zombie: exits at once, and nobody waits for it until the end.
  pid_t zombie = ::fork();
  ASSERT_GE(zombie, 0);
  if (zombie == 0) ::_exit(7);
  kids.pids.push_back(zombie);

  pid_t self = ::getpid();
  ProcSnapshot s = sample_until(self, [&](const ProcSnapshot& s) {
    const ProcInfo* z = s.find(zombie);
    // Wait until every sleeper has reached its pause()/waitpid() (right
    // after fork it may still be running).
    auto asleep = [&](pid_t p) {
      const ProcInfo* i = s.find(p);
      return i && i->state == 'S';
    };
    return z && z->state == 'Z' && asleep(grandchild) && asleep(kids.pids[0]) && asleep(kids.pids[1]);
  });

  // Grandchild first, so that its parent reaps it and then exits by itself.
  ::kill(grandchild, SIGKILL);
  int status = 0;
  EXPECT_EQ(::waitpid(kids.pids[1], &status, 0), kids.pids[1]);
  kids.reaped.push_back(kids.pids[1]);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  kids.others.clear();

  EXPECT_EQ(s.root, self);
  EXPECT_GT(s.ts_ns, 0u);
  ASSERT_FALSE(s.procs.empty());
  EXPECT_EQ(s.procs.front().pid, self);
  for (pid_t k : kids.pids) {
    const ProcInfo* p = s.find(k);
    ASSERT_NE(p, nullptr) << "child " << k << " missing";
    EXPECT_EQ(p->ppid, self);
  }
  const ProcInfo* g = s.find(grandchild);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->ppid, kids.pids[1]);
  EXPECT_EQ(g->state, 'S');

  const ProcInfo* z = s.find(zombie);
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->state, 'Z');
  EXPECT_EQ(z->fds, 0);
  EXPECT_EQ(z->pss_kb, 0u);
  EXPECT_EQ(z->rss_kb, 0u);
  EXPECT_TRUE(z->cmdline.empty());
  EXPECT_FALSE(z->comm.empty());

  // A living child shares our program: same comm, a real PSS and fds.
  const ProcInfo* c0 = s.find(kids.pids[0]);
  EXPECT_EQ(c0->state, 'S');
  EXPECT_EQ(c0->comm, s.procs.front().comm);
  EXPECT_GT(c0->rss_kb, 0u);
  EXPECT_GT(c0->pss_kb, 0u);
  EXPECT_GE(c0->fds, 3);

  // Nothing outside the subtree: our own parent is not in it.
  EXPECT_EQ(s.find(::getppid()), nullptr);
  EXPECT_EQ(s.procs.size(), 1u + kids.pids.size() + 1u);
}

TEST(SampleSubtree, ReapedChildDisappears) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
  ProcSnapshot s = sample_subtree(::getpid());
  EXPECT_EQ(s.find(pid), nullptr);
}

TEST(SampleSubtree, GoneRootGivesEmptySnapshot) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
  ProcSnapshot s = sample_subtree(pid);
  EXPECT_EQ(s.root, pid);
  EXPECT_TRUE(s.procs.empty());
}

TEST(SampleSubtree, Threads) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> ready{0};
  std::vector<pid_t> tids(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      tids[i] = static_cast<pid_t>(::syscall(SYS_gettid));
      ++ready;
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return release; });
    });
  }
  while (ready.load() < 3) std::this_thread::sleep_for(1ms);
  ProcSnapshot s = sample_subtree(::getpid());
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();

  ASSERT_FALSE(s.procs.empty());
  const ProcInfo& self = s.procs.front();
  EXPECT_EQ(self.threads, 4);  // main + 3
  ASSERT_EQ(self.tids.size(), 4u);
  EXPECT_TRUE(std::is_sorted(self.tids.begin(), self.tids.end()));
  for (pid_t t : tids) EXPECT_NE(std::find(self.tids.begin(), self.tids.end(), t), self.tids.end());
  EXPECT_NE(std::find(self.tids.begin(), self.tids.end(), ::getpid()), self.tids.end());

  // And they are gone after join.
  ProcInfo after;
  ASSERT_TRUE(read_proc(::getpid(), after));
  EXPECT_EQ(after.threads, 1);
}
