// The Stepping window against a real lab: drawn headless (no window, as in
// tests/gui/frame_test.cpp) every frame while a fork server is parked at its
// gates, and driven by the same keys a teacher presses: Space steps, R runs,
// P pauses, U runs to the gate chosen in "Run to". Also the script's
// `step until`.
#include <gtest/gtest.h>
#include "gui/headless_imgui.h"
#include <imgui.h>
#include <imgui_internal.h>

#include <chrono>
#include <set>
#include <thread>

#include "app_ui.h"
#include "fonts.h"
#include "lab_controller.h"
#include "lab_steps.h"
#include "script.h"
#include "trace/ring.h"
#include "views/code_view.h"
#include "views/step_view.h"

#include <cstring>
#include <fstream>
#include <sstream>

namespace sockscope::app {
namespace {

using namespace std::chrono_literals;
using trace::GateKind;
using trace::GateMode;

using test::eventually;

class StepViewTest : public gui_test::HeadlessImGuiTest {
 protected:

  // One frame; `typed` is fed as typed characters (the keys), with the
  // Stepping window focused as after a click on it.
  void frame(AppUi& ui, lab::Lab& lab, LabController& controller, const char* typed = "") {
    ImGuiIO& io = ImGui::GetIO();
    for (const char* c = typed; *c; ++c) io.AddInputCharacter(static_cast<unsigned>(*c));
    ImGui::NewFrame();
    if (ImGui::FindWindowByName("###stepping")) ImGui::SetWindowFocus("###stepping");
    lab.session().read([&](const session::Session& s) {
      FrameContext ctx{s, s.model(), trace::now_ns(), &controller, 60.0};
      ui.draw(ctx);
    });
    ImGui::Render();
  }

  static std::size_t passes(lab::Lab& lab) {
    return lab.session().read([](const session::Session& s) {
      std::size_t n = 0;
      for (const auto& e : s.events()) n += e.kind == trace::Kind::gate_pass;
      return n;
    });
  }
};

TEST(StepCommands, PauseStepRunAndSlowSetTheTable) {
  trace::GateTable g = trace::GateTable::create();
  apply_step_command(g, StepCommand::step, 100);  // from run: the first Step pauses
  EXPECT_EQ(g.mode(), GateMode::step);
  apply_step_command(g, StepCommand::slow, 250);
  EXPECT_EQ(g.mode(), GateMode::slow);
  EXPECT_EQ(g.delay_ms(), 250u);
  apply_step_command(g, StepCommand::pause, 0);
  EXPECT_EQ(g.mode(), GateMode::step);
  apply_step_command(g, StepCommand::run, 0);
  EXPECT_EQ(g.mode(), GateMode::run);
  for (std::size_t i = 0; i < static_cast<std::size_t>(GateKind::count_); ++i)
    EXPECT_FALSE(gate_explanation(static_cast<GateKind>(i)).empty()) << trace::kGateNames[i];
}

TEST(StepCommands, RunToReadsTheConnectionFieldSetsTheTargetAndSaysSo) {
  using trace::RunTarget;
  EXPECT_EQ(parse_run_to(GateKind::reply, ""), (RunTarget{GateKind::reply, 0})) << "blank = any";
  EXPECT_EQ(parse_run_to(GateKind::reply, "0"), (RunTarget{GateKind::reply, 0}));
  EXPECT_EQ(parse_run_to(GateKind::read, " 3 "), (RunTarget{GateKind::read, 3}));
  EXPECT_EQ(parse_run_to(GateKind::accept, "4294967295"), (RunTarget{GateKind::accept, 4294967295u}));
  for (const char* bad : {"x", "-1", "3x", "1.5", "+2", "4294967296"})
    EXPECT_FALSE(parse_run_to(GateKind::read, bad).has_value()) << bad;

  EXPECT_EQ(step_mode_text(GateMode::step, std::nullopt), "mode: step");
  EXPECT_EQ(step_mode_text(GateMode::run, std::nullopt), "mode: run");
  EXPECT_EQ(step_mode_text(GateMode::run_to, RunTarget{GateKind::reply, 3}), "running until connection 3 reaches reply");
  EXPECT_EQ(step_mode_text(GateMode::run_to, RunTarget{GateKind::accept, 0}),
            "running until the next accept (any connection)");

  trace::GateTable g = trace::GateTable::create();
  apply_run_to(g, RunTarget{GateKind::close, 2});
  EXPECT_EQ(g.mode(), GateMode::run_to);
  ASSERT_TRUE(g.run_target().has_value());
  EXPECT_EQ(*g.run_target(), (RunTarget{GateKind::close, 2}));
  EXPECT_EQ(step_mode_text(g.mode(), g.run_target()), "running until connection 2 reaches close");
  apply_step_command(g, StepCommand::step, 100);  // Space while running to a target: pauses
  EXPECT_EQ(g.mode(), GateMode::step);
  EXPECT_FALSE(g.run_target().has_value());
  apply_run_to(g, RunTarget{GateKind::read, 0});
  apply_step_command(g, StepCommand::run, 0);
  EXPECT_EQ(g.mode(), GateMode::run);
}

TEST(Script, StepUntilNamesAGateAndMaybeAConnection) {
  std::istringstream in("start fork\nstep until reply conn=3\nstep until accept\nstep pause\n");
  std::string error;
  auto cmds = parse_script(in, "lesson", error);
  ASSERT_TRUE(cmds.has_value()) << error;
  ASSERT_EQ(cmds->size(), 4u);
  EXPECT_EQ((*cmds)[1].op, ScriptCommand::Op::step);
  EXPECT_EQ((*cmds)[1].text, "until");
  EXPECT_EQ((*cmds)[1].until, (trace::RunTarget{GateKind::reply, 3}));
  EXPECT_EQ((*cmds)[2].until, (trace::RunTarget{GateKind::accept, 0}));
  EXPECT_EQ((*cmds)[3].text, "pause");

  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"start fork\nstep until nowhere\n", "lesson:2: unknown gate 'nowhere' (accept, fork, child_start, "},
      {"step until\n", "lesson:1: usage: step until GATE [conn=N]"},
      {"step until reply conn=x\n", "lesson:1: conn must be a number"},
      {"step until reply port=3\n", "lesson:1: unknown option 'port' for step until"},
      {"step until reply conn=1 conn=2\n", "lesson:1: usage: step until GATE [conn=N]"},
      {"step backwards\n", "lesson:1: step takes run, step, pause, slow or until"},
  };
  for (const auto& c : cases) {
    std::istringstream bad(c.text);
    EXPECT_FALSE(parse_script(bad, "lesson", error).has_value()) << c.text;
    EXPECT_EQ(error.rfind(c.expect, 0), 0u) << "got: " << error;
  }
  std::istringstream all("step until nowhere\n");
  parse_script(all, "lesson", error);
  EXPECT_NE(error.find("exec)"), std::string::npos) << "every gate is listed: " << error;
}

