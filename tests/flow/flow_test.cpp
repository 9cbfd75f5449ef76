// The connection flow and the parked waiters (issue 7) folded from real
// sessions: a fork server and a thread server run by a Lab with real clients,
// in run mode and stepped one release at a time.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "lab_steps.h"
#include "session/flow.h"

using namespace sockscope;
using namespace std::chrono_literals;
using session::FlowDiagram;
using session::FlowLaneKind;
using session::FlowMessage;
using trace::GateKind;
using trace::Kind;
using test::eventually;

namespace {

FlowDiagram fold_now(lab::Lab& lab, session::FlowOptions options = {}) {
  lab.flush();
  return lab.session().read([&](const session::Session& s) {
    return session::fold_flow(s, s.model(), std::numeric_limits<std::uint64_t>::max(), options);
  });
}

std::vector<session::Parked> parked_now(lab::Lab& lab) {
  lab.flush();
  return lab.session().read([&](const session::Session& s) { return session::parked_at(s, s.model()); });
}

int lane_of(const FlowDiagram& d, FlowLaneKind kind, pid_t pid, pid_t tid) {
  for (std::size_t i = 0; i < d.lanes.size(); ++i)
    if (d.lanes[i].kind == kind && d.lanes[i].pid == pid && d.lanes[i].tid == tid) return static_cast<int>(i);
  return -1;
}
int client_lane(const FlowDiagram& d, std::uint32_t conn) {
  for (std::size_t i = 0; i < d.lanes.size(); ++i)
    if (d.lanes[i].kind == FlowLaneKind::client && d.lanes[i].conn == conn) return static_cast<int>(i);
  return -1;
}

// The messages of one connection, in order.
std::vector<FlowMessage> of_conn(const FlowDiagram& d, std::uint32_t conn) {
  std::vector<FlowMessage> out;
  for (const auto& m : d.messages)
    if (m.conn == conn) out.push_back(m);
  return out;
}

std::string describe(const FlowDiagram& d) {
  std::string out;
  for (const auto& l : d.lanes) out += "lane '" + l.label + "'\n";
  for (const auto& m : d.messages)
    out += std::to_string(m.from) + " -> " + std::to_string(m.to) + " " + std::string(trace::kind_name(m.kind)) + " '" +
           m.label + "'\n";
  return out;
}

struct Expect {
  Kind kind;
  int from, to;
  std::string label_prefix;
};

// `want` appears in `got` in this order (other messages may come between).
void expect_in_order(const std::vector<FlowMessage>& got, const std::vector<Expect>& want, std::uint32_t conn) {
  std::size_t at = 0;
  for (const Expect& w : want) {
    while (at < got.size() &&
           !(got[at].kind == w.kind && got[at].from == w.from && got[at].to == w.to &&
             got[at].label.starts_with(w.label_prefix)))
      ++at;
    ASSERT_LT(at, got.size()) << "conn " << conn << ": no " << trace::kind_name(w.kind) << " '" << w.label_prefix
                              << "' from lane " << w.from << " to " << w.to << " in order";
    ++at;
  }
}

}  // namespace

