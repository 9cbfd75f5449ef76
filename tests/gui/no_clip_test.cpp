// Issue 13, "nothing clipped, nothing covered": the code view's cursor tags,
// the event loop's ring, the threads view's long lines and the flow
// diagram's labels, on a projector (1280x720, text 24 and 28) and at
// 1600x900 with text 19.
//
// The layouts are pure functions, checked here for every text size and
// queue length; then the real views are drawn headless on recorded sessions
// and what they drew is checked against the windows they drew it in.
#include <gtest/gtest.h>
#include <imgui.h>
#include <imgui_internal.h>

#include <algorithm>
#include <string>

#include "fonts.h"
#include "gui/recorded_session.h"
#include "support/events.h"
#include "views/code_view.h"
#include "views/event_loop_view.h"
#include "views/flow_view.h"
#include "views/style.h"
#include "views/threads_view.h"

using namespace sockscope;
using app::CodeRow;
using app::TagBox;
using trace::GateKind;
using trace::Kind;

namespace {

// The screens the issue was found on: display size and text size.
struct Screen {
  float w, h, font;
};
constexpr Screen kScreens[] = {{1280, 720, 24}, {1280, 720, 28}, {1600, 900, 19}};

// A context with no window at one screen's size and text size.
class Headless {
 public:
  explicit Headless(const Screen& s) {
    ImGui::CreateContext();
    ImGuiIO& io = ImGui::GetIO();
    io.IniFilename = nullptr;
    io.DisplaySize = ImVec2(s.w, s.h);
    io.DeltaTime = 1.0f / 60.0f;
    app::load_fonts(s.font, 1.0f);
    unsigned char* pixels = nullptr;
    int w = 0, h = 0;
    io.Fonts->GetTexDataAsRGBA32(&pixels, &w, &h);
    app::style::apply_theme(app::style::Theme::dark, s.font / 19.0f);
  }
  ~Headless() { ImGui::DestroyContext(); }
  Headless(const Headless&) = delete;
  Headless& operator=(const Headless&) = delete;
};

ImGuiWindow* window(const char* id) {
  ImGuiWindow* w = ImGui::FindWindowByName(id);
  return w && w->WasActive ? w : nullptr;
}


// A gate_wait as trace::gate() logs it: b's high word the file, flags the line.
trace::Event gate_wait(std::uint64_t t, pid_t pid, std::uint32_t conn, GateKind kind) {
  const auto loc = app::locate_gate(app::files_for_architecture("fork"), kind);
  const auto file = static_cast<std::int64_t>(trace::gate_file_hash(loc.file));
  trace::Event e = test::event(t, pid, Kind::gate_wait, conn, static_cast<std::int64_t>(kind), file << 32,
                               trace::gate_name(kind));
  e.flags = static_cast<std::uint16_t>(loc.line);
  return e;
}

// The recorded fork session with its live children parked: two at read
// (so two tags stand on one line), one at reply, and the listener at
// accept. The code view shows the newest arrival's file: the listener's
// (fork_server.cpp) when `accept_last`, else blocking_connection.cpp.
session::Session parked_fork_session(bool accept_last) {
  session::Session s = gui_test::make_recorded_session({});
  const std::uint64_t t = s.last_ns() + 1000;
  std::vector<trace::Event> waits = {
      gate_wait(t + 2, gui_test::kServerPid + 1, 1, GateKind::read),
      gate_wait(t + 3, gui_test::kServerPid + 2, 2, GateKind::read),
      gate_wait(t + 4, gui_test::kServerPid + 3, 3, GateKind::reply),
  };
  waits.insert(accept_last ? waits.end() : waits.begin(),
               gate_wait(accept_last ? t + 5 : t + 1, gui_test::kServerPid, 0, GateKind::accept));
  s.add_events(waits.data(), waits.size());
  return s;
}

// An event loop blocked by one handler for 2 s, with a queue behind it:
// 30 ready handlers (more than the ring can show), operations waiting on
// the kernel for every connection.
session::Session blocked_loop_session() {
  session::Session s;
  session::SessionMeta meta;
  meta.architecture = "evloop";
  meta.protocol = "ftp";
  meta.server_pid = gui_test::kServerPid;
  meta.start_ns = gui_test::kT0;
  s.set_meta(meta);
  const pid_t pid = gui_test::kServerPid;
  std::uint64_t t = gui_test::kT0;
  std::vector<trace::Event> events;
  std::int64_t id = 1;
  events.push_back(test::event(t += 1000, pid, Kind::handler_create, 0, id++, 3, "socket:async_accept"));
  for (std::uint32_t conn = 1; conn <= 40; ++conn) {
    events.push_back(test::event(t += 1000, pid, Kind::handler_create, conn, id++, 10 + conn, "socket:async_receive"));
    events.push_back(test::event(t += 1000, pid, Kind::handler_create, conn, id++, -static_cast<std::int64_t>(conn),
                        "timer:async_wait"));
  }
  // Connection 7's receive completes and its handler runs (SITE WORK) ...
  events.push_back(test::event(t += 1000, pid, Kind::completion, 7, 2 * 7, 0));
  events.push_back(test::event(t += 1000, pid, Kind::handler_begin, 7, 2 * 7, 0));
  // ... while 30 other receives complete behind it.
  for (std::uint32_t conn = 10; conn < 40; ++conn) events.push_back(test::event(t += 1000, pid, Kind::completion, conn, 2 * conn, 0));
  s.add_events(events.data(), events.size());
  return s;
}

}  // namespace

