// The screenshot test: the real `sockscope` binary under Xvfb (Mesa software
// GL) runs a script through the same code paths as the buttons — start the
// fork server, add 3 clients that hold their connections, wait until 3
// children exist — dumps its session model, writes a PNG and exits. The test
// checks the model against /proc while the app is still running, the PNG
// (size of the window, not blank, the tree's nodes visible), and that no
// process outlives the app. Also: no display, and a bad script line.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "gui/app_process.h"
#include "support/proc.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using sockscope::gui_test::Proc;
using sockscope::gui_test::run_on_screen;
using sockscope::test::proc_stat;
using sockscope::gui_test::process_exists;
using sockscope::gui_test::wait_for_file;
using sockscope::gui_test::slurp;
using sockscope::test::TempDir;

// Live (not zombie) children of `parent`, from /proc.
std::set<pid_t> proc_children_of(pid_t parent) {
  std::set<pid_t> out;
  for (const auto& c : sockscope::test::proc_children(parent))
    if (c.state != 'Z') out.insert(c.pid);
  return out;
}

TEST(GuiBinary, WithoutADisplayItSaysSoInOneLine) {
  TempDir dir;
  Proc p = Proc::spawn({SOCKSCOPE_BIN}, {"XDG_CONFIG_HOME=" + (dir / "config").string()},
                       {"DISPLAY", "WAYLAND_DISPLAY"}, dir / "out", dir / "err");
  ASSERT_TRUE(p.wait_for(20s));
  EXPECT_EQ(p.exit_code(), 1);
  std::string err = slurp(dir / "err");
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("no display"), std::string::npos) << err;
  EXPECT_NE(err.find("sockscope run --arch fork --clients 5"), std::string::npos) << err;
  EXPECT_NE(err.find("sockscope serve --arch fork"), std::string::npos) << err;
}

TEST(GuiBinary, BadScriptLineNamesTheLineAndExits2) {
  TempDir dir;
  fs::path script = dir / "bad.script";
  std::ofstream(script) << "start fork\nclients three\nquit\n";
  Proc p = Proc::spawn({SOCKSCOPE_BIN, "--script", script.string()}, {}, {"DISPLAY", "WAYLAND_DISPLAY"},
                       dir / "out", dir / "err");
  ASSERT_TRUE(p.wait_for(20s));
  EXPECT_EQ(p.exit_code(), 2);
  std::string err = slurp(dir / "err");
  EXPECT_NE(err.find(script.string() + ":2: client count must be a number"), std::string::npos) << err;
}

TEST(GuiBinary, ScriptedForkLessonUnderXvfb) {
  TempDir dir;
  const fs::path png = dir / "out.png";
  const fs::path model = dir / "model.json";
  const fs::path script = dir / "lesson.script";
  std::ofstream(script) << "# the teacher's first lesson, scripted\n"
                           "start fork port=0\n"
                           "clients 3 hold_ms=8000\n"
                           "wait children 3 timeout=20\n"
                           "screenshot\n"
                           "dump-model "
                        << model.string()
                        << "\n"
                           "wait ms 3000\n"
                           "quit\n";
  Proc app = run_on_screen(dir, "1600x900", script, png);

  // While the app holds the lesson open: its model against /proc.
  ASSERT_TRUE(wait_for_file(app, model)) << "no model dump; stderr:\n" << slurp(dir / "err");
  nlohmann::json m = nlohmann::json::parse(slurp(model));
  const pid_t server = m.at("server_pid").get<pid_t>();
  ASSERT_GT(server, 0);
  EXPECT_EQ(m.at("architecture"), "fork");
  std::set<pid_t> model_children;
  for (const auto& p : m.at("processes")) {
    if (p.at("ppid").get<pid_t>() == server && p.at("alive").get<bool>() && p.at("in_proc").get<bool>()) {
      EXPECT_EQ(p.at("role"), "child");
      model_children.insert(p.at("pid").get<pid_t>());
    }
  }
  EXPECT_EQ(model_children.size(), 3u) << m.dump(1);
  ASSERT_TRUE(proc_stat(server)) << "the server is not running";
  std::set<pid_t> kernel_children = proc_children_of(server);
  EXPECT_EQ(model_children, kernel_children) << "the model's live children are not the kernel's";
  EXPECT_GE(m.at("counts").at("connections_open").get<int>(), 3);

  ASSERT_TRUE(app.wait_for(60s)) << "the app did not exit";
  EXPECT_EQ(app.exit_code(), 0) << slurp(dir / "err");

  // Nothing outlives the app.
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(process_exists(server)) << "server " << server << " still running";
  for (pid_t c : model_children) EXPECT_FALSE(process_exists(c)) << "child " << c << " still running";

  // The picture: the window's size, not blank, and the tree's boxes in it
  // (the dark theme's fills from app/views/style.cpp: listener, child).
  const auto png_summary = sockscope::gui_test::summarize_png(png, {0x1E5A96, 0x2C3E5C});
  ASSERT_TRUE(png_summary.ok) << png_summary.error;
  EXPECT_EQ(png_summary.w, 1600);
  EXPECT_EQ(png_summary.h, 900);
  EXPECT_GT(png_summary.colours, 50u) << "the screenshot looks blank";
  const std::size_t listener_px = png_summary.counts.at(0x1E5A96), node_px = png_summary.counts.at(0x2C3E5C);
  EXPECT_GT(listener_px, 5000u) << "no listener box in the picture";
  EXPECT_GT(node_px, 3u * 5000u) << "fewer than three child boxes in the picture";
}

}  // namespace

