// `sockscope compare` end to end: real servers, real clients, the numbers
// read from /proc and the kernel; the export's rows; bad names; a server
// killed mid-run; Ctrl-C. And the column table every format reads.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fcntl.h>
#include <set>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "compare/compare.h"
#include "compare/reference.h"
#include "compare/report.h"
#include "lab/lab.h"
#include "lab_steps.h"
#include "support/temp_dir.h"

extern char** environ;

namespace sockscope::compare {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using sockscope::test::run_bin;

using sockscope::test::lab_options;

json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

const json* row_of(const json& doc, const std::string& server) {
  for (const auto& r : doc["rows"])
    if (r["server"] == server) return &r;
  return nullptr;
}

// Pids of live processes whose command line contains `needle`.
std::vector<pid_t> processes_with(const std::string& needle) {
  std::vector<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), {});
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find(needle) != std::string::npos) out.push_back(std::stoi(name));
  }
  return out;
}

TEST(CompareColumns, EveryColumnIsNamedExplainedAndReadsARow) {
  Row r;
  r.server = "fork";
  r.clients = 3;
  r.seconds = 1.0;
  r.peak_processes = 4;
  r.peak_open = 3;
  r.samples = 20;
  r.forks = 3;
  r.execs = 0;
  r.threads_created = 0;
  r.ring_drops = 0;
  Row ref = r;
  ref.reference = true;
  ref.forks.reset();
  ref.execs.reset();
  ref.threads_created.reset();
  ref.ring_drops.reset();
  std::set<std::string> keys;
  for (const auto& c : columns()) {
    EXPECT_FALSE(c.key.empty());
    EXPECT_FALSE(c.header.empty()) << c.key;
    EXPECT_FALSE(c.help.empty()) << c.key;
    EXPECT_TRUE(keys.insert(std::string(c.key)).second) << "two columns named " << c.key;
    EXPECT_EQ(find_column(c.key), &c);
    ASSERT_TRUE(c.value);
    // Only the trace's columns are empty for a reference.
    const bool trace_column = c.key == "forks" || c.key == "execs" || c.key == "threads_created" || c.key == "ring_drops";
    EXPECT_TRUE(c.value(r).has_value()) << c.key;
    EXPECT_EQ(c.value(ref).has_value(), !trace_column) << c.key;
  }
  // Every format carries every column.
  Result res;
  res.rows = {r, ref};
  res.complete = true;
  std::ostringstream csv;
  write_csv(res, csv);
  const std::string md = markdown(res);
  const std::string table = text_table(res);
  for (const auto& c : columns()) {
    EXPECT_NE(csv.str().find(std::string(c.key)), std::string::npos) << c.key;
    EXPECT_NE(md.find(std::string(c.header)), std::string::npos) << c.header;
    EXPECT_NE(table.find(std::string(c.header)), std::string::npos) << c.header;
  }
  std::ostringstream js;
  write_json(res, js);
  json doc = json::parse(js.str());
  ASSERT_EQ(doc["rows"].size(), 2u);
  EXPECT_TRUE(doc["rows"][1]["forks"].is_null());
  EXPECT_EQ(doc["rows"][0]["forks"], 3);
  std::string error;
  EXPECT_FALSE(write_by_extension(res, {}, "/tmp/x.xlsx", error));
  EXPECT_NE(error.find(".md"), std::string::npos) << error;
  EXPECT_FALSE(write_by_extension(res, {}, "/nonexistent-dir/x.md", error));
  EXPECT_NE(error.find("/nonexistent-dir/x.md"), std::string::npos) << error;
}

TEST(CompareOptions, NamesWhatIsAvailable) {
  CompareOptions o;
  o.archs = {"forq"};
  EXPECT_NE(o.validate().find("available: serial, fork"), std::string::npos) << o.validate();
  o.archs = {"fork"};
  o.references = {"lighttpd"};
  EXPECT_NE(o.validate().find("nginx-1"), std::string::npos) << o.validate();
  o.references = {"nginx-1"};
  o.protocol = "ftp";
  EXPECT_NE(o.validate().find("HTTP only"), std::string::npos) << o.validate();
  o.references.clear();
  o.scenario = "custom";
  EXPECT_FALSE(o.validate().empty());
  o.scenario = "held";
  EXPECT_EQ(o.validate(), "");
}