TEST(Flow, ForkServerDiagramHasALanePerClientListenerAndChildAndEverySyscallInOrder) {
  lab::Lab lab(test::lab_options());
  lab::ServerSpec spec;
  spec.arch = "fork";
  lab.start_server(spec);
  const pid_t server = lab.server_pid();
  lab.start_clients(test::quick_clients(2, protocol::Protocol::ftp, {"USER anonymous", "PASS x", "QUIT"}));
  ASSERT_EQ(lab.wait_clients(20s), 0);
  ASSERT_TRUE(eventually([&] { return test::count_of(lab, Kind::reap) >= 2; }));

  const FlowDiagram d = fold_now(lab);
  ASSERT_EQ(d.conns, (std::vector<std::uint32_t>{1, 2}));
  // Lanes: two clients, the listener, two children, in that order.
  ASSERT_EQ(d.lanes.size(), 5u) << describe(d);
  EXPECT_EQ(d.lanes[0].kind, FlowLaneKind::client);
  EXPECT_EQ(d.lanes[1].kind, FlowLaneKind::client);
  EXPECT_EQ(d.lanes[2].kind, FlowLaneKind::listener);
  EXPECT_EQ(d.lanes[2].pid, server);
  EXPECT_EQ(d.lanes[2].label, "listener " + std::to_string(server));
  EXPECT_EQ(d.lanes[3].kind, FlowLaneKind::handler);
  EXPECT_EQ(d.lanes[4].kind, FlowLaneKind::handler);
  EXPECT_FALSE(d.step) << "nothing was stepped";

  const auto forks = test::events_of(lab, Kind::fork);
  ASSERT_EQ(forks.size(), 2u);
  for (const auto& f : forks) {
    const std::uint32_t conn = f.conn;
    const auto child = static_cast<pid_t>(f.a);
    const int L = lane_of(d, FlowLaneKind::listener, server, server);
    const int C = lane_of(d, FlowLaneKind::handler, child, child);
    const int K = client_lane(d, conn);
    ASSERT_GE(C, 0) << "a lane for child " << child;
    ASSERT_GE(K, 0);
    EXPECT_EQ(d.lanes[static_cast<std::size_t>(C)].label, "child " + std::to_string(child));
    EXPECT_TRUE(d.lanes[static_cast<std::size_t>(K)].label.starts_with("client ")) << d.lanes[static_cast<std::size_t>(K)].label;
    expect_in_order(of_conn(d, conn),
                    {{Kind::client_connect, K, L, "connect()"},
                     {Kind::accept, L, L, "accept() -> fd"},
                     {Kind::fork, L, C, "fork() -> pid " + std::to_string(child) + ": child holds a copy"},
                     {Kind::close, L, L, "close() its copy of the socket"},
                     {Kind::child_start, C, C, "child runs"},
                     {Kind::reply, C, K, "reply 220"},
                     {Kind::client_request, K, C, "USER anonymous"},
                     {Kind::read, C, C, "recv() "},
                     {Kind::reply, C, K, "reply 331"},
                     {Kind::client_request, K, C, "QUIT"},
                     {Kind::reply, C, K, "reply 221"},
                     {Kind::close, C, K, "close()"},
                     {Kind::exit, C, C, "exit(0)"},
                     {Kind::reap, C, L, "reaped: waitpid() -> pid " + std::to_string(child)}},
                    conn);
  }
  // The fork and the parent's close of its copy are two rows, one right
  // after the other: the server logs no close of its own for that copy (it
  // closes it between fork() and logging the fork), so both come from the
  // fork event, and each row's tooltip says what it means.
  for (std::size_t i = 0; i < d.messages.size(); ++i) {
    const FlowMessage& m = d.messages[i];
    if (m.kind != Kind::fork) continue;
    ASSERT_LT(i + 1, d.messages.size()) << describe(d);
    const FlowMessage& close = d.messages[i + 1];
    EXPECT_EQ(close.kind, Kind::close) << describe(d);
    EXPECT_EQ(close.conn, m.conn);
    EXPECT_EQ(close.from, m.from);
    EXPECT_EQ(close.to, m.from) << "a note on the parent's lane";
    EXPECT_EQ(close.ts_ns, m.ts_ns);
    EXPECT_NE(m.detail.find("copy of the connection's socket"), std::string::npos) << m.detail;
    EXPECT_NE(close.detail.find("No event of its own"), std::string::npos) << close.detail;
  }
  EXPECT_EQ(test::count_of(lab, Kind::close), 2u) << "only the children log a close (the parent's copy has no event)";
  // Each thread's messages are in its own time order; a client's connect()
  // is drawn above the accept() it led to, whichever clock read came first.
  std::map<pid_t, std::uint64_t> last_ts;
  for (const auto& m : d.messages) {
    if (m.kind == Kind::client_connect) continue;
    EXPECT_GE(m.ts_ns, last_ts[m.tid]) << describe(d);
    last_ts[m.tid] = m.ts_ns;
  }
  // The diagram's own clock (where each row is placed) never runs backwards,
  // and never places a call after its thread logged it.
  for (std::size_t i = 0; i < d.messages.size(); ++i) {
    EXPECT_LE(d.messages[i].drawn_ns, d.messages[i].ts_ns);
    if (i > 0) {
      EXPECT_GE(d.messages[i].drawn_ns, d.messages[i - 1].drawn_ns) << describe(d);
    }
  }
  for (std::size_t i = 0; i < d.messages.size(); ++i)
    if (d.messages[i].kind == Kind::client_connect) {
      bool accepted_after = false;
      for (std::size_t j = i + 1; j < d.messages.size(); ++j)
        accepted_after |= d.messages[j].kind == Kind::accept && d.messages[j].conn == d.messages[i].conn;
      EXPECT_TRUE(accepted_after) << describe(d);
    }

  // Asking for one connection draws only its client and its handlers.
  const FlowDiagram one = fold_now(lab, {.conns = {2}});
  EXPECT_EQ(one.conns, std::vector<std::uint32_t>{2});
  EXPECT_EQ(one.lanes.size(), 3u);
  for (const auto& m : one.messages) EXPECT_EQ(m.conn, 2u);
  lab.stop_server();
}

