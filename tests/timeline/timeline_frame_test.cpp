// The timeline drawn headless: an ImGui context with no window (display size
// set by hand, font atlas built on the CPU), the whole app frame drawn over a
// recorded session of 1,000,000 events, zoomed out and in; the selected
// instant drives the other views; replay controls step event by event; File →
// Open refuses a bad file with its line and reason.
#include <gtest/gtest.h>
#include "gui/headless_imgui.h"
#include <imgui.h>
#include <imgui_internal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "app_ui.h"
#include "fonts.h"
#include "recorded_session.h"
#include "session/export.h"
#include "support/temp_dir.h"

namespace sockscope::app {
namespace {

using Clock = std::chrono::steady_clock;

class TimelineFrame : public gui_test::HeadlessImGuiTest {
 protected:

  // Draws `frames` frames with the mouse sweeping the timeline strip (so
  // tooltips and hit tests run); returns the median frame time in ms.
  double draw_frames(AppUi& ui, const session::Session& s, int frames) {
    std::vector<double> times;
    for (int f = 0; f < frames; ++f) {
      ImGuiIO& io = ImGui::GetIO();
      io.MousePos = ImVec2(static_cast<float>(600 + (f * 37) % 1000), static_cast<float>(700 + (f * 13) % 180));
      const auto start = Clock::now();
      ImGui::NewFrame();
      FrameContext ctx{s, s.model(), s.last_ns(), nullptr, 60.0};
      ui.draw(ctx);
      ImGui::Render();
      times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  }
};

TEST_F(TimelineFrame, MillionEventsZoomedOutAndIn) {
  gui_test::RecordedShape shape;
  shape.extra_io_events = 1'000'000;
  session::Session s = gui_test::make_recorded_session(shape);
  ASSERT_GE(s.events().size(), 1'000'000u);
  AppUi ui;
  // The first frame builds the timeline index over the whole store.
  draw_frames(ui, s, 2);
  ImGuiWindow* tw = ImGui::FindWindowByName("###timeline");
  ASSERT_NE(tw, nullptr);
  EXPECT_TRUE(tw->WasActive);
  EXPECT_EQ(ui.timeline().index().events_indexed(), s.events().size());

  const double zoomed_out = draw_frames(ui, s, 30);
  const auto& out = ui.timeline().last_layout();
  EXPECT_GT(out.folded_events, 0u) << "zoomed out, a million events must fold";
  EXPECT_FALSE(out.lanes.empty());
  EXPECT_LT(out.markers.size(), 20'000u);
  EXPECT_LT(zoomed_out, 200.0);  // generous: shared machine, maybe a sanitizer

  // Zoomed in to 50 µs in the middle.
  const std::uint64_t mid = s.first_ns() + (s.last_ns() - s.first_ns()) / 2;
  ui.timeline().set_range(mid, mid + 50'000);
  const double zoomed_in = draw_frames(ui, s, 30);
  EXPECT_EQ(ui.timeline().range_t1() - ui.timeline().range_t0(), 50'000u);
  EXPECT_EQ(ui.timeline().last_layout().folded_events, 0u);
  EXPECT_LT(zoomed_in, 200.0);
  std::printf("timeline frame over %zu events: zoomed out %.2f ms, zoomed in %.2f ms (median)\n", s.events().size(),
              zoomed_out, zoomed_in);
}

TEST_F(TimelineFrame, SelectedInstantDrivesTheOtherViews) {
  session::Session s = gui_test::make_recorded_session(gui_test::RecordedShape{});
  AppUi ui;
  draw_frames(ui, s, 3);
  EXPECT_EQ(ui.shown_at_ns(), s.model().at_ns);
  // Before the first fork: the tree has no children at that instant.
  std::uint64_t before_fork = s.first_ns();
  for (const auto& e : s.events())
    if (e.kind == trace::Kind::fork) {
      before_fork = e.ts_ns - 1;
      break;
    }
  ui.timeline().set_instant(before_fork);
  {
    const session::Model m = s.fold(before_fork);
    int kids = 0;
    for (const auto& p : m.processes) kids += p.ppid == gui_test::kServerPid && p.alive();
    EXPECT_EQ(kids, 0) << "fold(" << before_fork << ") of " << s.first_ns() << ".." << s.last_ns();
  }
  draw_frames(ui, s, 3);
  EXPECT_TRUE(ui.timeline().instant().has_value());
  // Every view drew the fold at the instant (ImGui 1.86 keeps a window's
  // first title in ImGuiWindow::Name, so titles cannot be compared here).
  EXPECT_EQ(ui.shown_at_ns(), before_fork);
  // Back to the end (live): the end picture again.
  ui.timeline().set_instant(std::nullopt);
  draw_frames(ui, s, 3);
  EXPECT_EQ(ui.shown_at_ns(), s.model().at_ns);
}

TEST_F(TimelineFrame, ReplayControlsStepEventByEventAndPlay) {
  session::Session s = gui_test::make_recorded_session(gui_test::RecordedShape{});
  const auto& ev = s.events();
  AppUi ui;
  TimelineView& t = ui.timeline();
  // Step back from the end: the last timestamp before the end.
  t.step(s, -1);
  ASSERT_TRUE(t.instant().has_value());
  EXPECT_LT(*t.instant(), s.last_ns());
  const std::size_t shown = s.lower_bound(*t.instant() + 1);
  EXPECT_LT(shown, ev.size());
  // Forward again: one timestamp later, then the end (no instant).
  std::uint64_t prev = *t.instant();
  t.step(s, -1);
  t.step(s, +1);
  EXPECT_EQ(*t.instant(), prev);
  while (t.instant()) t.step(s, +1);
  EXPECT_FALSE(t.instant().has_value());
  // Play from the end starts over, and moves with time.
  t.set_speed(1.0);
  t.play(s);
  ASSERT_TRUE(t.instant().has_value());
  EXPECT_EQ(*t.instant(), s.first_ns());
  t.tick(s, 0.010);
  EXPECT_EQ(*t.instant(), s.first_ns() + 10'000'000);
  t.pause();
  t.tick(s, 1.0);
  EXPECT_EQ(*t.instant(), s.first_ns() + 10'000'000);
  // Playing past the end lands on the end.
  t.play(s);
  t.tick(s, 1e6);
  EXPECT_FALSE(t.instant().has_value());
  EXPECT_FALSE(t.playing());
}

// An empty session (the app just opened, nothing started) has nothing to
// measure: no axis (it used to run from +0 to "now", the machine's uptime),
// a hint instead. The first event brings the axis back, spanning the events.
TEST(TimelineAxis, NoEventsMeansNoAxis) {
  const std::uint64_t uptime_now = 10'000'000'000'000ull;  // 10000 s, what the bogus axis showed
  session::Session empty;
  EXPECT_FALSE(timeline_axis_range(empty, uptime_now, true).has_value());
  EXPECT_FALSE(timeline_axis_range(empty, 0, false).has_value());
  // A /proc snapshot alone is not an event: still no axis.
  const session::Session recorded = gui_test::make_recorded_session(gui_test::RecordedShape{});
  ASSERT_FALSE(recorded.snapshots().empty());
  session::Session snapshots_only;
  snapshots_only.add_snapshot(recorded.snapshots().front());
  EXPECT_FALSE(timeline_axis_range(snapshots_only, uptime_now, true).has_value());

  // With events: first to last (a recording), first to now (live).
  auto r = timeline_axis_range(recorded, uptime_now, false);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first_ns, recorded.first_ns());
  EXPECT_EQ(r->end_ns, recorded.last_ns());
  r = timeline_axis_range(recorded, recorded.last_ns() + 1'000'000'000, true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first_ns, recorded.first_ns());
  EXPECT_EQ(r->end_ns, recorded.last_ns() + 1'000'000'000);
  // Live, the end never falls before the newest event (clocks read late).
  r = timeline_axis_range(recorded, recorded.first_ns(), true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->end_ns, recorded.last_ns());
}

TEST_F(TimelineFrame, EmptySessionDrawsTheHintNotAnAxis) {
  session::Session s;
  AppUi ui;
  draw_frames(ui, s, 3);
  ImGuiWindow* tw = ImGui::FindWindowByName("###timeline");
  ASSERT_NE(tw, nullptr);
  EXPECT_TRUE(tw->WasActive);
  EXPECT_FALSE(ui.timeline().last_axis().has_value());
  EXPECT_TRUE(ui.timeline().last_layout().spans.empty());
  EXPECT_TRUE(ui.timeline().last_layout().lanes.empty());

  // Events arrive: the axis spans them, lanes appear.
  session::Session recorded = gui_test::make_recorded_session(gui_test::RecordedShape{});
  draw_frames(ui, recorded, 3);
  ASSERT_TRUE(ui.timeline().last_axis().has_value());
  EXPECT_EQ(ui.timeline().last_axis()->first_ns, recorded.first_ns());
  EXPECT_EQ(ui.timeline().last_axis()->end_ns, recorded.last_ns());
  EXPECT_FALSE(ui.timeline().last_layout().lanes.empty());
  // The fitted view is the events' span, not seconds of uptime.
  EXPECT_EQ(ui.timeline().range_t0(), recorded.first_ns());
  EXPECT_EQ(ui.timeline().range_t1(), recorded.last_ns());
}

TEST_F(TimelineFrame, OpenRefusesABadFileWithItsLineAndOpensAGoodOne) {
  session::Session s = gui_test::make_recorded_session(gui_test::RecordedShape{});
  const test::TempDir dir("sockscope-open");
  std::string error;
  ASSERT_TRUE(session::write_jsonl(s, dir / "good.jsonl", error)) << error;
  // Corrupt the third line.
  std::ifstream in(dir / "good.jsonl");
  std::ofstream bad(dir / "bad.jsonl");
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) bad << (n == 3 ? std::string("{\"t\": oops") : line) << "\n";
  bad.close();

  OpenSessionDialog dialog;
  std::optional<session::Session> opened;
  std::string title;
  EXPECT_FALSE(dialog.open((dir / "bad.jsonl").string(), opened, title));
  EXPECT_FALSE(opened.has_value());
  EXPECT_NE(dialog.error().find("line 3"), std::string::npos) << dialog.error();
  EXPECT_FALSE(dialog.open((dir / "missing.jsonl").string(), opened, title));
  EXPECT_FALSE(opened.has_value());
  EXPECT_TRUE(dialog.open((dir / "good.jsonl").string(), opened, title)) << dialog.error();
  ASSERT_TRUE(opened.has_value());
  EXPECT_TRUE(opened->same_store(s));
  EXPECT_TRUE(dialog.error().empty());
}

}  // namespace
}  // namespace sockscope::app
