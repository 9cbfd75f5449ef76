// Lessons in the real app under Xvfb, at a projector's 1280x720 with 24 px
// text: the Start-here list, and the first steps of three lessons in the
// right-hand column, inside the screen and beside (not over) the picture. A
// prediction is answered, its step runs, and the value revealed is the one
// the session and /proc gave; File > Export writes the lesson's summary
// beside the session.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "gui/app_process.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sockscope::gui_test::Proc;
using sockscope::gui_test::run_on_screen;
using sockscope::gui_test::slurp;
using sockscope::gui_test::summarize_png;
using sockscope::test::TempDir;
using sockscope::gui_test::wait_for_file;

struct Box {
  double x, y, w, h;
};
Box box(const nlohmann::json& r) { return {r[0].get<double>(), r[1].get<double>(), r[2].get<double>(), r[3].get<double>()}; }
bool overlaps(Box a, Box b) { return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h; }

TEST(LessonWindow, StartHereListsEveryLessonAt1280x720) {
  TempDir dir;
  const fs::path png = dir / "start.png", model = dir / "model.json", script = dir / "s.script";
  std::ofstream(script) << "font-size 24\nstart-here open\nscreenshot\ndump-model " << model.string() << "\nquit\n";
  Proc app = run_on_screen(dir, "1280x720", script, png);
  ASSERT_TRUE(wait_for_file(app, model, 60s)) << slurp(dir / "err");
  ASSERT_TRUE(app.wait_for(30s));
  EXPECT_EQ(app.exit_code(), 0) << slurp(dir / "err");
  nlohmann::json m = nlohmann::json::parse(slurp(model));
  EXPECT_TRUE(m.at("start_here").get<bool>());
  const Box r = box(m.at("start_here_rect"));
  EXPECT_GE(r.x, 0);
  EXPECT_GE(r.y, 0);
  EXPECT_LE(r.x + r.w, 1280);
  EXPECT_LE(r.y + r.h, 720);
  EXPECT_GE(r.w, 1280 * 0.8);  // a list to read from the back row
  const auto png_info = summarize_png(png);
  ASSERT_TRUE(png_info.ok);
  EXPECT_EQ(png_info.w, 1280);
  EXPECT_GT(png_info.colours, 20u);  // text, not a blank window
}

// The first step of three lessons, and the fork lesson's first reveal.
TEST(LessonWindow, ThreeLessonsOpenBesideThePicture) {
  for (const std::string name : {"fork", "zombies", "serial"}) {
    SCOPED_TRACE(name);
    TempDir dir;
    const fs::path png = dir / (name + ".png"), model = dir / "model.json";
    const fs::path revealed = dir / "revealed.json", session = dir / "s.jsonl", script = dir / "s.script";
    std::ofstream out(script);
    out << "font-size 24\nlesson open " << name << "\nlesson wait-step 1\nwait ms 400\nscreenshot\n"
        << "dump-model " << model.string() << "\n";
    if (name == "fork") {
      // Step 2 asks before its clients connect; answer the third choice.
      out << "lesson next\nlesson wait-step 2\nlesson answer 3\nlesson wait-step 2 timeout=40\n"
          << "dump-model " << revealed.string() << "\nexport jsonl " << session.string() << "\n";
    }
    out << "quit\n";
    out.close();
    Proc app = run_on_screen(dir, "1280x720", script, png);
    ASSERT_TRUE(wait_for_file(app, model, 60s)) << slurp(dir / "err");
    ASSERT_TRUE(app.wait_for(90s));
    ASSERT_EQ(app.exit_code(), 0) << slurp(dir / "err");

    nlohmann::json m = nlohmann::json::parse(slurp(model));
    ASSERT_TRUE(m.at("lesson").is_object()) << m.dump();
    EXPECT_EQ(m["lesson"]["name"], name);
    EXPECT_EQ(m["lesson"]["current"], 0);
    const auto& windows = m.at("windows");
    ASSERT_TRUE(windows.contains("lesson")) << windows.dump();
    const Box lesson = box(windows["lesson"]);
    EXPECT_NEAR(lesson.x + lesson.w, 1280, 1.0);
    EXPECT_GE(lesson.w, 24 * 13);  // a dozen words a line at 24 px
    EXPECT_LE(lesson.w, 1280 / 3.0 + 1);
    for (auto it = windows.begin(); it != windows.end(); ++it) {
      if (it.key() == "lesson") continue;
      const Box b = box(it.value());
      EXPECT_FALSE(overlaps(lesson, b)) << it.key();
      EXPECT_LE(b.x + b.w, 1280) << it.key();
      EXPECT_LE(b.y + b.h, 720) << it.key();
    }
    // The picture stays the largest thing beside the lesson.
    ASSERT_TRUE(windows.contains("tree"));
    const Box tree = box(windows["tree"]);
    for (auto it = windows.begin(); it != windows.end(); ++it)
      if (it.key() != "tree" && it.key() != "lesson") EXPECT_GT(tree.w * tree.h, box(it.value()).w * box(it.value()).h) << it.key();

    if (name == "fork") {
      nlohmann::json r = nlohmann::json::parse(slurp(revealed));
      const auto& step = r["lesson"]["steps"][1];
      EXPECT_TRUE(step["answered"].get<bool>()) << step.dump();
      EXPECT_EQ(step["choice"], 2);
      ASSERT_TRUE(step["revealed"].get<bool>()) << step.dump();
      ASSERT_TRUE(step["known"].get<bool>()) << step.dump();
      // Held clients: the server and one child each, as the model saw them.
      int alive = 0;
      for (const auto& p : r.at("processes"))
        if (p["role"] != "client_sim" && p["alive"].get<bool>() && p["in_proc"].get<bool>()) ++alive;
      EXPECT_EQ(step["value"].get<int>(), alive) << r["processes"].dump();
      // The summary travels with the export.
      const std::string summary = slurp(session.string() + ".lesson.md");
      EXPECT_NE(summary.find("Process per connection"), std::string::npos) << summary;
      EXPECT_NE(summary.find("Measured: **" + step["shown"].get<std::string>()), std::string::npos) << summary;
    }
  }
}

}  // namespace