TEST(CodeView, EmbeddedSourcesAreTheRealFilesWithEveryGateFound) {
  const SourceFile* fork = find_source("fork_server.cpp");
  ASSERT_NE(fork, nullptr);
  std::ifstream in(std::string(SOCKSCOPE_SOURCE_DIR) + "/engine/servers/fork_server.cpp");
  std::stringstream disk;
  disk << in.rdbuf();
  EXPECT_EQ(fork->text, disk.str()) << "the build embeds the source as it is on disk";

  auto gates = find_gate_lines(fork->text);
  std::set<GateKind> kinds;
  std::vector<std::string_view> lines;
  for (std::size_t s = 0, e; s < fork->text.size(); s = e + 1) {
    e = fork->text.find('\n', s);
    if (e == std::string_view::npos) e = fork->text.size();
    lines.push_back(fork->text.substr(s, e - s));
  }
  for (const auto& g : gates) {
    kinds.insert(g.kind);
    ASSERT_GE(g.line, 1);
    ASSERT_LE(static_cast<std::size_t>(g.line), lines.size());
    EXPECT_NE(lines[g.line - 1].find(std::string("GateKind::") + std::string(trace::gate_name(g.kind))),
              std::string_view::npos)
        << "line " << g.line << ": " << lines[g.line - 1];
  }
  EXPECT_EQ(kinds, (std::set<GateKind>{GateKind::accept, GateKind::fork, GateKind::child_start, GateKind::exit,
                                       GateKind::reap}));
  // A forked child reading stands in the shared connection code.
  auto files = files_for_architecture("fork");
  EXPECT_EQ(locate_gate(files, GateKind::read).file, "blocking_connection.cpp");
  EXPECT_EQ(locate_gate(files, GateKind::accept).file, "fork_server.cpp");
  EXPECT_EQ(locate_gate(files_for_architecture("thread"), GateKind::counter_write).file, "visitor_counter.cpp");
  EXPECT_EQ(locate_gate(files_for_architecture("evloop"), GateKind::handler_begin).file, "asio_tracking.cpp");
  EXPECT_EQ(locate_gate(files_for_architecture("pool"), GateKind::enqueue).file, "pool_server.cpp");
  EXPECT_EQ(locate_gate(files, GateKind::enqueue).line, 0) << "the fork server has no queue";
}

