// The layouts, computed for every screen and font a lecture hall has: the
// main picture (the tree in the overview, the flow when stepping) is the
// largest window and shows the server and four children unscrolled, every
// window lies inside the screen, and no two overlap. Pure: no ImGui context.
#include <gtest/gtest.h>

#include <cmath>

#include <string>
#include <vector>

#include "layout.h"
#include "views/tree_metrics.h"

namespace sockscope::app {
namespace {

struct Screen {
  float w, h;
};
constexpr Screen kScreens[] = {{1280, 720}, {1600, 900}, {1920, 1080}, {3840, 2160}};
constexpr float kFonts[] = {19, 24, 28};

// The area the shell gives the layout: below the menu bar and above the
// status bar (each about a line and its padding).
Rect area_of(Screen s, float fs) {
  const float menu = fs + 6.0f;
  const float status = fs + 8.0f + 16.0f;
  return Rect{0, menu, s.w, s.h - menu - status};
}

std::string where(Screen s, float fs, const LayoutInput& in) {
  std::string shown;
  for (const auto& w : kWindows)
    if (in.shown[index_of(w.id)]) shown += std::string(w.key) + " ";
  return std::to_string(static_cast<int>(s.w)) + "x" + std::to_string(static_cast<int>(s.h)) + " font " +
         std::to_string(static_cast<int>(fs)) + " " + std::string(layout_name(in.kind)) +
         (in.controls_collapsed ? " collapsed" : "") + ": " + shown;
}

// The windows each layout opens, with each combination of the
// architecture's own windows (event loop, threads) and the code view.
std::vector<LayoutInput> inputs_for(Rect area, float fs, LayoutKind kind) {
  std::vector<LayoutInput> out;
  for (int extra = 0; extra < 8; ++extra) {
    for (bool collapsed : {false, true}) {
      LayoutInput in;
      in.area = area;
      in.font_px = fs;
      in.kind = kind;
      in.controls_collapsed = collapsed;
      auto on = [&](WindowId id) { in.shown[index_of(id)] = true; };
      if (!collapsed) {
        on(WindowId::controls);
        on(WindowId::stepping);
      }
      on(WindowId::tree);
      if (kind == LayoutKind::overview) {
        for (auto id : {WindowId::connections, WindowId::events, WindowId::totals, WindowId::timeline}) on(id);
      } else {
        on(WindowId::code);
        on(WindowId::flow);
      }
      if (extra & 1) on(WindowId::event_loop);
      if (extra & 2) on(WindowId::threads);
      if (extra & 4) on(kind == LayoutKind::overview ? WindowId::code : WindowId::events);
      out.push_back(in);
    }
  }
  return out;
}

void expect_sound(const LayoutInput& in, const LayoutResult& r, const std::string& at) {
  for (const auto& w : kWindows) {
    const Rect& a = r[w.id];
    if (!in.shown[index_of(w.id)]) {
      EXPECT_TRUE(a.empty()) << at << w.key << " is placed but not shown";
      continue;
    }
    ASSERT_FALSE(a.empty()) << at << w.key << " is shown but has no place";
    EXPECT_TRUE(in.area.contains(a)) << at << w.key << " leaves the window";
    EXPECT_GE(a.h, in.font_px * 3.0f) << at << w.key << " is too short for a title and a line";
    for (const auto& o : kWindows) {
      if (o.id <= w.id) continue;
      EXPECT_FALSE(a.overlaps(r[o.id])) << at << w.key << " overlaps " << o.key;
    }
    EXPECT_FALSE(a.overlaps(r.strip)) << at << w.key << " overlaps the collapsed controls";
  }
}

TEST(Layout, OverviewGivesTheTreeTheLargestAreaWithRoomForFourChildren) {
  for (Screen s : kScreens) {
    for (float fs : kFonts) {
      for (const LayoutInput& in : inputs_for(area_of(s, fs), fs, LayoutKind::overview)) {
        const std::string at = where(s, fs, in) + "\n  ";
        const LayoutResult r = compute_layout(in);
        expect_sound(in, r, at);
        const Rect& tree = r[WindowId::tree];
        for (const auto& w : kWindows) {
          if (w.id != WindowId::tree) { EXPECT_GT(tree.area(), r[w.id].area()) << at << w.key << " is larger than the tree"; }
        }
        EXPECT_GE(tree.w, tree_window_min_width(fs, TreeDetail::compact, 4)) << at << "tree too narrow";
        EXPECT_GE(tree.h, tree_window_min_height(fs, TreeDetail::compact)) << at << "tree too short";
      }
    }
  }
}

TEST(Layout, SteppingGivesTheFlowTheLargestArea) {
  for (Screen s : kScreens) {
    for (float fs : kFonts) {
      for (const LayoutInput& in : inputs_for(area_of(s, fs), fs, LayoutKind::stepping)) {
        const std::string at = where(s, fs, in) + "\n  ";
        const LayoutResult r = compute_layout(in);
        expect_sound(in, r, at);
        const Rect& flow = r[WindowId::flow];
        for (const auto& w : kWindows) {
          if (w.id != WindowId::flow) { EXPECT_GT(flow.area(), r[w.id].area()) << at << w.key << " is larger than the flow"; }
        }
        // The tree still shows the server and the child being stepped.
        EXPECT_GE(r[WindowId::tree].w, tree_window_min_width(fs, TreeDetail::compact, 2)) << at;
        EXPECT_GE(r[WindowId::tree].h, tree_window_min_height(fs, TreeDetail::compact)) << at;
      }
    }
  }
}

// The compare layout: the Compare window, the largest, beside a column with
// the tree (over the totals) wide enough for the server and a child.
TEST(Layout, CompareGivesTheCompareWindowTheLargestAreaBesideTheLiveTree) {
  for (Screen s : kScreens) {
    for (float fs : kFonts) {
      LayoutInput in;
      in.area = area_of(s, fs);
      in.font_px = fs;
      in.kind = LayoutKind::compare;
      for (const auto& w : kWindows) in.shown[index_of(w.id)] = w.compare != Slot::none;
      const std::string at = where(s, fs, in) + "\n  ";
      const LayoutResult r = compute_layout(in);
      expect_sound(in, r, at);
      const Rect& cmp = r[WindowId::compare];
      for (const auto& w : kWindows)
        if (w.id != WindowId::compare) { EXPECT_GT(cmp.area(), r[w.id].area()) << at << w.key << " is larger"; }
      EXPECT_GE(r[WindowId::tree].w, std::min(tree_window_min_width(fs, TreeDetail::compact, 2), in.area.w * 0.34f) - 0.5f)
          << at;
      EXPECT_EQ(cmp.x + cmp.w, in.area.x + in.area.w) << at;
    }
  }
}

TEST(Layout, PresentationFillsTheWindowWithOneView) {
  for (Screen s : kScreens) {
    for (float fs : kFonts) {
      for (const auto& w : kWindows) {
        if (w.present_key == 0) continue;
        LayoutInput in;
        in.area = Rect{0, 0, s.w, s.h};
        in.font_px = fs;
        in.kind = LayoutKind::present;
        in.shown.fill(true);
        in.shown[index_of(WindowId::lesson)] = false;  // see ALessonTakesTheRightColumnInEveryLayout
        in.presented = w.id;
        const LayoutResult r = compute_layout(in);
        EXPECT_EQ(r[w.id], in.area) << w.key;
        for (const auto& o : kWindows)
          if (o.id != w.id) { EXPECT_TRUE(r[o.id].empty()) << o.key << " shown while presenting " << w.key; }
        EXPECT_TRUE(in.area.contains(r.legend));
        EXPECT_EQ(window_for_key(w.present_key), w.id);
      }
    }
  }
}

// A lesson's panel: a full-height column along the right edge in every
// layout (presentation mode too), as wide as lesson_column_width(); the rest
// is laid out as usual in what is left, and the picture stays the largest
// window beside the lesson, wide enough for the server and two children.
TEST(Layout, ALessonTakesTheRightColumnInEveryLayout) {
  for (Screen s : kScreens) {
    for (float fs : kFonts) {
      for (LayoutKind kind : {LayoutKind::overview, LayoutKind::stepping, LayoutKind::present}) {
        for (LayoutInput in : inputs_for(area_of(s, fs), fs, kind == LayoutKind::present ? LayoutKind::overview : kind)) {
          in.kind = kind;
          // What the app shows with a lesson open: the lists make way.
          for (auto id : {WindowId::connections, WindowId::events, WindowId::timeline}) in.shown[index_of(id)] = false;
          if (kind == LayoutKind::present) {
            in.shown.fill(false);
            in.presented = WindowId::tree;
            in.shown[index_of(WindowId::tree)] = true;
          }
          in.shown[index_of(WindowId::lesson)] = true;
          const std::string at = where(s, fs, in) + "\n  ";
          const LayoutResult r = compute_layout(in);
          expect_sound(in, r, at);
          const Rect& lesson = r[WindowId::lesson];
          EXPECT_EQ(lesson.x + lesson.w, in.area.x + in.area.w) << at;
          EXPECT_EQ(lesson.y, in.area.y) << at;
          EXPECT_EQ(lesson.h, in.area.h) << at;
          EXPECT_EQ(lesson.w, lesson_column_width(fs, in.area.w)) << at;
          EXPECT_LE(lesson.w, in.area.w / 3.0f + 1.0f) << at;
          const WindowId main = kind == LayoutKind::stepping ? WindowId::flow : WindowId::tree;
          for (const auto& w : kWindows)
            if (w.id != main && w.id != WindowId::lesson) {
              EXPECT_GT(r[main].area(), r[w.id].area()) << at << w.key << " is larger than " << window_spec(main).key;
            }
          // One squeeze: stepping at 1280 px with 28 px text, the controls
          // open and the code beside the tree leaves the tree short of two
          // children (it folds them); Tab collapses the controls.
          const bool squeezed = kind == LayoutKind::stepping && s.w <= 1280 && fs >= 28 && !in.controls_collapsed;
          if (!squeezed) { EXPECT_GE(r[WindowId::tree].w, tree_window_min_width(fs, TreeDetail::compact, 2)) << at; }
          if (kind == LayoutKind::present) {
            EXPECT_EQ(r[WindowId::tree].w + lesson.w, in.area.w) << at;
            EXPECT_TRUE(r[WindowId::tree].contains(r.legend)) << at << "the legend leaves the picture";
          }
        }
      }
    }
  }
}

TEST(Layout, TheWindowTableIsConsistent) {
  for (std::size_t i = 0; i < kWindows.size(); ++i) {
    const auto& w = kWindows[i];
    EXPECT_EQ(index_of(w.id), i) << w.key;
    EXPECT_EQ(window_from_key(w.key), w.id);
    EXPECT_TRUE(w.imgui_id.starts_with("###")) << w.key;
    EXPECT_FALSE(w.name.empty());
    for (std::size_t j = i + 1; j < kWindows.size(); ++j) {
      EXPECT_NE(w.key, kWindows[j].key);
      EXPECT_NE(w.imgui_id, kWindows[j].imgui_id);
      if (w.present_key != 0) { EXPECT_NE(w.present_key, kWindows[j].present_key); }
    }
  }
  for (auto k : {LayoutKind::overview, LayoutKind::stepping, LayoutKind::present})
    EXPECT_EQ(layout_from_name(layout_name(k)), k);
  EXPECT_FALSE(layout_from_name("tiled"));
}

}  // namespace
}  // namespace sockscope::app