// ---- pure layouts ----------------------------------------------------------------

TEST(CodeRows, EveryGateLineHasItsLensRowJustAbove) {
  const auto rows = app::code_rows(10, {3, 7});
  ASSERT_EQ(rows.size(), 12u);
  EXPECT_EQ(rows[2], (CodeRow{3, true}));
  EXPECT_EQ(rows[3], (CodeRow{3, false}));
  EXPECT_EQ(rows[7], (CodeRow{7, true}));
  EXPECT_EQ(rows[8], (CodeRow{7, false}));
  for (int n = 1; n <= 10; ++n) {
    const int r = app::row_of_line(rows, n);
    ASSERT_GE(r, 0) << n;
    EXPECT_EQ(rows[static_cast<std::size_t>(r)], (CodeRow{n, false}));
  }
  EXPECT_EQ(app::row_of_line(rows, 11), -1);
  EXPECT_EQ(app::row_of_line(rows, 0), -1);
}

TEST(CodeRows, LensTagsStayOnTheirRowAndApart) {
  const auto boxes = app::layout_lens_tags(100, 40, 20, {80, 120, 60}, 6);
  ASSERT_EQ(boxes.size(), 3u);
  const TagBox line_below{100, 40 + 24, 2000, 40 + 24 + 20};  // the source row under the lens row
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    EXPECT_FALSE(boxes[i].overlaps(line_below));
    EXPECT_EQ(boxes[i].y0, 40);
    EXPECT_EQ(boxes[i].y1, 60);
    for (std::size_t j = i + 1; j < boxes.size(); ++j) EXPECT_FALSE(boxes[i].overlaps(boxes[j]));
  }
}

TEST(LoopRing, NoReadyBoxTouchesTheRunningLabelOrAnother) {
  struct Case {
    float fs, label_w, avail;
    std::size_t ready;
  };
  std::vector<Case> cases;
  for (float fs : {13.0f, 19.0f, 24.0f, 28.0f, 36.0f})
    for (float label_w : {fs * 3.0f, fs * 10.0f, fs * 25.0f})
      for (float avail : {0.0f, 300.0f, 450.0f, 1200.0f})
        for (std::size_t ready : {0u, 1u, 5u, 24u, 60u}) cases.push_back({fs, label_w, avail, ready});
  for (const Case& c : cases) {
    const app::LoopRing ring = app::layout_loop_ring(c.label_w, c.fs * 3.5f, c.fs * 1.4f, c.fs * 1.4f, c.fs * 0.3f,
                                                     c.fs * 4.0f, c.ready, 24, c.avail);
    SCOPED_TRACE("font " + std::to_string(c.fs) + " label " + std::to_string(c.label_w) + " ready " +
                 std::to_string(c.ready) + " avail " + std::to_string(c.avail));
    // No wider than the window, unless the label alone is.
    if (c.avail > 0.0f) {
      EXPECT_LE(ring.width, std::max(c.avail, c.label_w + c.fs * 0.6f) + 0.5f);
    }
    EXPECT_EQ(ring.boxes.size(), std::min(c.ready, ring.slots));
    EXPECT_GE(ring.slots, 6u) << "the ring has room for a queue";
    EXPECT_LE(ring.slots, 24u);
    const app::LoopBox all{0, 0, ring.width, ring.height};
    EXPECT_GE(ring.running.x0, all.x0);
    EXPECT_LE(ring.running.x1, all.x1);
    for (std::size_t i = 0; i < ring.boxes.size(); ++i) {
      const auto& b = ring.boxes[i];
      EXPECT_FALSE(b.overlaps(ring.running)) << "box " << i;
      EXPECT_TRUE(b.x0 >= all.x0 && b.y0 >= all.y0 && b.x1 <= all.x1 && b.y1 <= all.y1) << "box " << i;
      for (std::size_t j = i + 1; j < ring.boxes.size(); ++j) EXPECT_FALSE(b.overlaps(ring.boxes[j])) << i << ", " << j;
    }
    if (!ring.boxes.empty() && ring.label_inside) {
      EXPECT_LT(ring.boxes[0].y1, ring.running.y0) << "the next to run is at the top";
    }
  }
}

