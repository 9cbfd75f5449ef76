#include "session/loop_fold.h"

#include <algorithm>

namespace sockscope::session {
namespace {

using trace::Kind;

bool is_loop_kind(Kind k) {
  switch (k) {
    case Kind::handler_create:
    case Kind::reactor_register:
    case Kind::reactor_ready:
    case Kind::completion:
    case Kind::handler_begin:
    case Kind::handler_end:
      return true;
    default:
      return false;
  }
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// Operations that enter the ready queue the moment they are created: a
// post/defer/dispatch from outside the handler is queued at once.
bool queued_at_creation(std::string_view op) {
  return contains(op, ":post") || contains(op, ":defer") || contains(op, ":dispatch") || contains(op, ":execute");
}

bool is_timer(std::string_view op) { return op.rfind("timer:", 0) == 0; }

}  // namespace

std::size_t LoopState::pending_count(std::string_view op) const {
  if (op.empty()) return pending.size();
  return static_cast<std::size_t>(
      std::count_if(pending.begin(), pending.end(), [&](const PendingOp& p) { return contains(p.op, op); }));
}

bool LoopState::stalled(std::uint64_t threshold_ns) const {
  return std::any_of(running.begin(), running.end(),
                     [&](const RunningHandler& r) { return r.elapsed_ns >= threshold_ns; });
}

std::uint64_t LoopState::longest_handler_ns() const {
  std::uint64_t longest = longest_run_ns;
  for (const RunningHandler& r : running) longest = std::max(longest, r.elapsed_ns);
  return longest;
}

LoopFolder::Loop& LoopFolder::loop(pid_t pid) {
  auto it = loops_.find(pid);
  if (it != loops_.end()) return it->second;
  order_.push_back(pid);
  Loop& l = loops_[pid];
  l.counters.pid = pid;
  return l;
}

void LoopFolder::push_history(std::vector<HandlerRun>& v, HandlerRun run) {
  if (v.size() >= options_.max_history && !v.empty()) v.erase(v.begin());
  v.push_back(std::move(run));
}

// Who held the loop while an operation started at `created_ns` waited: the
// handler running now, else the last long run that ended after it started.
LoopFolder::Loop::Queued LoopFolder::holder(const Loop& l, std::uint64_t created_ns, std::uint64_t now_ns) const {
  Loop::Queued q;
  q.completed_ns = now_ns;
  if (!l.running.empty()) {
    const RunningHandler& r = l.running.back();
    q.behind_id = r.id;
    q.behind_conn = r.conn;
    std::uint64_t from = std::max(created_ns, r.begin_ns);
    q.held_ns = now_ns > from ? now_ns - from : 0;
  } else if (l.last_long.id != 0 && l.last_long.end_ns >= created_ns) {
    q.behind_id = l.last_long.id;
    q.behind_conn = l.last_long.conn;
    std::uint64_t from = std::max(created_ns, l.last_long.begin_ns);
    q.held_ns = l.last_long.end_ns > from ? l.last_long.end_ns - from : 0;
  }
  return q;
}

void LoopFolder::apply(const trace::Event& e) {
  if (!is_loop_kind(e.kind)) return;
  last_ns_ = std::max(last_ns_, e.ts_ns);
  Loop& l = loop(static_cast<pid_t>(e.pid));
  LoopState& c = l.counters;
  const auto id = static_cast<std::uint64_t>(e.a);
  switch (e.kind) {
    case Kind::handler_create: {
      std::string op(e.text_view());
      if (id == 0) {
        // close/cancel: the object's pending operations end with
        // operation_aborted and are queued where no hook can see it.
        for (auto& [pid_id, p] : l.pending) {
          if (p.object == e.b) {
            p.certainty = Certainty::unknown;
            p.reason = "ended by " + op + ": queued unseen";
          }
        }
        break;
      }
      ++c.created;
      if (queued_at_creation(op)) {
        Loop::Queued q = holder(l, e.ts_ns, e.ts_ns);
        l.ready.push_back({id, e.conn, op, e.ts_ns, e.ts_ns, 0, q.behind_id, q.held_ns});
        l.queued[id] = q;
        break;
      }
      PendingOp p;
      p.id = id;
      p.conn = e.conn;
      p.object = e.b;
      p.op = std::move(op);
      p.created_ns = e.ts_ns;
      if (is_timer(p.op)) {
        // No hook fires when a timer expires, only when its handler runs.
        p.certainty = Certainty::unknown;
        p.reason = "timer: waiting or fired (no hook tells)";
      }
      l.pending[id] = std::move(p);
      break;
    }
    case Kind::reactor_register:
      break;
    case Kind::reactor_ready:
      ++c.epoll_reports;
      break;
    case Kind::completion: {
      ++c.completions;
      auto it = l.pending.find(id);
      ReadyHandler r{id, e.conn, {}, e.ts_ns, e.ts_ns, e.b, 0, 0};
      if (it != l.pending.end()) {
        r.conn = it->second.conn;
        r.op = it->second.op;
        r.created_ns = it->second.created_ns;
        l.pending.erase(it);
      }
      Loop::Queued q = holder(l, r.created_ns, e.ts_ns);
      r.behind_id = q.behind_id;
      r.held_ns = q.held_ns;
      l.ready.push_back(std::move(r));
      l.queued[id] = q;
      c.max_ready = std::max(c.max_ready, l.ready.size());
      break;
    }
    case Kind::handler_begin: {
      RunningHandler run{id, e.conn, {}, e.ts_ns, 0};
      auto rit = std::find_if(l.ready.begin(), l.ready.end(), [&](const ReadyHandler& r) { return r.id == id; });
      if (rit != l.ready.end()) {
        run.op = rit->op;
        if (run.conn == 0) run.conn = rit->conn;
        l.ready.erase(rit);
      } else {
        // Never seen completing: a fired timer, an aborted operation, an
        // immediate completion. It was in the ready queue; we did not see when.
        ++c.unseen_completions;
        auto pit = l.pending.find(id);
        if (pit != l.pending.end()) {
          run.op = pit->second.op;
          if (run.conn == 0) run.conn = pit->second.conn;
          l.pending.erase(pit);
        }
      }
      l.running.push_back(std::move(run));
      break;
    }
    case Kind::handler_end: {
      if (e.b == 1) {
        // Destroyed without running (the loop was stopped).
        ++c.handlers_destroyed;
        l.pending.erase(id);
        l.ready.erase(std::remove_if(l.ready.begin(), l.ready.end(), [&](const ReadyHandler& r) { return r.id == id; }),
                      l.ready.end());
        l.queued.erase(id);
        break;
      }
      auto it = std::find_if(l.running.rbegin(), l.running.rend(), [&](const RunningHandler& r) { return r.id == id; });
      if (it == l.running.rend()) break;
      HandlerRun run;
      run.id = id;
      run.conn = it->conn;
      run.op = it->op;
      run.begin_ns = it->begin_ns;
      run.end_ns = e.ts_ns;
      auto q = l.queued.find(id);
      if (q != l.queued.end()) {
        run.queued_ns = q->second.completed_ns;
        run.behind_id = q->second.behind_id;
        run.behind_conn = q->second.behind_conn;
        run.held_ns = q->second.held_ns;
        l.queued.erase(q);
      }
      l.running.erase(std::next(it).base());
      ++c.handlers_run;
      c.longest_run_ns = std::max(c.longest_run_ns, run.duration_ns());
      if (run.duration_ns() >= options_.long_run_ns) {
        l.last_long = run;
        push_history(c.long_runs, run);
      }
      if (run.behind_id != 0 && std::max(run.wait_ns(), run.held_ns) >= options_.long_run_ns) {
        push_history(c.delayed, run);
      }
      break;
    }
    default:
      break;
  }
}

LoopState LoopFolder::state(pid_t pid, std::uint64_t at_ns) const {
  auto it = loops_.find(pid);
  if (it == loops_.end()) {
    LoopState s;
    s.pid = pid;
    s.at_ns = at_ns;
    return s;
  }
  const Loop& l = it->second;
  LoopState s = l.counters;
  s.at_ns = at_ns;
  s.pending.reserve(l.pending.size());
  for (const auto& [id, p] : l.pending) s.pending.push_back(p);
  s.ready = l.ready;
  s.running = l.running;
  for (auto& r : s.running) r.elapsed_ns = at_ns > r.begin_ns ? at_ns - r.begin_ns : 0;
  if (s.stalled(options_.long_run_ns)) {
    // The loop is stuck in a handler and does not poll epoll: any waiting
    // operation may have become ready without anyone seeing it.
    const RunningHandler& r = s.running.back();
    std::string why = "loop busy in handler " + std::to_string(r.id) + " (conn " + std::to_string(r.conn) +
                      "): may be ready, not polled";
    for (auto& p : s.pending) {
      if (p.certainty == Certainty::known) {
        p.certainty = Certainty::unknown;
        p.reason = why;
      }
    }
  }
  return s;
}

namespace {
LoopFolder fold_until(const Session& s, std::uint64_t until_ns, LoopFoldOptions options) {
  LoopFolder f(options);
  const auto& events = s.events();
  std::size_t end = until_ns == std::numeric_limits<std::uint64_t>::max() ? events.size()
                                                                           : s.lower_bound(until_ns + 1);
  for (std::size_t i = 0; i < end && i < events.size(); ++i) f.apply(events[i]);
  return f;
}

std::uint64_t instant(const Session& s, std::uint64_t until_ns) {
  return until_ns == std::numeric_limits<std::uint64_t>::max() ? s.last_ns() : until_ns;
}
}  // namespace

std::vector<LoopState> fold_loops(const Session& s, std::uint64_t until_ns, LoopFoldOptions options) {
  LoopFolder f = fold_until(s, until_ns, options);
  std::vector<LoopState> out;
  for (pid_t pid : f.loops()) out.push_back(f.state(pid, instant(s, until_ns)));
  return out;
}

LoopState fold_loop(const Session& s, pid_t pid, std::uint64_t until_ns, LoopFoldOptions options) {
  return fold_until(s, until_ns, options).state(pid, instant(s, until_ns));
}

}  // namespace sockscope::session