TEST(CompareCommand, BadNamesGetUsageAndExit2) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"compare", "--archs", "forq"}, {"compare", "--reference", "lighttpd"},
        {"compare", "--protocol", "ftp", "--reference", "nginx-1"}, {"compare", "--clients", "ten"},
        {"compare", "--scenario", "nope"}, {"compare", "--archs", "fork", "--export", "x.xlsx"}}) {
    auto [status, out] = run_bin(args);
    EXPECT_EQ(status, 2) << args[1] << " " << args[2] << ": " << out;
  }
  auto [status, out] = run_bin({"compare", "--archs", "forq"});
  EXPECT_NE(out.find("available: serial, fork"), std::string::npos) << out;
}

// The issue's own check: 20 held connections against a process, a thread
// and an event loop per connection.
TEST(CompareCommand, HeldConnectionsCostWhatEachArchitectureSays) {
  const test::TempDir dir("sockscope-compare-held");
  auto [status, out] = run_bin({"compare", "--archs", "fork,thread,evloop", "--clients", "20", "--scenario", "held",
                                "--duration", "2", "--export", (dir / "held.json").string(), "--export",
                                (dir / "held.md").string(), "--export", (dir / "held.csv").string()});
  ASSERT_EQ(status, 0) << out;
  json doc = read_json(dir / "held.json");
  const json* fork = row_of(doc, "fork");
  const json* thread = row_of(doc, "thread");
  const json* evloop = row_of(doc, "evloop");
  ASSERT_TRUE(fork && thread && evloop) << doc.dump(1);
  for (const json* r : {fork, thread, evloop}) {
    EXPECT_EQ((*r)["status"], "ok") << r->dump();
    EXPECT_EQ((*r)["peak_open"], 20) << r->dump();
    EXPECT_EQ((*r)["starved"], 0) << r->dump();
    EXPECT_GT((*r)["pss_per_conn_kb"].get<double>(), 0.0) << r->dump();
  }
  EXPECT_GE((*fork)["peak_processes"].get<int>(), 21) << fork->dump();
  EXPECT_GE((*fork)["forks"].get<int>(), 20) << fork->dump();
  EXPECT_EQ((*thread)["peak_processes"], 1) << thread->dump();
  EXPECT_GE((*thread)["peak_threads"].get<int>(), 21) << thread->dump();
  EXPECT_EQ((*evloop)["peak_processes"], 1) << evloop->dump();
  EXPECT_LE((*evloop)["peak_threads"].get<int>(), 2) << evloop->dump();
  // Copy-on-write: every child's RSS counts the pages it shares with its
  // parent; PSS splits them.
  EXPECT_GT((*fork)["rss_per_conn_kb"].get<double>(), (*fork)["pss_per_conn_kb"].get<double>()) << fork->dump();
  // The same rows in the other formats.
  std::ifstream md(dir / "held.md");
  std::string mdtext((std::istreambuf_iterator<char>(md)), {});
  EXPECT_NE(mdtext.find("**fork**"), std::string::npos) << mdtext;
  std::ifstream csv(dir / "held.csv");
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 4);
}

// A server SIGKILLed mid-run: its row says so, the next row still runs, and
// nothing of either is left.
TEST(CompareRun, AServerKilledMidRunIsReportedAndTheOthersComplete) {
  lab::Lab lab(lab_options());
  CompareOptions o;
  o.archs = {"fork", "thread"};
  o.clients = {4};
  o.scenario = "keepalive";
  o.duration_s = 2.0;
  std::vector<pid_t> started;
  std::thread killer;
  RunHooks hooks;
  hooks.server_started = [&](const std::string& name, pid_t pid) {
    started.push_back(pid);
    if (name == "fork")
      killer = std::thread([pid] {
        std::this_thread::sleep_for(900ms);
        kill(pid, SIGKILL);
      });
  };
  Result r = run(lab, o, hooks);
  if (killer.joinable()) killer.join();
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_TRUE(r.complete);
  EXPECT_NE(r.rows[0].status.find("killed by signal 9"), std::string::npos) << r.rows[0].status;
  EXPECT_FALSE(r.rows[0].complete);
  EXPECT_EQ(r.rows[1].status, "ok");
  EXPECT_TRUE(r.rows[1].complete);
  EXPECT_GT(r.rows[1].replies, 0u);
  ASSERT_EQ(started.size(), 2u);
  for (pid_t pid : started) {
    EXPECT_NE(kill(pid, 0), 0) << pid << " still runs";
    EXPECT_NE(kill(-pid, 0), 0) << "process group " << pid << " still has members";
  }
  EXPECT_FALSE(lab.server_running());
  EXPECT_EQ(lab.running_clients(), 0);
}