TEST_F(StepViewTest, SpaceStepsOneWaiterAndRLetsEveryoneFinish) {
  lab::Lab lab(test::lab_options());
  LabController controller(lab);
  controller.spec().port = 0;
  lab.gates().set_mode(GateMode::step);
  ASSERT_TRUE(controller.start()) << controller.last_error();
  lab.start_clients(test::quick_clients(2, protocol::Protocol::ftp, {"USER anonymous", "PASS x", "QUIT"}));

  AppUi ui;
  ASSERT_TRUE(eventually([&] {
    frame(ui, lab, controller);
    return lab.gates().waiters().size() == 1;
  }));
  for (int f = 0; f < 30; ++f) frame(ui, lab, controller);
  ImGuiWindow* w = ImGui::FindWindowByName("###stepping");
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(w->WasActive);
  auto first = lab.gates().waiters();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].kind, GateKind::accept);
  EXPECT_EQ(passes(lab), 0u) << "nobody moves while the window is only drawn";

  // Space: the one waiter takes one step (accept → fork).
  frame(ui, lab, controller, " ");
  ASSERT_TRUE(eventually([&] { return passes(lab) == 1; }, 5s));
  ASSERT_TRUE(eventually([&] {
    auto now = lab.gates().waiters();
    return !now.empty() && now[0].pid == first[0].pid && now[0].kind == GateKind::fork;
  }, 5s));
  for (int f = 0; f < 10; ++f) frame(ui, lab, controller);
  EXPECT_EQ(passes(lab), 1u);
  // Stepping opened the code view, and it is drawn each frame.
  ImGuiWindow* code = ImGui::FindWindowByName("Code###code_view");
  ASSERT_NE(code, nullptr);
  EXPECT_TRUE(code->WasActive);

  // R: run mode releases everyone; both clients finish normally.
  frame(ui, lab, controller, "r");
  EXPECT_EQ(lab.gates().mode(), GateMode::run);
  EXPECT_EQ(lab.wait_clients(20s), 0);
  EXPECT_TRUE(lab.gates().waiters().empty());
  // P: paused again, for the next lesson.
  frame(ui, lab, controller, "p");
  EXPECT_EQ(lab.gates().mode(), GateMode::step);
  lab.gates().set_mode(GateMode::run);
  controller.stop();
}

TEST_F(StepViewTest, URunsToTheChosenGateAndTheScriptDoesTheSame) {
  lab::Lab lab(test::lab_options());
  LabController controller(lab);
  controller.spec().port = 0;
  lab.gates().set_mode(GateMode::step);
  ASSERT_TRUE(controller.start()) << controller.last_error();
  lab.start_clients(test::quick_clients(2, protocol::Protocol::ftp, {"USER anonymous", "PASS x", "QUIT"}));

  // The Stepping window alone, as the shell draws it.
  StepView view;
  auto draw = [&](const char* typed = "") {
    ImGuiIO& io = ImGui::GetIO();
    for (const char* c = typed; *c; ++c) io.AddInputCharacter(static_cast<unsigned>(*c));
    ImGui::NewFrame();
    if (ImGui::FindWindowByName("###stepping")) ImGui::SetWindowFocus("###stepping");
    lab.session().read([&](const session::Session& s) {
      FrameContext ctx{s, s.model(), trace::now_ns(), &controller, 60.0};
      view.update(ctx);
      view.draw(ctx);
    });
    ImGui::Render();
  };
  ASSERT_TRUE(eventually([&] {
    draw();
    return lab.gates().waiters().size() == 1;
  }));
  auto parked = lab.gates().waiters();
  EXPECT_EQ(parked[0].kind, GateKind::accept);

  // A connection field that is not a number: U does nothing.
  view.run_to_kind = GateKind::read;
  std::strcpy(view.run_to_conn, "two");
  for (int f = 0; f < 5; ++f) draw(f == 0 ? "u" : "");
  EXPECT_EQ(lab.gates().mode(), GateMode::step);
  EXPECT_EQ(lab.gates().waiters(), parked);
  EXPECT_EQ(passes(lab), 0u);

  // "read of connection 2", U: runs until connection 2's child is about to recv().
  std::strcpy(view.run_to_conn, "2");
  draw("u");
  ASSERT_TRUE(eventually([&] {
    draw();
    return lab.gates().breakpoint_seq() != 0 && lab.gates().mode() == GateMode::step;
  }, 15s));
  std::optional<trace::GateWaiter> bp;
  ASSERT_TRUE(eventually([&] {
    draw();
    for (const auto& w : lab.gates().waiters())
      if (w.seq == lab.gates().breakpoint_seq()) bp = w;
    return bp.has_value();
  }, 5s));
  EXPECT_EQ(bp->kind, GateKind::read);
  EXPECT_EQ(bp->conn, 2u);
  for (int f = 0; f < 10; ++f) draw();  // the marked row is drawn
  ImGuiWindow* w = ImGui::FindWindowByName("###stepping");
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(w->WasActive);

  // The script's `step until`: the same call. Connection 2, stopped at its
  // first read, goes on past it and through its session to close.
  std::istringstream in("step until close conn=2\n");
  std::string error;
  auto cmds = parse_script(in, "lesson", error);
  ASSERT_TRUE(cmds.has_value()) << error;
  AppUi ui;
  ScriptRunner runner(std::move(*cmds), "lesson", "");
  runner.step(&controller, ui);
  EXPECT_TRUE(runner.finished());
  EXPECT_EQ(runner.exit_code(), 0) << runner.error();
  ASSERT_TRUE(eventually([&] {
    for (const auto& x : lab.gates().waiters())
      if (x.seq == lab.gates().breakpoint_seq() && x.kind == GateKind::close && x.conn == 2) return true;
    return false;
  }, 15s)) << "mode " << trace::gate_mode_name(lab.gates().mode());

  lab.gates().set_mode(GateMode::run);
  EXPECT_EQ(lab.wait_clients(20s), 0);
  controller.stop();
}

}  // namespace
}  // namespace sockscope::app
