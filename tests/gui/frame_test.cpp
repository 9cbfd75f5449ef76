// The headless frame test: an ImGui context with no platform or renderer
// backend (display size set by hand, font atlas built on the CPU), every view
// drawn for many frames against an empty session, a recorded one and a huge
// one. ImGui's own checks (Begin/End pairing, ID and font stacks) run inside
// libimgui and abort the test if a view breaks them.
#include <gtest/gtest.h>
#include <imgui.h>
#include <imgui_internal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <cstdio>
#include <sstream>
#include <string>

#include "app_ui.h"
#include "fonts.h"
#include "gui/headless_imgui.h"
#include "lab_controller.h"
#include "recorded_session.h"
#include "script.h"
#include "settings.h"
#include "support/events.h"
#include "support/temp_dir.h"
#include "trace/ring.h"
#include "views/event_log_view.h"
#include "views/process_tree_view.h"

namespace sockscope::app {
namespace {

using gui_test::kServerPid;
using gui_test::make_recorded_session;
using gui_test::RecordedShape;

class HeadlessImGui : public gui_test::HeadlessImGuiTest {
 protected:

  // Draws `frames` frames; the mouse sweeps the window so tooltips and hover
  // paths run too. Returns the vertex count of the last frame.
  int draw_frames(AppUi& ui, const session::Session& s, std::uint64_t now_ns, int frames,
                  LabController* lab = nullptr) {
    int vertices = 0;
    for (int f = 0; f < frames; ++f) {
      ImGuiIO& io = ImGui::GetIO();
      io.MousePos = ImVec2(static_cast<float>((f * 37) % 1600), static_cast<float>((f * 23) % 900));
      ImGui::NewFrame();
      FrameContext ctx{s, s.model(), now_ns, lab, 60.0};
      ui.draw(ctx);
      ImGui::Render();
      vertices = ImGui::GetDrawData()->TotalVtxCount;
    }
    return vertices;
  }

