// The app as a lecture hall sees it: the real binary under Xvfb at a
// projector's 1280x720 with text at 28 px, and at 1920x1080 with 300 forked
// children. The scripts drive the same code as the keys and menus (layout,
// presentation mode); dump-model reports the window rectangles and the
// tree's folded nodes, which are checked against the kernel while the app
// still holds the run.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "gui/app_process.h"
#include "support/proc.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using sockscope::gui_test::Proc;
using sockscope::gui_test::run_on_screen;
using sockscope::gui_test::process_exists;
using sockscope::gui_test::wait_for_file;
using sockscope::gui_test::slurp;
using sockscope::test::TempDir;

// Live children of `parent` in the kernel's process table, and how many of
// them are zombies.
void kernel_children(pid_t parent, int& alive, int& zombies) {
  alive = zombies = 0;
  for (const auto& c : sockscope::test::proc_children(parent)) (c.state == 'Z' ? zombies : alive) += 1;
}

struct R {
  double x, y, w, h;
};
R rect(const nlohmann::json& windows, const char* key) {
  const auto& r = windows.at(key);
  return {r[0].get<double>(), r[1].get<double>(), r[2].get<double>(), r[3].get<double>()};
}

// The windows drawn do not overlap, and `main` has the largest area.
void expect_main_largest(const nlohmann::json& windows, const char* main) {
  const R m = rect(windows, main);
  for (auto it = windows.begin(); it != windows.end(); ++it) {
    const R o = rect(windows, it.key().c_str());
    if (it.key() != main) EXPECT_GT(m.w * m.h, o.w * o.h) << it.key() << " is larger than " << main;
    for (auto jt = std::next(it); jt != windows.end(); ++jt) {
      const R p = rect(windows, jt.key().c_str());
      const bool apart = o.x + o.w <= p.x + 0.5 || p.x + p.w <= o.x + 0.5 || o.y + o.h <= p.y + 0.5 || p.y + p.h <= o.y + 0.5;
      EXPECT_TRUE(apart) << it.key() << " overlaps " << jt.key();
    }
  }
}

// The zombie lesson on a projector: reaping off, three clients come and
// go, three zombies stay. The tree is the largest window and shows the
// server and all three; then presentation mode shows the tree alone.
TEST(Projector, ZombieLessonAt1280x720WithLargeText) {
  TempDir dir;
  const fs::path png = dir / "zombies.png", present_png = dir / "present.png";
  const fs::path model = dir / "model.json", present_model = dir / "present.json";
  const fs::path script = dir / "zombies.script";
  std::ofstream(script) << "font-size 28\n"
                           "start fork port=0 reap=off\n"
                           "clients 3\n"
                           "wait ms 2500\n"
                           "screenshot\n"
                           "dump-model " << model.string() << "\n"
                           "present tree\n"
                           "wait ms 300\n"
                           "screenshot " << present_png.string() << "\n"
                           "dump-model " << present_model.string() << "\n"
                           "wait ms 2000\n"
                           "quit\n";
  Proc app = run_on_screen(dir, "1280x720", script, png);
  ASSERT_TRUE(wait_for_file(app, model, 90s)) << slurp(dir / "err");
  nlohmann::json m = nlohmann::json::parse(slurp(model));
  const pid_t server = m.at("server_pid").get<pid_t>();
  ASSERT_GT(server, 0);
  EXPECT_EQ(m.at("layout"), "overview");
  EXPECT_EQ(m.at("font_px").get<double>(), 28.0);
  const auto& windows = m.at("windows");
  expect_main_largest(windows, "tree");
  // The server and its three zombies are all drawn, none folded away.
  EXPECT_EQ(m.at("tree").at("nodes").get<int>(), 4) << m.at("tree").dump();
  EXPECT_TRUE(m.at("tree").at("folded").empty());
  EXPECT_EQ(m.at("counts").at("zombies_now").get<int>(), 3);

  ASSERT_TRUE(wait_for_file(app, present_model, 90s)) << slurp(dir / "err");
  nlohmann::json p = nlohmann::json::parse(slurp(present_model));
  EXPECT_EQ(p.at("layout"), "present");
  const auto& shown = p.at("windows");
  ASSERT_EQ(shown.size(), 1u) << shown.dump();
  const R tree = rect(shown, "tree");
  EXPECT_EQ(tree.x, 0);
  EXPECT_EQ(tree.y, 0);
  EXPECT_EQ(tree.w, 1280);
  EXPECT_EQ(tree.h, 720);
  EXPECT_GT(p.at("font_px").get<double>(), 28.0) << "presentation mode enlarges the text";
  // The kernel agrees while the app still holds the server.
  int alive = 0, zombies = 0;
  kernel_children(server, alive, zombies);
  EXPECT_EQ(zombies, 3);

  ASSERT_TRUE(app.wait_for(60s));
  EXPECT_EQ(app.exit_code(), 0) << slurp(dir / "err");
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(process_exists(server));

  // Zombie boxes (the dark theme's zombie fill) fill real area in both pictures.
  for (const fs::path& pic : {png, present_png}) {
    const auto s = sockscope::gui_test::summarize_png(pic, {0xC81E1E, 0x1E5A96});
    ASSERT_TRUE(s.ok) << s.error;
    EXPECT_EQ(s.w, 1280);
    EXPECT_EQ(s.h, 720);
    EXPECT_GT(s.counts.at(0xC81E1E), 3u * 4000u) << pic << ": fewer than three zombie boxes";
    EXPECT_GT(s.counts.at(0x1E5A96), 4000u) << pic << ": no listener box";
  }
}