TEST(FlowLabels, NotesAndArrowLabelsStayInsideTheDiagram) {
  // A note fits right of its dot, else left, else is cut to the larger side.
  EXPECT_EQ(app::place_note_label(100, 10, 50, 0, 300).x, 110);
  const auto left = app::place_note_label(280, 10, 100, 0, 300);
  EXPECT_FALSE(left.cut);
  EXPECT_EQ(left.x, 170);
  const auto cut = app::place_note_label(200, 10, 500, 0, 300);
  EXPECT_TRUE(cut.cut);
  EXPECT_GE(cut.x, 0);
  EXPECT_LE(cut.x + cut.room, 300);
  // An arrow's label is centred, clamped, and cut only when wider than the diagram.
  const auto a = app::place_arrow_label(250, 290, 100, 0, 300);
  EXPECT_FALSE(a.cut);
  EXPECT_EQ(a.x, 200);
  EXPECT_TRUE(app::place_arrow_label(0, 300, 400, 0, 300).cut);

  // fit_text: 10 px a character (… counts as one); never splits a character.
  auto width = [](std::string_view t) {
    float n = 0;
    for (unsigned char c : t) n += (c & 0xC0) != 0x80 ? 10.0f : 0.0f;
    return n;
  };
  EXPECT_EQ(app::fit_text("accept()", 100, width), "accept()");
  EXPECT_EQ(app::fit_text("fork() -> pid 1240", 80, width), "fork()\xe2\x80\xa6");  // no space before …
  EXPECT_EQ(app::fit_text("conn #2 \xc2\xb7 client 3", 100, width), "conn #2 \xc2\xb7\xe2\x80\xa6");
  EXPECT_EQ(app::fit_text("abc", 5, width), "");
}

// ---- the views, drawn -------------------------------------------------------------

// No cursor tag covers code: each stands on the lens row just above the line
// it points at, and overlaps no line's text, at every screen of the issue.
TEST(NoClip, CodeViewTagsCoverNoCode) {
  for (bool accept_last : {false, true}) {
    const session::Session s = parked_fork_session(accept_last);
    const session::Model model = s.model();
    for (const Screen& screen : kScreens) {
      SCOPED_TRACE(std::string(accept_last ? "fork_server.cpp " : "blocking_connection.cpp ") +
                   std::to_string(screen.w) + "x" + std::to_string(screen.h) + " text " + std::to_string(screen.font));
      Headless ui(screen);
      app::CodeView code;
      // A narrow window (the stepping layout's code view) and a wide one.
      for (float width : {screen.w * 0.35f, screen.w}) {
        for (int frame = 0; frame < 4; ++frame) {
          ImGui::NewFrame();
          app::FrameContext ctx{s, model, model.at_ns, nullptr, 60.0};
          ImGui::SetNextWindowPos(ImVec2(0, 0));
          ImGui::SetNextWindowSize(ImVec2(width, screen.h * 0.6f));
          code.draw(ctx);
          ImGui::Render();
        }
        ASSERT_EQ(code.cursors().size(), 4u);
        const auto& lines = code.drawn_lines();
        ASSERT_FALSE(lines.empty());
        ASSERT_FALSE(code.drawn_tags().empty()) << "no tag was drawn";
        std::size_t above_their_line = 0;
        for (const auto& tag : code.drawn_tags()) {
          for (const auto& line : lines) {
            EXPECT_FALSE(tag.box.overlaps(line.box))
                << "a tag for line " << tag.line << " covers the text of line " << line.line;
            if (line.line != tag.line) continue;
            EXPECT_LE(tag.box.y1, line.box.y0) << "the tag stands above its line";
            EXPECT_LT(line.box.y0 - tag.box.y1, ImGui::GetTextLineHeightWithSpacing()) << "right above it";
            ++above_their_line;
          }
        }
        EXPECT_GT(above_their_line, 0u) << "the followed line and its tag are not both in sight: lines "
                                        << lines.front().line << ".." << lines.back().line;
      }
    }
  }
}