  static ImGuiWindow* window(const char* id) { return ImGui::FindWindowByName(id); }
};

TEST_F(HeadlessImGui, EmptySessionDrawsEveryWindow) {
  AppUi ui;
  session::Session empty;
  int vertices = draw_frames(ui, empty, 0, 120);
  EXPECT_GT(vertices, 1000);
  for (const char* id : {"###controls", "###process_tree", "###connections", "###event_log", "##status_bar"}) {
    ImGuiWindow* w = window(id);
    ASSERT_NE(w, nullptr) << id;
    EXPECT_TRUE(w->WasActive) << id;
  }
}

TEST_F(HeadlessImGui, RecordedSessionShowsTheTreeAndCounts) {
  AppUi ui;
  session::Session s = make_recorded_session({});
  const auto& m = s.model();
  ASSERT_EQ(m.counts.zombies_now, 1u);
  draw_frames(ui, s, s.last_ns(), 200);
  // Titles carry the live counts: the tree saw 3 live children and 1 zombie.
  ImGuiWindow* tree = window("###process_tree");
  ASSERT_NE(tree, nullptr);
  EXPECT_NE(std::string(tree->Name).find("3 children, 1 zombie "), std::string::npos) << tree->Name;
  ImGuiWindow* conns = window("###connections");
  ASSERT_NE(conns, nullptr);
  EXPECT_NE(std::string(conns->Name).find("3 open, 6 total"), std::string::npos) << conns->Name;

  // Both themes, and every font size the View menu can reach.
  ui.set_theme(style::Theme::light);
  style::apply_theme(style::Theme::light, 1.0f);
  for (float px : {kMinFontPx, 28.0f, kMaxFontPx}) {
    load_fonts(px, 1.0f);
    unsigned char* pixels = nullptr;
    int w = 0, h = 0;
    ImGui::GetIO().Fonts->GetTexDataAsRGBA32(&pixels, &w, &h);
    EXPECT_GT(draw_frames(ui, s, s.last_ns(), 30), 1000);
  }
}

// The titles and the status bar count with this: "1 process", never
// "1 processes" (a lone event loop's tree said that at font 24).
TEST(Style, ACountTakesItsNounInTheSingularOnlyForOne) {
  EXPECT_EQ(style::count_of(1, "process", "processes"), "1 process");
  EXPECT_EQ(style::count_of(0, "zombie", "zombies"), "0 zombies");
  EXPECT_EQ(style::count_of(3, "child", "children"), "3 children");
}

// The architecture-specific windows open by themselves for their sessions and
// share the tree's area; every combination draws without an ImGui assertion.
TEST_F(HeadlessImGui, ArchitectureWindowsOpenForTheirSessions) {
  for (const char* arch : {"pool", "thread", "evloop", "hybrid", "fork"}) {
    AppUi ui;
    session::Session s = make_recorded_session({});
    session::SessionMeta meta = s.meta();
    meta.architecture = arch;
    s.set_meta(meta);
    draw_frames(ui, s, s.last_ns(), 30);
    const std::string a = arch;
    ImGuiWindow* threads = window("###threads");
    ImGuiWindow* loop = window("###event_loop");
    const bool want_threads = a == "pool" || a == "thread";
    const bool want_loop = a == "evloop" || a == "hybrid";
    if (want_threads) {
      ASSERT_NE(threads, nullptr) << arch;
      EXPECT_TRUE(threads->WasActive) << arch;
    }
    if (want_loop) {
      ASSERT_NE(loop, nullptr) << arch;
      EXPECT_TRUE(loop->WasActive) << arch;
    }
    if (!want_threads && threads != nullptr) {
      EXPECT_FALSE(threads->WasActive) << arch;
    }
  }
}

TEST_F(HeadlessImGui, DebugWindowsDrawBesideOurs) {
  // The demo and metrics windows are reachable (Help menu); drawing them next
  // to ours must not upset ImGui's stacks, and both must really draw.
  AppUi ui;
  session::Session s = make_recorded_session({});
  const int ours = draw_frames(ui, s, s.last_ns(), 5);
  int with_debug = 0;
  for (int f = 0; f < 30; ++f) {
    ImGui::NewFrame();
    FrameContext ctx{s, s.model(), s.last_ns(), nullptr, 60.0};
    ui.draw(ctx);
    ImGui::ShowDemoWindow();
    ImGui::ShowMetricsWindow();
    ImGui::Render();
    with_debug = ImGui::GetDrawData()->TotalVtxCount;
  }
  for (const char* name : {"Dear ImGui Demo", "Dear ImGui Metrics/Debugger"}) {
    ImGuiWindow* w = window(name);
    ASSERT_NE(w, nullptr) << name;
    EXPECT_TRUE(w->WasActive) << name;
    EXPECT_GT(w->DrawList->VtxBuffer.Size, 100) << name;
  }
  EXPECT_GT(ours, 0);
  EXPECT_GT(with_debug, ours);
}

TEST_F(HeadlessImGui, LiveLabControlsWhileStopped) {
  // A real lab, not started: the controls show the default lesson's form and
  // the frame reads the session under its lock, as the window does.
  lab::Lab lab;
  LabController controller(lab);
  controller.spec().port = find_free_port(kDefaultLessonPort);
  ASSERT_NE(controller.spec().port, 0);
  AppUi ui;
  for (int f = 0; f < 60; ++f) {
    ImGui::NewFrame();
    lab.session().read([&](const session::Session& s) {
      FrameContext ctx{s, s.model(), trace::now_ns(), &controller, 60.0};
      ui.draw(ctx);
    });
    ImGui::Render();
  }
  EXPECT_FALSE(controller.running());
  // Clients need a server: the same path the buttons use refuses politely.
  EXPECT_FALSE(controller.add_clients(ClientRequest{}));
  EXPECT_NE(controller.last_error().find("Start the server first"), std::string::npos);
}

TEST_F(HeadlessImGui, HugeSessionStaysFast) {
  AppUi ui;
  RecordedShape shape;
  shape.children_alive = 60;
  shape.children_done = 200;
  shape.zombies = 40;
  shape.extra_io_events = 200'000;
  shape.snapshots = 50;
  session::Session s = make_recorded_session(shape);
  ASSERT_GT(s.events().size(), 200'000u);
  draw_frames(ui, s, s.last_ns(), 5);  // first frames size the windows
  auto t0 = std::chrono::steady_clock::now();
  const int frames = 60;
  draw_frames(ui, s, s.last_ns(), frames);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / frames;
  std::printf("huge session (%zu events): %.2f ms per frame\n", s.events().size(), ms);
  EXPECT_LT(ms, 50.0);  // generous for a shared 2-core machine; bench/ measures properly
}

TEST_F(HeadlessImGui, EventLogFilterIndexesMatchingRows) {
  session::Session s = make_recorded_session({});
  EventLogView log;
  log.filter.kinds[static_cast<std::size_t>(trace::Kind::fork)] = true;
  for (int f = 0; f < 3; ++f) {
    ImGui::NewFrame();
    FrameContext ctx{s, s.model(), s.last_ns(), nullptr, 60.0};
    log.draw(ctx);
    ImGui::Render();
  }
  ImGuiWindow* w = window("###event_log");
  ASSERT_NE(w, nullptr);
  // 6 connections, each forked once.
  EXPECT_NE(std::string(w->Name).find("Event log: 6 of "), std::string::npos) << w->Name;
  EXPECT_EQ(log.rows_shown(), 6u);
  log.filter = EventFilter{};
  log.filter.pid = kServerPid + 1;
  EXPECT_TRUE(log.filter.active());
  std::size_t expected = 0;
  for (const auto& e : s.events()) expected += e.pid == static_cast<std::uint32_t>(kServerPid + 1);
  ImGui::NewFrame();
  FrameContext ctx{s, s.model(), s.last_ns(), nullptr, 60.0};
  log.draw(ctx);
  ImGui::Render();
  EXPECT_GT(expected, 0u);
  EXPECT_EQ(log.rows_shown(), expected);
}

TEST(TreeLayout, NodesDoNotOverlapAndChildrenSitBelowTheRoot) {
  session::Session s = make_recorded_session({});
  TreeMetrics m;
  const std::uint64_t later = s.last_ns() + kFadeNs;
  TreeLayout layout = compute_tree_layout(s.model(), kServerPid, later, m, false);
  // The root, 3 live children and the zombie; reaped ones are hidden after their fade.
  ASSERT_EQ(layout.nodes.size(), 5u);
  EXPECT_EQ(layout.hidden_exited, 2);
  EXPECT_EQ(layout.nodes[0].pid, kServerPid);
  for (std::size_t i = 1; i < layout.nodes.size(); ++i) {
    EXPECT_EQ(layout.nodes[i].parent, 0);
    EXPECT_GT(layout.nodes[i].pos.y, layout.nodes[0].pos.y + m.node_h);
    for (std::size_t j = i + 1; j < layout.nodes.size(); ++j) {
      const auto& a = layout.nodes[i].pos;
      const auto& b = layout.nodes[j].pos;
      bool apart = a.x + m.node_w <= b.x || b.x + m.node_w <= a.x || a.y + m.node_h <= b.y || b.y + m.node_h <= a.y;
      EXPECT_TRUE(apart) << i << " overlaps " << j;
    }
  }
  // One pill per open connection, under the child that serves it.
  EXPECT_EQ(layout.pills.size(), 3u);
  TreeLayout all = compute_tree_layout(s.model(), kServerPid, later, m, true);
  EXPECT_EQ(all.nodes.size(), 7u);
  EXPECT_EQ(all.hidden_exited, 0);
}

TEST(TreeLayout, ManyChildrenWrapIntoRowsWithinTheWidth) {
  RecordedShape shape;
  shape.children_alive = 40;
  shape.children_done = 0;
  shape.zombies = 0;
  session::Session s = make_recorded_session(shape);
  TreeMetrics m;
  m.width = 1000.0f;
  TreeLayout layout = compute_tree_layout(s.model(), kServerPid, s.last_ns(), m, false);
  ASSERT_EQ(layout.nodes.size(), 41u);
  for (const auto& n : layout.nodes) EXPECT_LE(n.pos.x + m.node_w, m.width + 0.5f);
  EXPECT_GT(layout.size.y, 10 * m.node_h);  // 40 children at 3 per row: many rows
}

// One process holding many connections (an event loop, a thread server) gets a
// few pills and one that counts the rest, not a column running off the window.
TEST(TreeLayout, ManyConnectionsOnOneProcessFoldIntoAMorePill) {
  session::Session s;
  s.add_event(test::event(1000, kServerPid, trace::Kind::server_start, 0, 4481));
  for (std::uint32_t c = 1; c <= 10; ++c)
    s.add_event(test::event(2000 + c, kServerPid, trace::Kind::accept, c, 40000 + c));
  TreeMetrics m;
  TreeLayout layout = compute_tree_layout(s.model(), kServerPid, s.last_ns(), m, false);
  ASSERT_EQ(layout.pills.size(), 3u);
  EXPECT_EQ(layout.pills[0].more, 0);
  EXPECT_EQ(layout.pills[1].more, 0);
  EXPECT_EQ(layout.pills[2].more, 8);
}

TEST(TreeLayout, NewNodesGlowAndExitedOnesFade) {
  session::Session s = make_recorded_session({});
  TreeMetrics m;
  const auto& model = s.model();
  const auto* reaped = model.find_process(kServerPid + 4);  // the first "done" child
  ASSERT_NE(reaped, nullptr);
  ASSERT_NE(reaped->reap_ns, 0u);
  TreeLayout just_after = compute_tree_layout(model, kServerPid, reaped->reap_ns + kFadeNs / 2, m, false);
  bool found = false;
  for (const auto& n : just_after.nodes) {
    if (n.pid != reaped->pid) continue;
    found = true;
    EXPECT_TRUE(n.exited);
    EXPECT_LT(n.alpha, 1.0f);
  }
  EXPECT_TRUE(found) << "a process reaped a moment ago is still drawn, fading";
  EXPECT_TRUE(just_after.animating);
  const auto* child = model.find_process(kServerPid + 1);
  TreeLayout born = compute_tree_layout(model, kServerPid, child->fork_ns + kAppearNs / 4, m, false);
  for (const auto& n : born.nodes) {
    if (n.pid == child->pid) {
      EXPECT_GT(n.glow, 0.5f);
    }
  }
}

TEST(Script, ParsesEveryCommand) {
  std::istringstream in(
      "# the screenshot lesson\n"
      "start fork port=0 reap=off max_children=8\n"
      "clients 3 hold_ms=5000\n"
      "clients 2 preset=burst\n"
      "wait children 3 timeout=10\n"
      "wait connections 2\n"
      "wait ms 500\n"
      "theme light\n"
      "font-size 24\n"
      "dump-model /tmp/m.json\n"
      "screenshot\n"
      "stop\n"
      "quit\n");
  std::string error;
  auto cmds = parse_script(in, "lesson", error);
  ASSERT_TRUE(cmds.has_value()) << error;
  ASSERT_EQ(cmds->size(), 12u);
  EXPECT_EQ((*cmds)[0].spec.arch, "fork");
  EXPECT_FALSE((*cmds)[0].spec.settings.on(servers::SettingId::reap));
  EXPECT_EQ((*cmds)[0].spec.settings.get(servers::SettingId::max_children), 8);
  EXPECT_EQ((*cmds)[1].clients.count, 3);
  EXPECT_EQ((*cmds)[1].clients.hold_ms, 5000);
  EXPECT_EQ((*cmds)[2].clients.preset, "burst");
  EXPECT_EQ((*cmds)[3].number, 3);
  EXPECT_EQ((*cmds)[3].timeout_ms, 10000);
  EXPECT_EQ((*cmds)[0].line, 2);
}

TEST(Script, BadLineNamesTheLineAndTheReason) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"start fork\nfly away\n", "lesson:2: unknown command 'fly'"},
      {"start quantum\n", "lesson:1: unknown architecture 'quantum'"},
      {"start fork\n\nclients many\n", "lesson:3: client count must be a number"},
      {"wait children 3 timeout=abc\n", "lesson:1: timeout (seconds) must be a number"},
      {"wait forever 3\n", "lesson:1: wait for what?"},
      {"clients 2 preset=stampede\n", "lesson:1: unknown preset 'stampede'"},
      {"theme pink\n", "lesson:1: theme must be dark or light"},
      {"start fork reap=maybe\n", "lesson:1: reap must be on or off"},
  };
  for (const auto& c : cases) {
    std::istringstream in(c.text);
    std::string error;
    EXPECT_FALSE(parse_script(in, "lesson", error).has_value()) << c.text;
    EXPECT_EQ(error.rfind(c.expect, 0), 0u) << "got: " << error;
  }
}

}  // namespace
}  // namespace sockscope::app

