#include "lab/stage_step.h"

#include <algorithm>
#include <array>

#include "servers/architecture.h"

namespace sockscope::lab {

using trace::GateKind;
using trace::GateWaiter;

namespace {

struct StageRow {
  Stage stage;
  std::string_view name;
  std::string_view span;
};
constexpr std::array<StageRow, static_cast<std::size_t>(Stage::count_)> kStages = {{
    {Stage::accept, "accept", "accept → the connection's next step"},
    {Stage::handoff, "hand-off", "fork / spawn / enqueue → the new process, thread or worker ready to read"},
    {Stage::exec, "exec", "exec → the handler program ready to read"},
    {Stage::request, "request", "read → reply"},
    {Stage::close, "close", "FIN and close()"},
    {Stage::exit, "exit", "the process or thread ends"},
    {Stage::reap, "reap", "waitpid() / join() collects it"},
}};
constexpr bool stages_in_order() {
  for (std::size_t i = 0; i < kStages.size(); ++i)
    if (static_cast<std::size_t>(kStages[i].stage) != i) return false;
  return true;
}
static_assert(stages_in_order(), "kStages rows must follow Stage's order");

std::string conn_text(std::uint32_t conn) {
  return conn ? "connection " + std::to_string(conn) : std::string("the new connection");
}

// The session holds the gate_wait `w` emitted when it parked: everything its
// thread emitted before parking is in the session too.
bool session_saw_wait(const session::Session& s, const GateWaiter& w) {
  const auto& gates = s.gate_events();
  for (auto it = gates.rbegin(); it != gates.rend() && it->ts_ns >= w.since_ns; ++it) {
    if (it->kind == trace::Kind::gate_wait && static_cast<pid_t>(it->tid) == w.tid &&
        (it->b & 0xffffffff) == w.slot && it->a == static_cast<std::int64_t>(w.kind))
      return true;
  }
  return false;
}

}  // namespace

std::string_view stage_name(Stage s) {
  auto i = static_cast<std::size_t>(s);
  return i < kStages.size() ? kStages[i].name : std::string_view{"?"};
}

std::string_view stage_span(Stage s) {
  auto i = static_cast<std::size_t>(s);
  return i < kStages.size() ? kStages[i].span : std::string_view{};
}

Stage stage_at(GateKind kind, std::uint32_t conn) {
  switch (kind) {
    case GateKind::accept: return Stage::accept;
    case GateKind::fork:
    case GateKind::spawn:
    case GateKind::enqueue:
    case GateKind::child_start:
    case GateKind::dequeue: return Stage::handoff;
    case GateKind::exec: return Stage::exec;
    case GateKind::close: return Stage::close;
    case GateKind::exit: return Stage::exit;
    case GateKind::reap: return Stage::reap;
    case GateKind::handler_begin: return conn == 0 ? Stage::accept : Stage::request;  // conn 0: the acceptor's
    case GateKind::read:
    case GateKind::reply:
    case GateKind::lock:
    case GateKind::unlock:
    case GateKind::counter_read:
    case GateKind::counter_write:
    case GateKind::count_: break;
  }
  return Stage::request;
}

bool starts_next_stage(GateKind kind, Stage current) {
  switch (kind) {
    case GateKind::fork:
    case GateKind::spawn:
    case GateKind::enqueue: return current == Stage::accept;  // later: shotgun's per-request fork
    case GateKind::exec: return current == Stage::accept || current == Stage::handoff;
    case GateKind::read: return current < Stage::close;  // the next request (or the first)
    case GateKind::close: return current < Stage::close;
    // The connection's process or thread ends only after it closed; an exit
    // or reap before that is a shotgun request's own process.
    case GateKind::exit: return current == Stage::close;
    case GateKind::reap: return current == Stage::close || current == Stage::exit;
    default: return false;
  }
}

StagePlan stage_plan(const session::SessionMeta& meta) {
  StagePlan plan;
  if (const servers::Architecture* a = servers::find_architecture(meta.architecture)) {
    plan.exits = a->passes(GateKind::exit);
    plan.reaps = a->passes(GateKind::reap);
    // The fork family with reaping off: children stay zombies, no reap gate.
    if (a->uses(servers::SettingId::reap) && meta.option("reap", "on") == "off") plan.reaps = false;
  }
  return plan;
}

bool StageStepper::carried(const GateWaiter& w) const {
  return std::any_of(carriers_.begin(), carriers_.end(),
                     [&](const Carrier& c) { return c.pid == w.pid && c.tid == w.tid; });
}

bool StageStepper::is_final(Stage s) const {
  return s == Stage::reap || (s == Stage::exit && !plan_.reaps) || (s == Stage::close && !plan_.exits);
}

void StageStepper::release(trace::GateTable& gates, const GateWaiter& w, std::uint64_t now_ns) {
  if (!gates.release(w)) return;  // gone meanwhile (Release in the panel, or the lab)
  if (!carried(w)) carriers_.push_back({w.pid, w.tid});
  if (w.kind == GateKind::handler_begin) loop_ = true;
  last_release_ns_ = now_ns;
  last_seq_ = std::max(last_seq_, w.seq);
  ++releases_;
}

void StageStepper::finish(bool ok, std::string message, std::optional<GateWaiter> at, bool done) {
  running_ = false;
  succeeded_ = ok;
  done_ = done;
  message_ = std::move(message);
  stopped_at_ = at;
}

void StageStepper::cancel(std::string why) {
  if (running_) finish(false, std::move(why));
}

bool StageStepper::start(trace::GateTable& gates, std::uint32_t conn, StagePlan plan, std::uint64_t now_ns) {
  running_ = false;
  loop_ = false;
  succeeded_ = false;
  done_ = false;
  releases_ = 0;
  carriers_.clear();
  stopped_at_.reset();
  const auto waiters = gates.waiters();  // in arrival order
  auto first = std::find_if(waiters.begin(), waiters.end(),
                            [&](const GateWaiter& w) { return conn == 0 || w.conn == conn; });
  if (first == waiters.end()) {
    message_ = conn ? "connection " + std::to_string(conn) + " is not waiting at any gate" : "nobody is waiting at a gate";
    return false;
  }
  const GateWaiter w = *first;
  plan_ = plan;
  conn_ = w.conn;
  stage_ = stage_at(w.kind, w.conn);
  start_ns_ = now_ns;
  last_seq_ = 0;
  running_ = true;
  message_.clear();
  release(gates, w, now_ns);
  if (releases_ == 0) {
    finish(false, "that waiter moved on before it could be released");
    return false;
  }
  // The last stage of a connection's story: nothing of it follows.
  if (conn_ != 0 && is_final(stage_))
    finish(true, conn_text(conn_) + ": " + std::string(stage_name(stage_)) + " done, nothing more happens to it",
           std::nullopt, true);
  return true;
}

bool StageStepper::server_event_since(const session::Session& s, trace::Kind kind) const {
  const auto& events = s.events();
  for (auto it = events.rbegin(); it != events.rend() && it->ts_ns >= start_ns_; ++it)
    if (it->kind == kind && it->conn == conn_) return true;
  return false;
}

std::uint32_t StageStepper::learn_conn(const trace::GateTable&, const std::vector<GateWaiter>& waiters,
                                       const session::Session* session) const {
  // The accept() the released thread made names the connection (prefork's
  // workers and the event loop's acceptor park before it knows its number).
  if (session != nullptr) {
    const auto& events = session->events();
    for (auto it = events.rbegin(); it != events.rend() && it->ts_ns >= start_ns_; ++it) {
      if (it->kind != trace::Kind::accept || it->conn == 0) continue;
      for (const Carrier& c : carriers_)
        if (static_cast<pid_t>(it->pid) == c.pid && static_cast<pid_t>(it->tid) == c.tid) return it->conn;
    }
    return 0;
  }
  // Without the events: the released thread's next gate that names one.
  for (const GateWaiter& w : waiters)
    if (w.seq > last_seq_ && w.conn != 0 && carried(w)) return w.conn;
  return 0;
}

void StageStepper::tick(trace::GateTable& gates, const session::Session* session, std::uint64_t now_ns) {
  if (!running_) return;
  if (gates.mode() != trace::GateMode::step) {
    finish(false, "stage run stopped: the servers are no longer paused");
    return;
  }
  const auto waiters = gates.waiters();
  const bool timed_out = now_ns > last_release_ns_ + kTimeoutNs;
  const std::string timeout_message =
      "stage run stopped: " + conn_text(conn_) + " made no progress for " + std::to_string(kTimeoutNs / 1'000'000'000) +
      " s (blocked outside any gate: waiting for its client?)";

  if (conn_ == 0) {
    conn_ = learn_conn(gates, waiters, session);
    if (conn_ == 0) {
      // The released thread parked again without accepting anything: the gate
      // belonged to no connection (an event loop timer, a worker's EAGAIN).
      for (const GateWaiter& w : waiters) {
        if (w.seq > last_seq_ && carried(w) && (session == nullptr || session_saw_wait(*session, w))) {
          finish(true, "that step belonged to no connection; it now waits at " + std::string(trace::gate_name(w.kind)),
                 w);
          return;
        }
      }
      if (timed_out)
        finish(false, "stage run stopped: the released process or thread accepted no connection in " +
                          std::to_string(kTimeoutNs / 1'000'000'000) + " s (another worker took it?)");
      return;
    }
  }

  const std::string who = conn_text(conn_);
  std::vector<GateWaiter> ours;
  for (const GateWaiter& w : waiters)
    if (w.conn == conn_) ours.push_back(w);

  // The event loop: a connection's story ends with its close event, with no
  // close, exit or reap gate of its own.
  if (loop_ && session != nullptr && server_event_since(*session, trace::Kind::close)) {
    finish(true, who + " closed: nothing more happens to it",
           ours.empty() ? std::nullopt : std::optional<GateWaiter>(ours.front()), true);
    return;
  }

  // Inside the stage: release the earliest; at the next stage's first gate: done.
  std::optional<GateWaiter> boundary;
  for (const GateWaiter& w : ours) {
    bool next;
    if (w.kind == GateKind::handler_begin) {
      // One handler of the loop is a gate; which part of the request it
      // runs is in the events: wait until the session has caught up with it.
      if (session == nullptr) {
        next = true;  // without events, one handler per stage
      } else {
        if (!session_saw_wait(*session, w)) continue;
        next = stage_ == Stage::accept || server_event_since(*session, trace::Kind::reply);
      }
    } else {
      next = starts_next_stage(w.kind, stage_);
    }
    if (!next) {
      release(gates, w, now_ns);
      return;
    }
    if (!boundary) boundary = w;
  }
  if (boundary) {
    const Stage next = stage_at(boundary->kind, boundary->conn);
    // The loop's next handler may start a request or the close: the events
    // will tell once it has run.
    const std::string what = boundary->kind == GateKind::handler_begin
                                 ? std::string("its next handler (a request, or the close)")
                                 : std::string(stage_name(next)) + " (" + std::string(stage_span(next)) + ")";
    finish(true, who + " stands at " + std::string(trace::gate_name(boundary->kind)) + ": next, " + what, boundary);
    return;
  }
  if (timed_out) finish(false, timeout_message);
}

std::string StageStepper::status_text() const {
  if (!running_) return message_;
  return "moving " + conn_text(conn_) + " through: " + std::string(stage_name(stage_)) + " (" +
         std::string(stage_span(stage_)) + ")";
}

void apply_step_command(trace::GateTable& gates, StepCommand command, std::uint32_t slow_ms) {
  switch (command) {
    case StepCommand::run:
      gates.set_mode(trace::GateMode::run);  // releases everyone parked
      break;
    case StepCommand::pause:
      // Everyone stops at their next gate; nobody is released.
      gates.set_mode(trace::GateMode::step);
      break;
    case StepCommand::step:
      // From run or slow motion, the first Step pauses; after that each Step
      // lets the earliest arrival take one step.
      if (gates.mode() != trace::GateMode::step) gates.set_mode(trace::GateMode::step);
      else gates.release_next();
      break;
    case StepCommand::slow:
      gates.set_mode(trace::GateMode::slow, slow_ms);
      break;
  }
}

void apply_run_to(trace::GateTable& gates, trace::RunTarget target) { gates.run_until(target.kind, target.conn); }

}  // namespace sockscope::lab
