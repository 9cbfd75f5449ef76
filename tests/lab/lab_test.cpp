// The lab end to end: real `sockscope serve` and `sockscope clients` processes
// started through a Lab, the session model compared with /proc, the headless
// `run` command, and the promise that nothing outlives the lab.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "lab/lab.h"
#include "lab_steps.h"
#include "proc_marker.h"
#include "observe/proc_sampler.h"
#include "session/export.h"
#include "support/temp_dir.h"

using namespace sockscope;
using namespace std::chrono_literals;

namespace {

using test::eventually;

lab::LabOptions test_options() {
  lab::LabOptions o;
  o.self_exe = SOCKSCOPE_BIN;
  return o;
}

// Children of `pid` according to /proc, with their states.
std::map<pid_t, char> proc_children(pid_t pid) {
  std::map<pid_t, char> out;
  observe::ProcSnapshot snap = observe::sample_subtree(pid);
  for (const auto& p : snap.procs)
    if (p.ppid == pid) out[p.pid] = p.state;
  return out;
}

// Live children of the server in the session model.
std::set<pid_t> model_children(lab::Lab& lab, pid_t server, bool zombies) {
  return lab.session().read([&](const session::Session& s) {
    std::set<pid_t> out;
    for (const auto* p : s.model().children_of(server))
      if (zombies ? p->zombie : p->alive()) out.insert(p->pid);
    return out;
  });
}

std::set<pid_t> keys(const std::map<pid_t, char>& m, char only = 0) {
  std::set<pid_t> out;
  for (auto& [k, v] : m)
    if (!only || v == only) out.insert(k);
  return out;
}

using test::pids_with_marker;
using test::run_bin;

}  // namespace

TEST(Lab, FiveHeldClientsAreFiveChildrenInProcAndInTheModel) {
  lab::Lab lab(test_options());
  lab::ServerSpec spec;
  spec.arch = "fork";
  std::uint16_t port = lab.start_server(spec);
  ASSERT_GT(port, 0);
  pid_t server = lab.server_pid();

  clients::Scenario sc = clients::preset("steady");
  sc.count = 5;
  sc.hold_ms = 4000;
  lab.start_clients(sc);

  ASSERT_TRUE(eventually([&] { return proc_children(server).size() == 5; }))
      << "/proc shows " << proc_children(server).size() << " children";
  auto in_proc = keys(proc_children(server));
  // The model learns from events and the 100 ms sampler: give it a moment.
  ASSERT_TRUE(eventually([&] { return model_children(lab, server, false) == in_proc; }, 3s));
  lab.session().read([&](const session::Session& s) {
    const auto& m = s.model();
    EXPECT_EQ(m.counts.children_forked, 5u);
    for (pid_t child : in_proc) {
      const auto* p = m.find_process(child);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(p->role, session::ProcessRole::child);
      ASSERT_EQ(p->conns.size(), 1u) << "each child serves one connection";
      const auto* c = m.find_connection(p->conns[0]);
      ASSERT_NE(c, nullptr);
      EXPECT_NE(c->client_id, 0u) << "joined with the simulated client";
    }
  });

  EXPECT_EQ(lab.wait_clients(20s), 0);
  // With reaping, every child is collected once its client leaves.
  EXPECT_TRUE(eventually([&] { return proc_children(server).empty(); }));
  EXPECT_TRUE(eventually([&] {
    return lab.session().read([](const session::Session& s) { return s.model().counts.reaped; }) == 5u;
  }, 3s));
  lab.stop_server();
  EXPECT_FALSE(lab.server_running());
}

TEST(Lab, NoReapLeavesZombiesThatTheModelShows) {
  lab::Lab lab(test_options());
  lab::ServerSpec spec;
  spec.arch = "fork";
  spec.settings.set(servers::SettingId::reap, 0);
  lab.start_server(spec);
  pid_t server = lab.server_pid();
  clients::Scenario sc = clients::preset("steady");
  sc.count = 3;
  lab.start_clients(sc);
  EXPECT_EQ(lab.wait_clients(20s), 0);
  ASSERT_TRUE(eventually([&] { return keys(proc_children(server), 'Z').size() == 3; }));
  auto zombies = keys(proc_children(server), 'Z');
  ASSERT_TRUE(eventually([&] { return model_children(lab, server, true) == zombies; }, 3s));
  lab.session().read([](const session::Session& s) {
    EXPECT_EQ(s.model().counts.zombies_now, 3u);
    EXPECT_EQ(s.model().counts.reaped, 0u);
  });
  lab.stop_server();
  EXPECT_TRUE(proc_children(server).empty());
}

