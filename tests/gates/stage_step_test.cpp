// Step by stage (issue 13): real servers started by a Lab in step mode, one
// FTP client, stepped from connect to reap twice - once a gate per press (as
// Space does), once a stage per press (as Shift+Space does) - and the two
// counts compared. The StageStepper is driven as the Stepping window drives
// it: start() on the press, tick() every few milliseconds, never blocking.
//
//   1. The stage rules, table-side (no processes)
//   2. Fork server: accept, hand-off, one stage per request, close, exit, reap
//   3. Thread server: the same with spawn, and join as the reap
//   4. Thread server, two clients: moving connection 2 leaves connection 1 parked
//   5. The Stepping window's Shift+Space and the script's `step stage`
//   6. Every architecture: one connection's whole story by stages
#include <gtest/gtest.h>

#include "gui/headless_imgui.h"
#include <imgui.h>
#include <imgui_internal.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "app_ui.h"
#include "lab/lab.h"
#include "lab_controller.h"
#include "lab_steps.h"
#include "script.h"
#include "servers/architecture.h"
#include "stage_step.h"
#include "trace/gate.h"
#include "trace/ring.h"
#include "views/step_view.h"

namespace sockscope::app {
namespace {

using namespace std::chrono_literals;
using trace::GateKind;
using trace::GateMode;
using trace::GateWaiter;
using test::count_of;
using test::eventually;
using test::events_of;
using test::quick_clients;
using test::settled;

const std::vector<std::string> kScript = {"USER anonymous", "PASS x", "QUIT"};
// A lesson's session: the visitor counter (two gates inside its request) and
// one download (two replies: 150, then 226 after the data).
const std::vector<std::string> kLessonScript = {"USER anonymous", "PASS x",         "SITE COUNT",
                                                "PASV",           "RETR hello.txt", "QUIT"};

// ---- 1. The rules ------------------------------------------------------------------

TEST(StageRules, EachGateStartsOrContinuesAStageAsTheHeaderSays) {
  EXPECT_EQ(stage_at(GateKind::accept, 1), Stage::accept);
  EXPECT_EQ(stage_at(GateKind::fork, 1), Stage::handoff);
  EXPECT_EQ(stage_at(GateKind::read, 1), Stage::request);
  EXPECT_EQ(stage_at(GateKind::handler_begin, 0), Stage::accept) << "the event loop's acceptor";
  EXPECT_EQ(stage_at(GateKind::handler_begin, 4), Stage::request);
  // accept → hand-off → (exec) → request → close → exit → reap.
  EXPECT_TRUE(starts_next_stage(GateKind::fork, Stage::accept));
  EXPECT_TRUE(starts_next_stage(GateKind::spawn, Stage::accept));
  EXPECT_TRUE(starts_next_stage(GateKind::enqueue, Stage::accept));
  EXPECT_TRUE(starts_next_stage(GateKind::read, Stage::accept)) << "serial, prefork: no hand-off";
  EXPECT_TRUE(starts_next_stage(GateKind::exec, Stage::handoff));
  EXPECT_TRUE(starts_next_stage(GateKind::read, Stage::handoff));
  EXPECT_TRUE(starts_next_stage(GateKind::read, Stage::request)) << "the next request";
  EXPECT_TRUE(starts_next_stage(GateKind::close, Stage::request));
  EXPECT_TRUE(starts_next_stage(GateKind::exit, Stage::close));
  EXPECT_TRUE(starts_next_stage(GateKind::reap, Stage::exit));
  // Inside a stage.
  for (GateKind g : {GateKind::child_start, GateKind::dequeue, GateKind::reply, GateKind::counter_read,
                     GateKind::counter_write, GateKind::lock, GateKind::unlock})
    for (int s = 0; s < static_cast<int>(Stage::count_); ++s)
      EXPECT_FALSE(starts_next_stage(g, static_cast<Stage>(s))) << trace::gate_name(g);
  // shotgun: a request's own process forks, exits and is reaped inside the request.
  EXPECT_FALSE(starts_next_stage(GateKind::fork, Stage::request));
  EXPECT_FALSE(starts_next_stage(GateKind::exit, Stage::request));
  EXPECT_FALSE(starts_next_stage(GateKind::reap, Stage::request));
  for (int s = 0; s < static_cast<int>(Stage::count_); ++s) {
    EXPECT_FALSE(stage_name(static_cast<Stage>(s)).empty());
    EXPECT_FALSE(stage_span(static_cast<Stage>(s)).empty());
  }

  session::SessionMeta meta;
  meta.architecture = "fork";
  EXPECT_EQ(stage_plan(meta), (StagePlan{true, true}));
  meta.options = {{"reap", "off"}};
  EXPECT_EQ(stage_plan(meta), (StagePlan{true, false})) << "reaping off: exit is the last stage";
  meta = {};
  meta.architecture = "pool";
  EXPECT_EQ(stage_plan(meta), (StagePlan{false, false})) << "a pool worker outlives its connection";
  meta.architecture = "thread";
  EXPECT_EQ(stage_plan(meta), (StagePlan{true, true})) << "join is the thread server's reap";
}

TEST(StageRules, NobodyWaitingIsSaidAndNothingStarts) {
  trace::GateTable g = trace::GateTable::create();
  g.set_mode(GateMode::step);
  StageStepper s;
  EXPECT_FALSE(s.start(g, 0, {}, trace::now_ns()));
  EXPECT_FALSE(s.running());
  EXPECT_EQ(s.message(), "nobody is waiting at a gate");
  EXPECT_FALSE(s.start(g, 7, {}, trace::now_ns()));
  EXPECT_EQ(s.message(), "connection 7 is not waiting at any gate");
}

// ---- the two ways of stepping one client -------------------------------------------

struct Outcome {
  int presses = 0;
  int releases = 0;  // gates passed on the server side
  std::vector<Stage> stages;
};

// Space, pressed until the connection is reaped: one release per press.
Outcome single_step(lab::Lab& lab) {
  auto& g = lab.gates();
  Outcome out;
  bool reaped = false;
  for (int i = 0; i < 100 && !reaped; ++i) {
    auto w = settled(g, 120ms);
    if (w.empty()) continue;
    const bool reap = w[0].kind == GateKind::reap;
    EXPECT_TRUE(g.release(w[0]));
    ++out.presses;
    ++out.releases;
    reaped = reap;
  }
  EXPECT_TRUE(reaped) << "never reached reap after " << out.presses << " presses";
  return out;
}

// Shift+Space, pressed until the connection is reaped: one stage per press,
// the stepper ticked every 5 ms as frames would.
Outcome stage_step(lab::Lab& lab, StagePlan plan) {
  auto& g = lab.gates();
  Outcome out;
  StageStepper stepper;
  for (int i = 0; i < 40; ++i) {
    if (!out.stages.empty() && out.stages.back() == Stage::reap) break;
    auto w = settled(g, 120ms);
    if (w.empty()) continue;
    if (!stepper.start(g, 0, plan, trace::now_ns())) {
      ADD_FAILURE() << stepper.message();
      break;
    }
    ++out.presses;
    out.stages.push_back(stepper.stage());
    while (stepper.running()) {
      lab.session().read([&](const session::Session& s) { stepper.tick(g, &s, trace::now_ns()); });
      std::this_thread::sleep_for(5ms);
    }
    EXPECT_TRUE(stepper.succeeded()) << "stage " << stage_name(stepper.stage()) << ": " << stepper.message();
    if (!stepper.succeeded()) break;
    out.releases += stepper.releases();
    // Where it stopped is where the next stage starts, and nobody else of
    // that connection moved past it.
    if (auto at = stepper.stopped_at()) {
      EXPECT_EQ(at->conn, 1u);
      EXPECT_TRUE(starts_next_stage(at->kind, stepper.stage())) << trace::gate_name(at->kind);
    }
  }
  return out;
}

std::string stage_list(const std::vector<Stage>& stages) {
  std::string s;
  for (Stage x : stages) s += (s.empty() ? "" : ", ") + std::string(stage_name(x));
  return s;
}

// The real outcome: the client's session went through, the server closed
// the connection and the process or thread that served it is gone.
void expect_served_and_closed(lab::Lab& lab, std::size_t commands) {
  EXPECT_EQ(lab.wait_clients(20s), 0) << "the client finished normally";
  for (const auto& e : events_of(lab, trace::Kind::client_error))
    ADD_FAILURE() << "client " << e.conn << " error " << e.a << " at " << e.text_view();
  auto replies = events_of(lab, trace::Kind::client_reply);
  EXPECT_GE(replies.size(), commands + 1) << "the greeting and one reply per command at least";
  for (const auto& e : replies) EXPECT_LT(e.a, 400) << "got " << e.a;
  ASSERT_TRUE(eventually([&] {
    return lab.session().read([](const session::Session& s) {
      const session::ConnectionView* c = s.model().find_connection(1);
      return c != nullptr && c->state == session::ConnState::closed;
    });
  }, 5s)) << "the session shows connection 1 closed";
}

// One lab per run: the same server, the same client, stepped two ways.
struct Measured {
  Outcome single;
  Outcome staged;
};

Measured measure(const std::string& arch, const std::vector<std::string>& script) {
  Measured m;
  {
    lab::Lab lab(test::lab_options());
    test::start_stepped(lab, arch);
    lab.start_clients(quick_clients(1, protocol::Protocol::ftp, script));
    m.single = single_step(lab);
    expect_served_and_closed(lab, script.size());
    lab.gates().set_mode(GateMode::run);
    lab.stop_server();
  }
  {
    lab::Lab lab(test::lab_options());
    test::start_stepped(lab, arch);
    const StagePlan plan = lab.session().read([](const session::Session& s) { return stage_plan(s.meta()); });
    lab.start_clients(quick_clients(1, protocol::Protocol::ftp, script));
    m.staged = stage_step(lab, plan);
    expect_served_and_closed(lab, script.size());
    if (arch == "fork") {
      // The child was reaped: its reap event, and the process is no zombie.
      EXPECT_TRUE(eventually([&] { return count_of(lab, trace::Kind::reap) >= 1; }, 5s));
      const auto reaps = events_of(lab, trace::Kind::reap);
      const trace::Event reap = reaps.empty() ? trace::Event{} : reaps.front();
      EXPECT_EQ(reap.conn, 1u);
      lab.session().read([&](const session::Session& s) {
        const session::ProcessView* child = s.model().find_process(static_cast<pid_t>(reap.a));
        ASSERT_NE(child, nullptr);
        EXPECT_NE(child->reap_ns, 0u);
        EXPECT_FALSE(child->zombie);
      });
    } else {
      // The handler thread exited and was joined: the server is back to its
      // one thread.
      EXPECT_EQ(count_of(lab, trace::Kind::thread_exit), 1u);
      const pid_t server = lab.server_pid();
      EXPECT_TRUE(eventually([&] {
        return lab.session().read([&](const session::Session& s) {
          const session::ProcessView* p = s.model().find_process(server);
          return p != nullptr && p->threads == 1;
        });
      }, 5s)) << "the handler thread was joined";
    }
    EXPECT_TRUE(lab.gates().waiters().empty()) << "nothing of the connection is left parked";
    lab.gates().set_mode(GateMode::run);
    lab.stop_server();
  }
  std::string commands;
  for (const auto& c : script) commands += (commands.empty() ? "" : "/") + c.substr(0, c.find(' '));
  std::printf("[ presses ] %s, %s: %d single steps, %d stage steps (%s)\n", arch.c_str(), commands.c_str(),
              m.single.presses, m.staged.presses, stage_list(m.staged.stages).c_str());
  return m;
}

// accept | hand-off | one request per command (the first includes nothing
// of the greeting: that went in the hand-off) | close | exit | reap.
std::vector<Stage> expected_stages(std::size_t commands) {
  std::vector<Stage> out = {Stage::accept, Stage::handoff};
  out.insert(out.end(), commands, Stage::request);
  out.insert(out.end(), {Stage::close, Stage::exit, Stage::reap});
  return out;
}

void expect_counts(const Measured& m, std::size_t commands, int single_presses) {
  EXPECT_EQ(stage_list(m.staged.stages), stage_list(expected_stages(commands)));
  EXPECT_EQ(m.staged.presses, static_cast<int>(m.staged.stages.size())) << "one press per stage seen";
  EXPECT_EQ(m.single.presses, single_presses);
  EXPECT_LT(m.staged.presses, m.single.presses);
  EXPECT_EQ(m.staged.releases, m.single.releases) << "the same gates passed, grouped by stage";
}

// ---- 2. Fork server ---------------------------------------------------------------

TEST(StageStep, ForkServerOneClientFromConnectToReapTakesOnePressPerStage) {
  // Single steps: accept, fork, child_start, greeting, 3 x (read, reply), close, exit, reap.
  expect_counts(measure("fork", kScript), kScript.size(), 13);
  // + SITE COUNT (read, counter_read, counter_write, reply), PASV (read,
  // reply), RETR (read, 150, 226).
  const Measured m = measure("fork", kLessonScript);
  expect_counts(m, kLessonScript.size(), 22);
  EXPECT_LE(m.staged.presses * 2, m.single.presses) << "half the presses, or fewer";
}

// ---- 3. Thread server ---------------------------------------------------------------

TEST(StageStep, ThreadServerOneClientFromConnectToJoinTakesOnePressPerStage) {
  // accept, spawn, greeting, 3 x (read, reply), close, exit, reap (join).
  expect_counts(measure("thread", kScript), kScript.size(), 12);
  const Measured m = measure("thread", kLessonScript);
  expect_counts(m, kLessonScript.size(), 21);
  EXPECT_LE(m.staged.presses * 2 - 1, m.single.presses);
}

// ---- 4. Only the chosen connection moves -----------------------------------------------

TEST(StageStep, MovingConnectionTwoLeavesConnectionOneWhereItStands) {
  lab::Lab lab(test::lab_options());
  auto& g = lab.gates();
  const pid_t server = test::start_stepped(lab, "thread");
  const StagePlan plan = lab.session().read([](const session::Session& s) { return stage_plan(s.meta()); });
  lab.start_clients(quick_clients(2, protocol::Protocol::ftp, kScript));
  StageStepper stepper;
  auto run = [&](std::uint32_t conn) {
    EXPECT_TRUE(stepper.start(g, conn, plan, trace::now_ns())) << stepper.message();
    while (stepper.running()) {
      lab.session().read([&](const session::Session& s) { stepper.tick(g, &s, trace::now_ns()); });
      std::this_thread::sleep_for(5ms);
    }
    EXPECT_TRUE(stepper.succeeded()) << stepper.message();
  };
  // Connection 1: accept, then spawn to its first read.
  ASSERT_TRUE(eventually([&] { return !g.waiters().empty(); }));
  settled(g);
  run(0);
  run(0);
  ASSERT_TRUE(stepper.stopped_at().has_value());
  const GateWaiter one = *stepper.stopped_at();
  EXPECT_EQ(one.kind, GateKind::read);
  EXPECT_EQ(one.conn, 1u);
  EXPECT_NE(one.tid, server);

  // Connection 2, chosen: its whole story, stage by stage, while 1 waits.
  ASSERT_TRUE(eventually([&] {
    for (const auto& w : g.waiters())
      if (w.conn == 2) return true;
    return false;
  }));
  std::vector<Stage> stages;
  for (int i = 0; i < 20 && (stages.empty() || stages.back() != Stage::reap); ++i) {
    settled(g, 120ms);
    run(2);
    stages.push_back(stepper.stage());
    auto w = g.waiters();
    EXPECT_NE(std::find(w.begin(), w.end(), one), w.end()) << "connection 1 moved during " << stage_name(stages.back());
  }
  EXPECT_EQ(stages.size(), 8u) << stage_list(stages);
  ASSERT_TRUE(eventually([&] {
    return lab.session().read([](const session::Session& s) {
      const session::ConnectionView* c = s.model().find_connection(2);
      return c != nullptr && c->state == session::ConnState::closed;
    });
  }, 5s));
  lab.session().read([](const session::Session& s) {
    const session::ConnectionView* c = s.model().find_connection(1);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->state, session::ConnState::open) << "connection 1 still waits to read USER";
  });
  g.set_mode(GateMode::run);
  EXPECT_EQ(lab.wait_clients(20s), 0);
  lab.stop_server();
}

// ---- 5. The window and the script -------------------------------------------------------

class StageStepView : public gui_test::HeadlessImGuiTest {};

TEST_F(StageStepView, ShiftSpaceMovesAStageAndTheScriptsStepStageWaitsForItsEnd) {
  lab::Lab lab(test::lab_options());
  LabController controller(lab);
  controller.spec().port = 0;
  lab.gates().set_mode(GateMode::step);
  ASSERT_TRUE(controller.start()) << controller.last_error();
  lab.start_clients(quick_clients(1, protocol::Protocol::ftp, kScript));

  StepView view;
  std::vector<std::string> texts;
  auto draw = [&](const char* typed = "", bool shift = false) {
    ImGuiIO& io = ImGui::GetIO();
    io.KeyShift = shift;
    for (const char* c = typed; *c; ++c) io.AddInputCharacter(static_cast<unsigned>(*c));
    ImGui::NewFrame();
    for (const char* name : {"Stepping", "###stepping"})  // the title, before and after the layout table
      if (ImGuiWindow* w = ImGui::FindWindowByName(name)) ImGui::FocusWindow(w);
    lab.session().read([&](const session::Session& s) {
      FrameContext ctx{s, s.model(), trace::now_ns(), &controller, 60.0};
      view.update(ctx);
      view.draw(ctx);
    });
    ImGui::Render();
    io.KeyShift = false;
    if (texts.empty() || texts.back() != view.stage_stepper().status_text())
      texts.push_back(view.stage_stepper().status_text());
  };
  ASSERT_TRUE(eventually([&] {
    draw();
    return lab.gates().waiters().size() == 1;
  }));
  // Shift+Space twice: accept, then the hand-off to the child's first read.
  for (int press = 0; press < 2; ++press) {
    draw(" ", true);
    ASSERT_TRUE(eventually([&] {
      draw();
      return !view.stage_stepper().running();
    }, 10s));
    EXPECT_TRUE(view.stage_stepper().succeeded()) << view.stage_stepper().message();
  }
  auto w = lab.gates().waiters();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].kind, GateKind::read);
  EXPECT_EQ(w[0].conn, 1u);
  EXPECT_NE(w[0].pid, lab.server_pid()) << "the child";
  bool said = false;
  for (const auto& t : texts) said = said || t == "moving connection 1 through: hand-off (" + std::string(stage_span(Stage::handoff)) + ")";
  EXPECT_TRUE(said) << "the mode text said what it was doing";
  EXPECT_EQ(view.stage_stepper().message(), "connection 1 stands at read: next, request (read → reply)");
  // Plain Space is still one gate.
  draw(" ");
  ASSERT_TRUE(eventually([&] {
    auto now = lab.gates().waiters();
    return now.size() == 1 && now[0].kind == GateKind::reply;
  }, 5s));

  // The script: two stages (the rest of USER, then PASS), each waited for.
  std::istringstream in("step stage\nstep stage timeout=20\n");
  std::string error;
  auto cmds = parse_script(in, "lesson", error);
  ASSERT_TRUE(cmds.has_value()) << error;
  ASSERT_EQ(cmds->size(), 2u);
  EXPECT_EQ((*cmds)[0].text, "stage");
  EXPECT_EQ((*cmds)[1].timeout_ms, 20000);
  AppUi ui;
  ScriptRunner runner(std::move(*cmds), "lesson", "");
  runner.step(&controller, ui);
  EXPECT_FALSE(runner.finished()) << "waits for the stage run to end";
  ASSERT_TRUE(eventually([&] {
    runner.step(&controller, ui);
    return runner.finished();
  }, 20s));
  EXPECT_EQ(runner.exit_code(), 0) << runner.error();
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::reply) >= 3; }, 5s)) << "greeting, USER, PASS";
  w = settled(lab.gates());
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].kind, GateKind::read) << "before QUIT";

  for (const char* bad : {"step stage now\n", "step stage timeout=x\n", "step stage wait=3\n"}) {
    std::istringstream b(bad);
    EXPECT_FALSE(parse_script(b, "lesson", error).has_value()) << bad;
  }
  lab.gates().set_mode(GateMode::run);
  EXPECT_EQ(lab.wait_clients(20s), 0);
  controller.stop();
}