TEST(CompareReference, NginxIsMeasuredAndNothingOfItIsLeft) {
  const Reference* nginx = find_reference("nginx-1");
  ASSERT_NE(nginx, nullptr);
  if (std::string why = unavailable_reason(*nginx); !why.empty()) GTEST_SKIP() << why;
  lab::Lab lab(lab_options());
  CompareOptions o;
  o.archs = {};
  o.references = {"nginx-1"};
  o.clients = {5};
  o.scenario = "keepalive";
  o.duration_s = 1.0;
  pid_t master = 0;
  RunHooks hooks;
  hooks.server_started = [&](const std::string&, pid_t pid) { master = pid; };
  Result r = run(lab, o, hooks);
  ASSERT_EQ(r.rows.size(), 1u);
  const Row& row = r.rows[0];
  EXPECT_EQ(row.status, "ok");
  EXPECT_TRUE(row.reference);
  EXPECT_GT(row.replies_per_s, 0.0);
  EXPECT_EQ(row.errors, 0u);
  EXPECT_EQ(row.peak_processes, 2);  // the master and its one worker, from /proc
  EXPECT_FALSE(row.forks.has_value());
  EXPECT_GT(row.cpu_user_s + row.cpu_system_s, 0.0);
  ASSERT_GT(master, 0);
  EXPECT_NE(kill(master, 0), 0) << "nginx master " << master << " still runs";
  EXPECT_NE(kill(-master, 0), 0) << "nginx's process group still has members";
}

TEST(CompareCommand, NginxRowFromTheCommandLine) {
  const Reference* nginx = find_reference("nginx-2");
  if (std::string why = unavailable_reason(*nginx); !why.empty()) GTEST_SKIP() << why;
  const test::TempDir dir("sockscope-compare-nginx");
  auto [status, out] = run_bin({"compare", "--archs", "evloop", "--reference", "nginx-2", "--clients", "8",
                                "--duration", "1", "--export", (dir / "n.json").string()});
  ASSERT_EQ(status, 0) << out;
  json doc = read_json(dir / "n.json");
  const json* ng = row_of(doc, "nginx-2");
  ASSERT_TRUE(ng) << doc.dump(1);
  EXPECT_TRUE((*ng)["reference"].get<bool>());
  EXPECT_GT((*ng)["replies_per_s"].get<double>(), 0.0);
  EXPECT_EQ((*ng)["peak_processes"], 3);
  EXPECT_NE(out.find("nginx-2 (reference)"), std::string::npos) << out;
}

// Ctrl-C: the rows so far are printed and exported, marked incomplete, exit
// 130, and no server of its is left running.
TEST(CompareCommand, InterruptWritesWhatWasMeasuredAndLeavesNothing) {
  const test::TempDir dir("sockscope-compare-sigint");
  // A root of its own, so its servers can be found by their command line.
  std::filesystem::copy(std::string(SOCKSCOPE_ASSETS) + "/ftp-root", dir / "root", std::filesystem::copy_options::recursive);
  const std::string out_file = (dir / "partial.json").string();
  std::vector<std::string> args = {SOCKSCOPE_BIN, "compare", "--archs", "fork,thread,evloop,pool",
                                   "--clients", "4", "--duration", "3", "--root", (dir / "root").string(),
                                   "--export", out_file};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, SOCKSCOPE_BIN, &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  // Into the second row, then Ctrl-C.
  std::this_thread::sleep_for(5s);
  kill(pid, SIGINT);
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 130);
  json doc = read_json(out_file);
  EXPECT_FALSE(doc["compare"]["complete"].get<bool>());
  ASSERT_GE(doc["rows"].size(), 1u);
  EXPECT_LT(doc["rows"].size(), 4u);
  EXPECT_EQ(doc["rows"][0]["server"], "fork");
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(processes_with((dir / "root").string()).empty()) << "a server of the comparison is still running";
}

}  // namespace
}  // namespace sockscope::compare

namespace sockscope::compare {
namespace {

// More clients than RLIMIT_NOFILE allows (soft and hard): refused before
// anything starts, naming the limit.
TEST(CompareCommand, AClientCountBeyondTheFileLimitIsRefusedUpFront) {
  const std::string cmd = std::string("ulimit -Sn 200 && ulimit -Hn 200 && exec '") + SOCKSCOPE_BIN +
                          "' compare --archs evloop --clients 500 --duration 0.5 2>&1";
  FILE* p = popen(("sh -c \"" + cmd + "\"").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int st = pclose(p);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 1) << out;
  EXPECT_NE(out.find("RLIMIT_NOFILE allows 200"), std::string::npos) << out;
  EXPECT_EQ(out.find("evloop, 500 clients..."), std::string::npos) << "it started anyway: " << out;
}

}  // namespace
}  // namespace sockscope::compare