TEST(Lab, StartFailureSaysWhy) {
  lab::Lab lab(test_options());
  lab::ServerSpec spec;
  spec.root = "/nonexistent/sockscope-root";
  try {
    lab.start_server(spec);
    FAIL() << "a server with a missing root started";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("nonexistent"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(lab.server_running());
}

TEST(RunCommand, HeadlessRunPrintsSummaryAndExportsEveryFormat) {
  const test::TempDir dir("sockscope-run");
  auto [status, out] = run_bin({"run", "--arch", "fork", "--clients", "5", "--export", (dir / "s.jsonl").string(),
                                "--export", (dir / "s.json").string(), "--export", (dir / "s.csv").string(),
                                "--export", (dir / "s.txt").string()});
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("drops"), std::string::npos) << out;
  for (auto ext : {"jsonl", "json", "csv", "txt"}) EXPECT_TRUE(std::filesystem::exists(dir / (std::string("s.") + ext)));
  std::string error;
  auto s = session::read_jsonl(dir / "s.jsonl", error);
  ASSERT_TRUE(s) << error;
  const auto& m = s->model();
  EXPECT_EQ(m.counts.children_forked, 5u);
  EXPECT_EQ(m.counts.reaped, 5u);
  EXPECT_EQ(m.counts.connections_served, 5u);
  EXPECT_EQ(m.clients.size(), 5u);
  EXPECT_GT(m.latency.count, 0u);
}

// An export the run could not write is refused before anything starts:
// an unknown extension used to be written as JSON Lines without a word.
TEST(RunCommand, AnExportItCannotWriteIsRefusedUpFront) {
  auto [status, out] = run_bin({"run", "--arch", "fork", "--clients", "1", "--export", "/tmp/session.xlsx"});
  EXPECT_EQ(status, 2) << out;
  EXPECT_NE(out.find("unknown extension '.xlsx'"), std::string::npos) << out;
  auto [status2, out2] = run_bin({"run", "--arch", "fork", "--clients", "1", "--export", "/tmp/"});
  EXPECT_EQ(status2, 2) << out2;
  EXPECT_NE(out2.find("a directory; give a file name"), std::string::npos) << out2;
}

TEST(RunCommand, BadFlagsGiveUsageAndExitTwo) {
  auto [status, out] = run_bin({"run", "--arch", "nonsense"});
  EXPECT_EQ(status, 2) << out;
  auto [status2, out2] = run_bin({"run", "--no-such-flag"});
  EXPECT_EQ(status2, 2) << out2;
  EXPECT_NE(out2.find("--no-such-flag"), std::string::npos) << out2;
  auto [status3, out3] = run_bin({"run", "--help"});
  EXPECT_EQ(status3, 0);
  EXPECT_NE(out3.find("--clients"), std::string::npos);
}

// SIGKILL gives the lab no chance to clean up: the kernel's parent-death
// signals and the server's shutdown path must do it all.
TEST(RunCommand, SigkillOfTheLabLeavesNoProcessBehind) {
  std::string marker = "SOCKSCOPE_TEST_MARK=" + std::to_string(getpid()) + "-" + std::to_string(std::random_device{}());
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t lab = fork();
  ASSERT_GE(lab, 0);
  if (lab == 0) {
    putenv(marker.data());
    dup2(pipefd[1], STDOUT_FILENO);
    close(pipefd[0]);
    execl(SOCKSCOPE_BIN, SOCKSCOPE_BIN, "run", "--arch", "fork", "--clients", "5", "--hold-ms", "20000",
          "--duration", "60", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipefd[1]);
  FILE* out = fdopen(pipefd[0], "r");
  char line[512];
  ASSERT_NE(fgets(line, sizeof line, out), nullptr) << "no banner from run";
  std::string banner = line;
  auto pid_at = banner.find("(pid ");
  ASSERT_NE(pid_at, std::string::npos) << banner;
  pid_t server = std::stoi(banner.substr(pid_at + 5));
  ASSERT_TRUE(eventually([&] { return proc_children(server).size() == 5; }))
      << "children: " << proc_children(server).size();
  // lab + server + 5 children + the client simulator
  EXPECT_GE(pids_with_marker(marker).size(), 8u);

  kill(lab, SIGKILL);
  int st = 0;
  waitpid(lab, &st, 0);
  fclose(out);
  EXPECT_TRUE(eventually([&] { return pids_with_marker(marker).empty(); }, 10s));
  for (pid_t p : pids_with_marker(marker)) {
    ADD_FAILURE() << "left behind: pid " << p;
    kill(p, SIGKILL);
  }
}

// Perfetto and chrome://tracing read the Chrome trace export: python3's json
// module must accept it, with one named track per process and the run's events.
TEST(RunCommand, ChromeTraceIsValidJsonWithProcessTracks) {
  const test::TempDir dir("sockscope-chrome");
  auto [status, out] = run_bin({"run", "--arch", "fork", "--clients", "3", "--quiet", "--export",
                                (dir / "s.json").string()});
  ASSERT_EQ(status, 0) << out;
  std::string check =
      "import json,sys\n"
      "d=json.load(open(sys.argv[1]))\n"
      "ev=d['traceEvents']\n"
      "names=[e for e in ev if e.get('ph')=='M' and e.get('name')=='process_name']\n"
      "pids={e['pid'] for e in ev if e.get('ph')!='M'}\n"
      "assert len(names)>=5, len(names)\n"  // listener, 3 children, the simulator
      "assert len(pids)>=5, pids\n"
      "assert any(e.get('name')=='accept' for e in ev)\n"
      "print('ok', len(ev))\n";
  std::ofstream(dir / "check.py") << check;
  std::string cmd = "python3 '" + (dir / "check.py").string() + "' '" + (dir / "s.json").string() + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string result;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) result.append(buf, n);
  int st = pclose(p);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << result;
  EXPECT_EQ(result.rfind("ok", 0), 0u) << result;
}

// A 50 MB line (a corrupt or hostile file) is refused with its line number,
// and nothing is loaded.
TEST(RunCommand, FiftyMegabyteLineIsRefusedWithItsLineNumber) {
  auto path = std::filesystem::temp_directory_path() / ("sockscope-big-" + std::to_string(getpid()) + ".jsonl");
  {
    std::ofstream f(path, std::ios::binary);
    f << R"({"magic":"sockscope-session","version":1,"trace_version":1,"events":1,"snapshots":0,"drops":0})" << '\n';
    std::string chunk(1 << 20, 'x');
    f << "{\"t\":\"";
    for (int i = 0; i < 50; ++i) f << chunk;
    f << "\"}\n";
  }
  std::string error;
  auto s = session::read_jsonl(path, error);
  EXPECT_FALSE(s.has_value());
  EXPECT_NE(error.find("line 2"), std::string::npos) << error;
  std::filesystem::remove(path);
}