// 300 children: the tree shows as many as fit and folds the rest into one
// node that counts them; shown plus folded is what the kernel lists.
TEST(Projector, ThreeHundredChildrenFoldIntoOneNodeAt1920x1080) {
  TempDir dir;
  const fs::path png = dir / "many.png", model = dir / "model.json";
  const fs::path script = dir / "many.script";
  std::ofstream(script) << "start fork port=0 max_children=400\n"
                           "clients 300 preset=burst hold_ms=60000\n"
                           "wait children 300 timeout=90\n"
                           "wait ms 1500\n"
                           "screenshot\n"
                           "dump-model " << model.string() << "\n"
                           "wait ms 3000\n"
                           "quit\n";
  Proc app = run_on_screen(dir, "1920x1080", script, png);
  ASSERT_TRUE(wait_for_file(app, model, 150s)) << slurp(dir / "err");
  nlohmann::json m = nlohmann::json::parse(slurp(model));
  const pid_t server = m.at("server_pid").get<pid_t>();
  ASSERT_GT(server, 0);
  int alive = 0, zombies = 0;
  kernel_children(server, alive, zombies);
  const auto& tree = m.at("tree");
  ASSERT_EQ(tree.at("folded").size(), 1u) << tree.dump();
  const auto& fold = tree.at("folded")[0];
  EXPECT_EQ(fold.at("parent").get<pid_t>(), server);
  const int shown_children = tree.at("nodes").get<int>() - 2;  // less the server and the folded node
  EXPECT_GE(shown_children, 4);
  EXPECT_EQ(shown_children + fold.at("processes").get<int>(), 300) << tree.dump();
  EXPECT_EQ(alive + zombies, 300);
  EXPECT_GT(fold.at("pss_kb").get<std::uint64_t>(), 0u);
  expect_main_largest(m.at("windows"), "tree");
  EXPECT_TRUE(m.at("windows").contains("totals"));

  ASSERT_TRUE(app.wait_for(90s));
  EXPECT_EQ(app.exit_code(), 0) << slurp(dir / "err");
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(process_exists(server));
  const auto s = sockscope::gui_test::summarize_png(png);
  ASSERT_TRUE(s.ok) << s.error;
  EXPECT_EQ(s.w, 1920);
  EXPECT_EQ(s.h, 1080);
}

}  // namespace