TEST(Flow, ThreadServerHandsEachConnectionToItsOwnThreadLane) {
  lab::Lab lab(test::lab_options());
  lab::ServerSpec spec;
  spec.arch = "thread";
  lab.start_server(spec);
  const pid_t server = lab.server_pid();
  lab.start_clients(test::quick_clients(2, protocol::Protocol::ftp, {"USER anonymous", "QUIT"}));
  ASSERT_EQ(lab.wait_clients(20s), 0);
  ASSERT_TRUE(eventually([&] { return test::count_of(lab, Kind::thread_exit) >= 2; }));
  const FlowDiagram d = fold_now(lab);
  const auto spawns = test::events_of(lab, Kind::spawn);
  ASSERT_EQ(spawns.size(), 2u);
  for (const auto& s : spawns) {
    const auto tid = static_cast<pid_t>(s.a);
    ASSERT_NE(tid, server);
    const int T = lane_of(d, FlowLaneKind::handler, server, tid);
    ASSERT_GE(T, 0) << "a lane for thread " << tid;
    EXPECT_EQ(d.lanes[static_cast<std::size_t>(T)].label, "thread " + std::to_string(tid));
    const int L = lane_of(d, FlowLaneKind::listener, server, server);
    const int K = client_lane(d, s.conn);
    expect_in_order(of_conn(d, s.conn),
                    {{Kind::accept, L, L, "accept()"},
                     {Kind::spawn, L, T, "pthread_create() -> tid " + std::to_string(tid)},
                     {Kind::reply, T, K, "reply 220"},
                     {Kind::client_request, K, T, "USER anonymous"},
                     {Kind::close, T, K, "close()"},
                     {Kind::thread_exit, T, T, "thread ends"}},
                    s.conn);
  }
  lab.stop_server();
}

// Stepping a fork server one release at a time: after every release the
// folded step is the gate just released, the message it led to is that
// process's system call, and the parked list folded from the log equals the
// lab's live gate table.
TEST(Flow, EachReleaseIsTheHighlightedStepAndTheLogKnowsWhoIsParked) {
  lab::Lab lab(test::lab_options());
  auto& g = lab.gates();
  test::start_stepped(lab, "fork");
  lab.start_clients(test::quick_clients(1, protocol::Protocol::ftp, {"USER anonymous", "QUIT"}));
  ASSERT_TRUE(eventually([&] { return !g.waiters().empty(); }));

  // What each gate's system call shows up as in the diagram.
  auto produces = [](GateKind k) -> std::optional<Kind> {
    switch (k) {
      case GateKind::accept: return Kind::accept;
      case GateKind::fork: return Kind::fork;
      case GateKind::child_start: return Kind::child_start;
      case GateKind::reply: return Kind::reply;
      case GateKind::exit: return Kind::exit;
      case GateKind::reap: return Kind::reap;
      default: return std::nullopt;
    }
  };
  int checked = 0;
  std::set<GateKind> seen;
  for (int step = 0; step < 100; ++step) {
    auto waiters = test::settled(g);
    // The log's idea of who is parked is the gate table's.
    auto parked = parked_now(lab);
    ASSERT_EQ(parked.size(), waiters.size()) << "step " << step;
    for (std::size_t i = 0; i < parked.size(); ++i) {
      EXPECT_EQ(parked[i].pid, waiters[i].pid);
      EXPECT_EQ(parked[i].tid, waiters[i].tid);
      EXPECT_EQ(parked[i].gate, waiters[i].kind);
      EXPECT_EQ(parked[i].conn, waiters[i].conn);
    }
    if (waiters.empty()) {
      if (lab.running_clients() == 0 && test::count_of(lab, Kind::reap) >= 1) break;
      continue;
    }
    const auto w = waiters.front();
    const std::size_t passes = test::count_of(lab, Kind::gate_pass);
    ASSERT_TRUE(g.release(w));
    ASSERT_TRUE(eventually([&] { return test::count_of(lab, Kind::gate_pass) > passes; }, 5s));
    test::settled(g);
    const FlowDiagram d = fold_now(lab);
    ASSERT_TRUE(d.step) << "step " << step;
    EXPECT_EQ(d.step->gate, w.kind);
    EXPECT_EQ(d.step->pid, w.pid);
    EXPECT_EQ(d.step->tid, w.tid);
    // The parked lane shows where everyone else stands.
    for (const auto& x : g.waiters()) {
      const int lane = lane_of(d, x.pid == lab.server_pid() ? FlowLaneKind::listener : FlowLaneKind::handler, x.pid, x.tid);
      if (lane >= 0) {
        EXPECT_EQ(d.lanes[static_cast<std::size_t>(lane)].parked_at, trace::gate_name(x.kind));
      }
    }
    if (auto want = produces(w.kind); want && w.conn != 0) {
      ASSERT_GE(d.step->message, 0) << "gate " << trace::gate_name(w.kind) << " led to no message";
      const FlowMessage& m = d.messages[static_cast<std::size_t>(d.step->message)];
      EXPECT_EQ(m.kind, *want) << "gate " << trace::gate_name(w.kind) << " led to " << m.label;
      EXPECT_EQ(m.pid, w.pid);
      ++checked;
      seen.insert(w.kind);
    }
  }
  EXPECT_EQ(lab.wait_clients(10s), 0);
  EXPECT_GE(checked, 6);
  for (GateKind k : {GateKind::accept, GateKind::fork, GateKind::child_start, GateKind::reply, GateKind::exit})
    EXPECT_TRUE(seen.count(k)) << "never stepped through " << trace::gate_name(k);
  lab.stop_server();
}