// The event loop's key sentence is the first thing in the window, visible
// without scrolling, even in the overview's small window; nothing in the
// window is wider than it.
TEST(NoClip, BlockedLoopSaysSoAtTheTopAndFitsItsWindow) {
  const session::Session s = blocked_loop_session();
  const session::Model model = s.model();
  const std::uint64_t now = s.last_ns() + 2'000'000'000ull;
  for (const Screen& screen : kScreens) {
    SCOPED_TRACE(std::to_string(screen.w) + "x" + std::to_string(screen.h) + " text " + std::to_string(screen.font));
    Headless ui(screen);
    app::EventLoopView view;
    // The overview's event loop window at 1600x900 is about 440 x 420.
    for (ImVec2 size : {ImVec2(screen.w * 0.28f, screen.h * 0.47f), ImVec2(screen.w, screen.h)}) {
      for (int frame = 0; frame < 3; ++frame) {
        ImGui::NewFrame();
        app::FrameContext ctx{s, model, now, nullptr, 60.0};
        ImGui::SetNextWindowPos(ImVec2(0, 0));
        ImGui::SetNextWindowSize(size);
        view.draw(ctx);
        ImGui::Render();
      }
      ImGuiWindow* w = window("###event_loop");
      ASSERT_NE(w, nullptr);
      const auto& d = view.drawn();
      ASSERT_LT(d.blocked_y0, d.blocked_y1) << "the blocked sentence was not drawn";
      EXPECT_LE(d.blocked_y1, w->InnerRect.Max.y) << "the blocked sentence is below the window's bottom";
      EXPECT_LE(d.blocked_y0, w->InnerRect.Min.y + ImGui::GetFrameHeightWithSpacing() * 2.0f)
          << "the blocked sentence comes first";
      EXPECT_FALSE(d.ring.boxes.empty());
      for (const auto& b : d.ring.boxes) EXPECT_FALSE(b.overlaps(d.ring.running));
      EXPECT_LE(w->ContentSize.x, w->InnerRect.GetWidth() + 1.0f) << "something is wider than the window";
    }
  }
}

// The threads view's long lines (the pool queue, memory with PSS and RSS)
// wrap instead of running off the right edge.
TEST(NoClip, ThreadsViewLinesWrapInANarrowWindow) {
  session::Session s = gui_test::make_recorded_session({});
  const session::Model model = s.model();
  for (const Screen& screen : kScreens) {
    SCOPED_TRACE(std::to_string(screen.w) + "x" + std::to_string(screen.h) + " text " + std::to_string(screen.font));
    Headless ui(screen);
    app::ThreadsView view;
    for (int frame = 0; frame < 3; ++frame) {
      ImGui::NewFrame();
      app::FrameContext ctx{s, model, s.last_ns(), nullptr, 60.0};
      ImGui::SetNextWindowPos(ImVec2(0, 0));
      ImGui::SetNextWindowSize(ImVec2(screen.font * 20.0f, screen.h * 0.9f));
      view.draw(ctx);
      ImGui::Render();
    }
    ImGuiWindow* w = window("###threads");
    ASSERT_NE(w, nullptr);
    EXPECT_LE(w->ContentSize.x, w->InnerRect.GetWidth() + 1.0f) << "a line is wider than the window";
    EXPECT_GT(w->ContentSize.y, ImGui::GetTextLineHeightWithSpacing() * 6.0f) << "the memory lines were drawn";
  }
}

// Every label of the flow diagram stays inside its box: the lane headers in
// their lane, the rows inside the diagram (what does not fit is shortened).
TEST(NoClip, FlowLabelsStayInsideTheDiagram) {
  const session::Session s = gui_test::make_recorded_session({});
  const session::Model model = s.model();
  for (const Screen& screen : kScreens) {
    SCOPED_TRACE(std::to_string(screen.w) + "x" + std::to_string(screen.h) + " text " + std::to_string(screen.font));
    Headless ui(screen);
    app::FlowView view;
    // The stepping layout's flow (about 3/4 of the screen) and a small one.
    for (float width : {screen.w * 0.75f, screen.w * 0.45f}) {
      for (int frame = 0; frame < 3; ++frame) {
        ImGui::NewFrame();
        app::FrameContext ctx{s, model, model.at_ns, nullptr, 60.0};
        ImGui::SetNextWindowPos(ImVec2(0, 0));
        ImGui::SetNextWindowSize(ImVec2(width, screen.h * 0.9f));
        view.draw(ctx);
        ImGui::Render();
      }
      const auto& texts = view.drawn_text();
      ASSERT_FALSE(texts.empty());
      for (const auto& t : texts) {
        EXPECT_GE(t.x0, t.min_x - 0.5f) << "'" << t.text << "' starts left of its box";
        EXPECT_LE(t.x1, t.max_x + 0.5f) << "'" << t.text << "' runs past its box";
      }
      // The fork row names the child's copy of the socket; its parent's close is a row of its own.
      bool fork_row = false, close_row = false;
      for (const auto& m : view.diagram().messages) {
        fork_row |= m.kind == Kind::fork && m.label.find("copy of the socket") != std::string::npos;
        close_row |= m.label.starts_with("close() its copy of the socket");
      }
      EXPECT_TRUE(fork_row);
      EXPECT_TRUE(close_row);
    }
  }
}