namespace sockscope::app {
namespace {

// The stepping layout: the flow and the code in, the connections list, the
// event log and the timeline out; the overview brings them back.
TEST_F(HeadlessImGui, SteppingLayoutShowsCodeAndFlowAndOverviewBringsTheListsBack) {
  AppUi ui;
  session::Session s = make_recorded_session({});
  ui.set_layout(AppUi::Layout::stepping);
  draw_frames(ui, s, s.last_ns(), 5);
  auto active = [](const char* id) {
    ImGuiWindow* w = ImGui::FindWindowByName(id);
    return w != nullptr && w->WasActive;
  };
  EXPECT_TRUE(active("###flow"));
  EXPECT_TRUE(active("###code_view"));
  EXPECT_FALSE(active("###connections"));
  EXPECT_FALSE(active("###event_log"));
  ui.set_layout(AppUi::Layout::overview);
  draw_frames(ui, s, s.last_ns(), 5);
  EXPECT_FALSE(active("###flow"));
  EXPECT_TRUE(active("###connections"));
  EXPECT_TRUE(active("###event_log"));
  EXPECT_TRUE(active("###timeline"));
}

TEST(Settings, LayoutRoundTripsAndABadValueIsIgnored) {
  const test::TempDir tmp;
  const auto dir = tmp / "config";  // not there yet: save_settings makes it
  Settings s;
  s.layout = "stepping";
  ASSERT_TRUE(save_settings(dir, s));
  EXPECT_EQ(load_settings(dir).layout, "stepping");
  std::ofstream(dir / "settings.json") << R"({"layout": "sideways", "font_px": 24})";
  const Settings bad = load_settings(dir);
  EXPECT_EQ(bad.layout, "overview");
  EXPECT_EQ(bad.font_px, 24.0f);
}

// The first start has no size (the shell fits the screen's work area); the
// size the window was left at, and the collapsed controls, come back.
TEST(Settings, WindowSizeAndCollapsedControlsAreRemembered) {
  const test::TempDir tmp;
  const auto dir = tmp / "config";  // the first start: no settings dir yet
  EXPECT_EQ(load_settings(dir).window_w, 0);
  EXPECT_EQ(load_settings(dir).window_h, 0);
  Settings s;
  s.window_w = 1280;
  s.window_h = 720;
  s.controls_collapsed = true;
  ASSERT_TRUE(save_settings(dir, s));
  const Settings back = load_settings(dir);
  EXPECT_EQ(back.window_w, 1280);
  EXPECT_EQ(back.window_h, 720);
  EXPECT_TRUE(back.controls_collapsed);
}

TEST(Geometry, ParsesWidthByHeightAndRefusesTheRest) {
  int w = 0, h = 0;
  std::string error;
  EXPECT_TRUE(parse_geometry("1280x720", w, h, error));
  EXPECT_EQ(w, 1280);
  EXPECT_EQ(h, 720);
  for (const char* bad : {"", "1280", "1280x", "x720", "1280X720", "12a0x720", "100x100", "9000x720", "-1280x720"}) {
    EXPECT_FALSE(parse_geometry(bad, w, h, error)) << bad;
    EXPECT_TRUE(error.find("WIDTHxHEIGHT") != std::string::npos || error.find("at least 640x400") != std::string::npos)
        << bad << ": " << error;
  }
}

// Presentation mode shows one view over everything, in larger text, and
// leaving it restores the layout and the text size; Tab's collapse hides
// the controls behind a strip.
TEST_F(HeadlessImGui, PresentationModeShowsOneViewAndLeavesCleanly) {
  AppUi ui;
  session::Session s = make_recorded_session({});
  draw_frames(ui, s, s.last_ns(), 3);
  const float desk_font = ui.font_px;
  ui.present(WindowId::tree);
  draw_frames(ui, s, s.last_ns(), 3);
  EXPECT_EQ(ui.layout(), AppUi::Layout::present);
  EXPECT_GT(ui.font_px, desk_font);
  EXPECT_EQ(ui.saved_font_px(), desk_font);
  const auto drawn = ui.drawn_json();
  ASSERT_EQ(drawn.at("windows").size(), 1u) << drawn.dump();
  const auto& tree = drawn.at("windows").at("tree");
  EXPECT_EQ(tree[2].get<float>(), 1600.0f);
  EXPECT_EQ(tree[3].get<float>(), 900.0f);
  ui.leave_present();
  draw_frames(ui, s, s.last_ns(), 3);
  EXPECT_EQ(ui.layout(), AppUi::Layout::overview);
  EXPECT_EQ(ui.font_px, desk_font);
  EXPECT_TRUE(ui.drawn_json().at("windows").contains("connections"));
  ui.set_controls_collapsed(true);
  draw_frames(ui, s, s.last_ns(), 3);
  EXPECT_FALSE(ui.drawn_json().at("windows").contains("controls"));
  EXPECT_NE(ImGui::FindWindowByName("##controls_strip"), nullptr);
}

// Presentation's key legend lies over the picture (at 1280x720 with large
// text it wrapped to six lines over the event loop's counts): it shows for a
// few seconds when presentation starts or the view changes, and then only
// while the pointer is on its corner.
TEST_F(HeadlessImGui, PresentationsKeyLegendShowsAWhileThenWhenPointedAt) {
  AppUi ui;
  // Empty: nothing else in the picture asks for frames, so the legend's own
  // request shows.
  session::Session s;
  auto frame = [&](ImVec2 mouse, float seconds) {
    ImGuiIO& io = ImGui::GetIO();
    io.DeltaTime = seconds;
    io.MousePos = mouse;
    ImGui::NewFrame();
    FrameContext ctx{s, s.model(), s.last_ns(), nullptr, 60.0};
    ui.draw(ctx);
    ImGui::Render();
    return ctx.wants_redraw;
  };
  auto legend_shown = [] {
    const ImGuiWindow* w = ImGui::FindWindowByName("##present_legend");
    return w != nullptr && w->Active;
  };
  const ImVec2 picture(500, 300), corner(1590, 890);
  const float tick = 1.0f / 60.0f;
  frame(picture, tick);
  ui.present(WindowId::tree);
  EXPECT_TRUE(frame(picture, tick)) << "frames go on until the legend is due to go";
  EXPECT_TRUE(legend_shown()) << "presentation starts with the keys shown";
  frame(picture, 7.0f);
  EXPECT_FALSE(frame(picture, tick)) << "no more frames asked for once it is gone";
  EXPECT_FALSE(legend_shown()) << "seconds later the picture is whole";
  frame(corner, tick);
  EXPECT_TRUE(legend_shown()) << "pointing at the corner brings it back";
  frame(picture, tick);
  EXPECT_FALSE(legend_shown());
  ImGui::GetIO().AddInputCharacter('2');
  frame(picture, tick);
  frame(picture, tick);
  EXPECT_EQ(ui.drawn_json().at("windows").size(), 1u);
  EXPECT_TRUE(ui.drawn_json().at("windows").contains("flow")) << ui.drawn_json().dump();
  EXPECT_TRUE(legend_shown()) << "another view: the keys again";
}

}  // namespace
}  // namespace sockscope::app