// ---- 6. Every architecture ---------------------------------------------------------------

// Space until connection 1 is over: closed, and nothing of it parked any more.
int single_steps_to_the_end(lab::Lab& lab) {
  auto& g = lab.gates();
  int presses = 0;
  for (int i = 0; i < 200; ++i) {
    auto w = settled(g, 120ms);
    const bool closed = lab.session().read([](const session::Session& s) {
      const session::ConnectionView* c = s.model().find_connection(1);
      return c != nullptr && c->state != session::ConnState::open;
    });
    if (closed && lab.running_clients() == 0 &&
        std::none_of(w.begin(), w.end(), [](const GateWaiter& x) { return x.conn == 1; }))
      break;
    if (w.empty()) continue;
    // The earliest arrival of connection 1 (or of no connection yet: an
    // accept that will be it), as a teacher following that client would.
    auto it = std::find_if(w.begin(), w.end(), [](const GateWaiter& x) { return x.conn == 1 || x.conn == 0; });
    if (it == w.end()) break;
    EXPECT_TRUE(g.release(*it));
    ++presses;
  }
  return presses;
}

TEST(StageStep, EveryArchitectureTakesOneConnectionFromAcceptToItsEndByStages) {
  for (const servers::Architecture& arch : servers::architectures()) {
    SCOPED_TRACE(std::string(arch.name));
    int single = 0;
    {
      lab::Lab lab(test::lab_options());
      test::start_stepped(lab, std::string(arch.name));
      lab.start_clients(quick_clients(1, protocol::Protocol::ftp, kScript));
      single = single_steps_to_the_end(lab);
      EXPECT_EQ(lab.wait_clients(20s), 0);
      lab.gates().set_mode(GateMode::run);
      lab.stop_server();
    }
    lab::Lab lab(test::lab_options());
    auto& g = lab.gates();
    test::start_stepped(lab, std::string(arch.name));
    const StagePlan plan = lab.session().read([](const session::Session& s) { return stage_plan(s.meta()); });
    lab.start_clients(quick_clients(1, protocol::Protocol::ftp, kScript));
    StageStepper stepper;
    std::vector<Stage> stages;
    for (int i = 0; i < 30 && !stepper.connection_done(); ++i) {
      auto w = settled(g, 120ms);
      if (w.empty()) continue;
      // The first press takes the earliest arrival (the new connection's
      // accept); after that, connection 1.
      ASSERT_TRUE(stepper.start(g, stages.empty() ? 0 : 1, plan, trace::now_ns())) << stepper.message();
      stages.push_back(stepper.stage());
      while (stepper.running()) {
        lab.session().read([&](const session::Session& s) { stepper.tick(g, &s, trace::now_ns()); });
        std::this_thread::sleep_for(5ms);
      }
      ASSERT_TRUE(stepper.succeeded()) << "press " << stages.size() << ", " << stage_name(stages.back()) << ": "
                                       << stepper.message();
    }
    EXPECT_TRUE(stepper.connection_done()) << stepper.message();
    EXPECT_EQ(lab.wait_clients(20s), 0) << "the client finished normally";
    for (const auto& e : events_of(lab, trace::Kind::client_error))
      ADD_FAILURE() << "client error " << e.a << " at " << e.text_view();
    EXPECT_TRUE(eventually([&] {
      return lab.session().read([](const session::Session& s) {
        const session::ConnectionView* c = s.model().find_connection(1);
        return c != nullptr && c->state == session::ConnState::closed;
      });
    }, 5s));
    if (arch.has(servers::kEventLoop)) {
      // A handler reads a command, writes its reply straight into the
      // socket and, after QUIT, closes: each single step is already a stage.
      EXPECT_EQ(static_cast<int>(stages.size()), single);
    } else {
      EXPECT_LT(static_cast<int>(stages.size()), single);
    }
    std::printf("[ presses ] %-8s USER/PASS/QUIT: %2d single steps, %2d stage steps (%s)\n", std::string(arch.name).c_str(),
                single, static_cast<int>(stages.size()), stage_list(stages).c_str());
    g.set_mode(GateMode::run);
    lab.stop_server();
  }
}

}  // namespace
}  // namespace sockscope::app
