// Live and replay share one code path: a real fork server serves 3 real
// clients through a Lab; the session is exported as JSON Lines and read back;
// the fold of the replay at its end must equal the fold of the live session
// (the whole Model, nothing excluded), and so must the folds at every
// earlier instant we pick, and the timeline built from either.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "lab/lab.h"
#include "session/export.h"
#include "session/flow.h"
#include "session/timeline.h"

using namespace sockscope;
using namespace std::chrono_literals;

namespace {

TEST(LiveReplay, FoldOfTheReplayEqualsTheLiveFold) {
  lab::LabOptions options;
  options.self_exe = SOCKSCOPE_BIN;
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("sockscope-live-replay-" + std::to_string(getpid()) + ".jsonl");
  session::Session live;
  {
    lab::Lab lab(options);
    lab::ServerSpec spec;
    spec.arch = "fork";
    lab.start_server(spec);
    clients::Scenario sc = clients::preset("steady");
    sc.count = 3;
    lab.start_clients(sc);
    ASSERT_EQ(lab.wait_clients(30s), 0);
    lab.stop_server();
    lab.flush();
    live = lab.session().copy();
  }  // the lab is gone: nothing it started is left running
  ASSERT_GE(live.model().counts.connections_served, 3u);
  ASSERT_EQ(live.model().counts.children_forked, 3u);

  std::string error;
  ASSERT_TRUE(session::write_jsonl(live, file, error)) << error;
  auto replay = session::read_jsonl(file, error);
  std::filesystem::remove(file);
  ASSERT_TRUE(replay.has_value()) << error;
  EXPECT_TRUE(replay->same_store(live));

  // The end state, the whole Model.
  const session::Model live_end = live.fold();
  const session::Model replay_end = replay->fold();
  EXPECT_EQ(live_end, replay_end);
  EXPECT_EQ(live.model(), replay->model());

  // Earlier instants: every tenth event's time.
  const auto& events = live.events();
  ASSERT_GT(events.size(), 20u);
  for (std::size_t i = 0; i < events.size(); i += events.size() / 10) {
    const std::uint64_t t = events[i].ts_ns;
    EXPECT_EQ(live.fold(t), replay->fold(t)) << "at event " << i;
    // The connection flow and who was parked, folded from either, too.
    const session::Model lm = live.fold(t), rm = replay->fold(t);
    EXPECT_EQ(session::fold_flow(live, lm, t), session::fold_flow(*replay, rm, t)) << "at event " << i;
    EXPECT_EQ(session::parked_at(live, lm, t), session::parked_at(*replay, rm, t)) << "at event " << i;
  }
  const session::FlowDiagram flow = session::fold_flow(*replay, replay_end, replay_end.at_ns);
  EXPECT_EQ(flow, session::fold_flow(live, live_end, live_end.at_ns));
  EXPECT_EQ(flow.conns.size(), 3u);

  // And the timeline drawn from either is the same.
  session::TimelineIndex a, b;
  a.update(live);
  b.update(*replay);
  ASSERT_EQ(a.lanes().size(), b.lanes().size());
  for (std::size_t i = 0; i < a.lanes().size(); ++i) {
    EXPECT_EQ(a.lanes()[i].pid, b.lanes()[i].pid);
    EXPECT_EQ(a.lanes()[i].event_ts, b.lanes()[i].event_ts);
    EXPECT_EQ(a.lanes()[i].rows.size(), b.lanes()[i].rows.size());
  }
  EXPECT_EQ(a.arrows().size(), b.arrows().size());
  // 3 children forked: 3 fork arrows from the server's lane.
  std::size_t forks = 0;
  for (const auto& arrow : a.arrows()) forks += arrow.kind == session::ArrowKind::fork;
  EXPECT_EQ(forks, 3u);
}

}  // namespace