namespace {

// The line of `trace::gate(GateKind::<gate>` in a server source file (1-based).
int gate_line(const std::string& file, const std::string& gate) {
  std::ifstream in(fs::path(SOCKSCOPE_SOURCE_DIR) / "engine" / "servers" / file);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n)
    if (line.find("trace::gate(GateKind::" + gate + ",") != std::string::npos ||
        line.find("trace::gate(GateKind::" + gate + ")") != std::string::npos)
      return n;
  return 0;
}

}  // namespace

// Issue 7: a fork server paused at its gates, two children parked; the app
// switches to the stepping layout and the code view shows a cursor for each
// child on the line of the gate where /proc says it sleeps.
TEST(GuiBinary, SteppedForkServerShowsTwoCursorsInTheCodeView) {
  TempDir dir;
  const fs::path png = dir / "stepped.png";
  const fs::path model = dir / "model.json";
  const fs::path script = dir / "stepped.script";
  // Both clients hold their connection 2 s before QUIT; pausing meanwhile
  // stops each child at its next gate once the QUIT arrives.
  std::ofstream(script) << "start fork port=0\n"
                           "clients 2 hold_ms=2000\n"
                           "wait children 2 timeout=20\n"
                           "step pause\n"
                           "wait ms 4000\n"
                           "dump-model "
                        << model.string()
                        << "\n"
                           "screenshot\n"
                           "wait ms 2000\n"
                           "step run\n"
                           "wait ms 500\n"
                           "quit\n";
  Proc app = run_on_screen(dir, "1600x900", script, png);
  ASSERT_TRUE(wait_for_file(app, model)) << "no model dump; stderr:\n" << slurp(dir / "err");
  nlohmann::json m = nlohmann::json::parse(slurp(model));
  const pid_t server = m.at("server_pid").get<pid_t>();
  EXPECT_EQ(m.at("layout"), "stepping") << "pausing did not switch to the stepping layout";

  // While the app holds them: the children are the kernel's, asleep.
  const std::set<pid_t> kernel_children = proc_children_of(server);
  ASSERT_EQ(kernel_children.size(), 2u);
  std::set<pid_t> cursor_pids;
  for (const auto& c : m.at("code_cursors")) {
    const auto pid = c.at("pid").get<pid_t>();
    const std::string gate = c.at("gate").get<std::string>();
    const std::string file = c.at("file").get<std::string>();
    if (pid == server) continue;  // the listener may stand at accept too
    cursor_pids.insert(pid);
    EXPECT_EQ(c.at("line").get<int>(), gate_line(file, gate)) << file << " gate " << gate;
    const auto stat = proc_stat(pid);
    ASSERT_TRUE(stat);
    EXPECT_EQ(stat->state, 'S') << "child " << pid << " parked at " << gate << " should be asleep on its futex";
  }
  EXPECT_EQ(cursor_pids, kernel_children) << m.at("code_cursors").dump();
  // The log agrees with the view: the same two are parked.
  std::set<pid_t> parked;
  for (const auto& p : m.at("parked"))
    if (p.at("pid").get<pid_t>() != server) parked.insert(p.at("pid").get<pid_t>());
  EXPECT_EQ(parked, kernel_children);

  ASSERT_TRUE(app.wait_for(60s)) << "the app did not exit";
  EXPECT_EQ(app.exit_code(), 0) << slurp(dir / "err");
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(process_exists(server));
  for (pid_t c : kernel_children) EXPECT_FALSE(process_exists(c)) << "child " << c << " still running";

  const auto png_summary = sockscope::gui_test::summarize_png(png);
  ASSERT_TRUE(png_summary.ok) << png_summary.error;
  EXPECT_EQ(png_summary.w, 1600);
  EXPECT_EQ(png_summary.h, 900);
  EXPECT_GT(png_summary.colours, 50u) << "the screenshot looks blank";
}
