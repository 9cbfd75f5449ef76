// The Compare window under Xvfb, driven by the script's `compare` verb: a
// real comparison of fork, thread and the event loop (and nginx when it is
// installed) at a projector's 1280x720 with 24 px text; the rows it kept,
// the compare layout's windows, the charts' PNG (bars in each server's
// colour) and the Markdown export; then a sweep, which draws line charts.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "compare/reference.h"
#include "gui/app_process.h"
#include "servers/architecture.h"
#include "views/style.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sockscope::gui_test::Proc;
using sockscope::gui_test::run_on_screen;
using sockscope::gui_test::slurp;
using sockscope::test::TempDir;
using sockscope::gui_test::wait_for_file;

// The dark theme's bar colour of architecture `name`, as 0xRRGGBB.
std::uint32_t bar_rgb(std::string_view name) {
  std::size_t i = 0;
  for (const auto& a : sockscope::servers::architectures()) {
    if (a.name == name) break;
    ++i;
  }
  const ImU32 c = sockscope::app::style::series_colour(i);  // IM_COL32: R in the low byte
  return ((c & 0xFF) << 16) | (c & 0xFF00) | ((c >> 16) & 0xFF);
}

TEST(CompareWindow, RunsAComparisonAndDrawsItsChartsAt1280x720) {
  TempDir dir;
  const bool nginx = sockscope::compare::unavailable_reason(*sockscope::compare::find_reference("nginx-1")).empty();
  const fs::path png = dir / "compare.png", charts = dir / "charts.png", md = dir / "table.md";
  const fs::path model = dir / "model.json", script = dir / "compare.script";
  std::ofstream(script) << "font-size 24\n"
                           "compare archs=fork,thread,evloop"
                        << (nginx ? " references=nginx-1" : "")
                        << " clients=6 scenario=held duration=1500\n"
                           "screenshot\n"
                           "dump-model " << model.string() << "\n"
                           "compare export " << charts.string() << "\n"
                           "compare export " << md.string() << "\n"
                           "quit\n";
  Proc app = run_on_screen(dir, "1280x720", script, png);
  ASSERT_TRUE(wait_for_file(app, model, 120s)) << slurp(dir / "err");
  ASSERT_TRUE(app.wait_for(60s));
  EXPECT_EQ(app.exit_code(), 0) << slurp(dir / "err");

  nlohmann::json m = nlohmann::json::parse(slurp(model));
  EXPECT_EQ(m.at("layout"), "compare");
  const auto& windows = m.at("windows");
  ASSERT_TRUE(windows.contains("compare")) << windows.dump();
  ASSERT_TRUE(windows.contains("tree")) << windows.dump();
  const auto area = [&](const char* k) { return windows[k][2].get<double>() * windows[k][3].get<double>(); };
  for (auto it = windows.begin(); it != windows.end(); ++it)
    if (it.key() != "compare") EXPECT_GT(area("compare"), area(it.key().c_str())) << it.key();

  ASSERT_EQ(m.at("compare_runs").size(), 1u);
  const auto& rows = m["compare_runs"][0]["rows"];
  ASSERT_EQ(rows.size(), nginx ? 4u : 3u) << rows.dump();
  for (const auto& r : rows) {
    EXPECT_EQ(r["status"], "ok") << r.dump();
    EXPECT_EQ(r["peak_open"], 6) << r.dump();
  }
  EXPECT_GE(rows[0]["peak_processes"].get<int>(), 7) << rows[0].dump();  // fork: server + 6 children
  EXPECT_EQ(rows[1]["peak_processes"], 1);                               // thread
  EXPECT_GE(rows[1]["peak_threads"].get<int>(), 7);

  // The charts' PNG: a picture of bars, each server's in its colour.
  const auto s = sockscope::gui_test::summarize_png(charts, {bar_rgb("fork"), bar_rgb("thread"), bar_rgb("evloop")});
  ASSERT_TRUE(s.ok) << s.error;
  EXPECT_LE(s.w, 1280);
  EXPECT_GT(s.h, 100);
  for (const char* name : {"fork", "thread", "evloop"})
    EXPECT_GT(s.counts.at(bar_rgb(name)), 300u) << name << "'s bars are missing from the charts";
  const std::string table = slurp(md);
  for (const char* name : {"**fork**", "**thread**", "**evloop**"}) EXPECT_NE(table.find(name), std::string::npos) << table;
  if (nginx) EXPECT_NE(table.find("nginx-1 (ref)"), std::string::npos) << table;
}

// A sweep over client counts: one row per server and count, and the charts
// are lines of cost against clients.
TEST(CompareWindow, ASweepKeepsARowPerServerAndCount) {
  TempDir dir;
  const fs::path png = dir / "sweep.png", model = dir / "model.json", script = dir / "sweep.script";
  std::ofstream(script) << "compare archs=thread,evloop clients=2,8 scenario=held duration=1000\n"
                           "screenshot\n"
                           "dump-model " << model.string() << "\n"
                           "quit\n";
  Proc app = run_on_screen(dir, "1600x900", script, png);
  ASSERT_TRUE(wait_for_file(app, model, 120s)) << slurp(dir / "err");
  ASSERT_TRUE(app.wait_for(60s));
  EXPECT_EQ(app.exit_code(), 0) << slurp(dir / "err");
  nlohmann::json m = nlohmann::json::parse(slurp(model));
  const auto& rows = m.at("compare_runs").at(0).at("rows");
  ASSERT_EQ(rows.size(), 4u) << rows.dump();
  // Rows come count by count: thread 2, evloop 2, thread 8, evloop 8.
  EXPECT_EQ(rows[0]["clients"], 2);
  EXPECT_EQ(rows[3]["clients"], 8);
  EXPECT_EQ(rows[2]["server"], "thread");
  EXPECT_GE(rows[2]["peak_threads"].get<int>(), 9);  // a thread per held connection, and main
  EXPECT_EQ(rows[3]["peak_threads"], 1);
  const auto s = sockscope::gui_test::summarize_png(png, {bar_rgb("thread"), bar_rgb("evloop")});
  ASSERT_TRUE(s.ok) << s.error;
  EXPECT_GT(s.counts.at(bar_rgb("thread")), 100u) << "no thread line";
  EXPECT_GT(s.counts.at(bar_rgb("evloop")), 100u) << "no evloop line";
}

}  // namespace

namespace {

// The run finishes and frees the lab even when the Compare window is not
// drawn: presenting the tree, the script's compare still completes.
TEST(CompareWindow, FinishesWhileAnotherViewIsPresented) {
  TempDir dir;
  const fs::path png = dir / "p.png", model = dir / "model.json", script = dir / "p.script";
  std::ofstream(script) << "present tree\n"
                           "compare archs=evloop clients=2 scenario=held duration=500 timeout=60\n"
                           "dump-model " << model.string() << "\n"
                           "start fork port=0\n"
                           "quit\n";
  Proc app = run_on_screen(dir, "1280x720", script, png);
  ASSERT_TRUE(wait_for_file(app, model, 90s)) << slurp(dir / "err");
  ASSERT_TRUE(app.wait_for(60s));
  // `start` after the comparison works: the lab is no longer busy.
  EXPECT_EQ(app.exit_code(), 0) << slurp(dir / "err");
  nlohmann::json m = nlohmann::json::parse(slurp(model));
  EXPECT_EQ(m.at("layout"), "present");
  ASSERT_EQ(m.at("compare_runs").size(), 1u);
  EXPECT_EQ(m["compare_runs"][0]["rows"][0]["status"], "ok");
}

}  // namespace
