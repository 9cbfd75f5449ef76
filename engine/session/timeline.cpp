// Sections: 1. names   2. building the index (one small function per event
// kind family)   3. layout: culling and folding for one viewport.
#include "session/timeline.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>

namespace sockscope::session {

using trace::Kind;

// ---- 1. names -------------------------------------------------------------------

namespace {
constexpr std::array<std::string_view, static_cast<std::size_t>(SpanKind::count_)> kSpanNames = {
    "accepting", "waiting", "handling", "working", "sleeping", "blocked", "handler", "zombie", "at gate",
    "supervising"};

std::uint64_t lane_key(pid_t pid, std::uint32_t tid) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(pid)) << 32) | tid;
}

bool same_event(const trace::Event& x, const trace::Event& y) { return std::memcmp(&x, &y, sizeof x) == 0; }

bool is_client_kind(Kind k) {
  switch (k) {
    case Kind::client_connect:
    case Kind::client_request:
    case Kind::client_reply:
    case Kind::client_close:
    case Kind::client_error:
      return true;
    default:
      return false;
  }
}
}  // namespace

std::string_view span_kind_name(SpanKind k) {
  auto i = static_cast<std::size_t>(k);
  return i < kSpanNames.size() ? kSpanNames[i] : std::string_view{"?"};
}

std::string_view arrow_kind_name(ArrowKind k) {
  switch (k) {
    case ArrowKind::fork: return "fork";
    case ArrowKind::spawn: return "spawn";
    case ArrowKind::handoff: return "handoff";
  }
  return "?";
}

// ---- 2. building the index --------------------------------------------------------

void TimelineIndex::clear() {
  lanes_.clear();
  state_.clear();
  arrows_.clear();
  max_arrow_ns_ = 0;
  lane_of_.clear();
  pending_.clear();
  enqueued_.clear();
  order_.clear();
  lane_row_.clear();
  total_rows_ = 0.0f;
  indexed_ = 0;
  last_indexed_ = trace::Event{};
}

std::uint32_t TimelineIndex::rows_of(std::uint32_t lane) const {
  return static_cast<std::uint32_t>(std::max<std::size_t>(1, lanes_[lane].rows.size()));
}

int TimelineIndex::find_lane(pid_t pid, std::uint32_t tid) const {
  auto it = lane_of_.find(lane_key(pid, tid == 0 ? static_cast<std::uint32_t>(pid) : tid));
  return it == lane_of_.end() ? -1 : static_cast<int>(it->second);
}

void TimelineIndex::update(const Session& s) {
  const auto& events = s.events();
  // The store grows at its end except for late events, which are inserted
  // where they belong: then the last event we indexed has moved, and the
  // incremental state (open spans, stacks) is no longer a prefix: rebuild.
  const bool prefix_intact =
      indexed_ <= events.size() && (indexed_ == 0 || same_event(events[indexed_ - 1], last_indexed_));
  if (!prefix_intact) {
    clear();
    ++rebuilds_;
  }
  if (indexed_ == events.size()) return;
  const std::size_t lanes_before = lanes_.size();
  std::size_t rows_before = 0;
  for (const auto& l : lanes_) rows_before += l.rows.size();
  for (std::size_t i = indexed_; i < events.size(); ++i) add(events[i], static_cast<std::uint32_t>(i));
  indexed_ = events.size();
  last_indexed_ = events.back();
  // An arrow waiting for its target is appended when the target shows up, so
  // the list can come out of from_ns order by a little: restore it.
  auto by_from = [](const TimelineArrow& x, const TimelineArrow& y) { return x.from_ns < y.from_ns; };
  if (!std::is_sorted(arrows_.begin(), arrows_.end(), by_from))
    std::stable_sort(arrows_.begin(), arrows_.end(), by_from);
  std::size_t rows_after = 0;
  for (const auto& l : lanes_) rows_after += l.rows.size();
  if (lanes_.size() != lanes_before || rows_after != rows_before || order_.size() != lanes_.size()) relayout_rows();
}

void TimelineIndex::relayout_rows() {
  // Processes in order of appearance, the client simulator last; each
  // process followed by its threads (also in order of appearance).
  order_.clear();
  std::vector<std::uint32_t> procs;
  for (std::uint32_t i = 0; i < lanes_.size(); ++i)
    if (!lanes_[i].is_thread) procs.push_back(i);
  std::stable_partition(procs.begin(), procs.end(), [&](std::uint32_t i) { return !lanes_[i].client_sim; });
  std::unordered_map<pid_t, std::vector<std::uint32_t>> threads;
  for (std::uint32_t i = 0; i < lanes_.size(); ++i)
    if (lanes_[i].is_thread) threads[lanes_[i].pid].push_back(i);
  for (std::uint32_t p : procs) {
    order_.push_back(p);
    if (auto it = threads.find(lanes_[p].pid); it != threads.end())
      order_.insert(order_.end(), it->second.begin(), it->second.end());
  }
  lane_row_.assign(lanes_.size(), 0.0f);
  float row = 0.0f;
  for (std::uint32_t l : order_) {
    lane_row_[l] = row;
    row += static_cast<float>(rows_of(l));
  }
  total_rows_ = row;
}

std::uint32_t TimelineIndex::lane_for(pid_t pid, std::uint32_t tid, std::uint64_t ts) {
  if (tid == 0) tid = static_cast<std::uint32_t>(pid);
  const std::uint64_t key = lane_key(pid, tid);
  if (auto it = lane_of_.find(key); it != lane_of_.end()) return it->second;
  const bool thread = tid != static_cast<std::uint32_t>(pid);
  // A thread lane sits under its process lane: make sure that one exists.
  if (thread) lane_for(pid, static_cast<std::uint32_t>(pid), ts);
  Lane lane;
  lane.pid = pid;
  lane.tid = tid;
  lane.is_thread = thread;
  lane.label = (thread ? "tid " : "pid ") + std::to_string(thread ? tid : static_cast<std::uint32_t>(pid));
  lane.begin_ns = ts;
  lane.rows.resize(1);
  const auto index = static_cast<std::uint32_t>(lanes_.size());
  lanes_.push_back(std::move(lane));
  state_.emplace_back();
  lane_of_.emplace(key, index);
  if (auto it = pending_.find(key); it != pending_.end()) {
    arrows_.push_back({it->second.ts, ts, it->second.from_lane, index, it->second.kind, it->second.conn});
    max_arrow_ns_ = std::max(max_arrow_ns_, ts > it->second.ts ? ts - it->second.ts : it->second.ts - ts);
    pending_.erase(it);
  }
  return index;
}

// The state row follows from what the lane serves now.
void TimelineIndex::set_state(std::uint32_t lane, std::uint64_t ts) {
  LaneState& st = state_[lane];
  auto& row = lanes_[lane].rows[0];
  TimelineSpan want;
  bool have = false;
  if (!st.exited) {
    if (st.open_conns.size() == 1) {
      want = {ts, kOpenEnd, SpanKind::handling, st.open_conns[0], 1};
      have = true;
    } else if (st.open_conns.size() > 1) {
      want = {ts, kOpenEnd, SpanKind::handling, 0, static_cast<std::uint32_t>(st.open_conns.size())};
      have = true;
    } else if (st.acceptor) {
      want = {ts, kOpenEnd, SpanKind::accepting, 0, 1};
      have = true;
    } else if (st.supervisor) {
      want = {ts, kOpenEnd, SpanKind::supervising, 0, 1};
      have = true;
    } else if (st.worker) {
      want = {ts, kOpenEnd, SpanKind::waiting, 0, 1};
      have = true;
    }
  }
  if (!row.empty() && row.back().end_ns == kOpenEnd) {
    const TimelineSpan& cur = row.back();
    if (have && cur.kind == want.kind && cur.conn == want.conn && cur.count == want.count) return;
    row.back().end_ns = std::max(ts, cur.begin_ns);
  }
  if (have) row.push_back(want);
}

// The lane's process forked a worker that accepts for it (prefork, hybrid).
// Unless it accepted itself, it never was in accept(): its listen made it look
// like an acceptor, so the state span open since then was supervising all along.
void TimelineIndex::supervises(std::uint32_t lane, std::uint64_t ts) {
  LaneState& st = state_[lane];
  if (st.accepted || st.exited) return;
  st.supervisor = true;
  st.acceptor = false;
  auto& row = lanes_[lane].rows[0];
  if (!row.empty() && row.back().end_ns == kOpenEnd && row.back().kind == SpanKind::accepting)
    row.back().kind = SpanKind::supervising;
  set_state(lane, ts);
}

void TimelineIndex::open_conn(std::uint32_t lane, std::uint32_t conn, std::uint64_t ts) {
  auto& open = state_[lane].open_conns;
  if (conn == 0 || std::find(open.begin(), open.end(), conn) != open.end()) return;
  open.push_back(conn);
  set_state(lane, ts);
}

void TimelineIndex::close_conn(std::uint32_t lane, std::uint32_t conn, std::uint64_t ts) {
  auto& open = state_[lane].open_conns;
  auto it = std::find(open.begin(), open.end(), conn);
  if (it == open.end()) return;
  open.erase(it);
  state_[lane].last_closed = conn;
  set_state(lane, ts);
}

void TimelineIndex::begin_activity(std::uint32_t lane, SpanKind kind, std::uint32_t conn, std::uint64_t ts) {
  LaneState& st = state_[lane];
  if (st.exited) return;
  // Nesting depth d goes to row d + 1, so spans on one row never overlap.
  const std::size_t row = st.activity.size() + 1;
  auto& rows = lanes_[lane].rows;
  if (rows.size() <= row) rows.resize(row + 1);
  rows[row].push_back({ts, kOpenEnd, kind, conn, 1});
  st.activity.push_back(row);
}

void TimelineIndex::end_activity(std::uint32_t lane, SpanKind kind, std::uint32_t conn, bool match_conn,
                                 std::uint64_t ts) {
  LaneState& st = state_[lane];
  auto& rows = lanes_[lane].rows;
  // The innermost open span of that kind; anything opened inside it and not
  // closed (a lost end event) ends with it.
  for (std::size_t d = st.activity.size(); d-- > 0;) {
    const TimelineSpan& s = rows[st.activity[d]].back();
    if (s.kind != kind || (match_conn && s.conn != conn)) continue;
    while (st.activity.size() > d) {
      auto& span = rows[st.activity.back()].back();
      span.end_ns = std::max(ts, span.begin_ns);
      st.activity.pop_back();
    }
    return;
  }
}

void TimelineIndex::end_lane(std::uint32_t lane, std::uint64_t ts) {
  LaneState& st = state_[lane];
  auto& rows = lanes_[lane].rows;
  while (!st.activity.empty()) {
    auto& span = rows[st.activity.back()].back();
    span.end_ns = std::max(ts, span.begin_ns);
    st.activity.pop_back();
  }
  st.open_conns.clear();
  st.exited = true;
  set_state(lane, ts);  // closes the state span
}

// An arrow from `from_lane` at `ts` to lane (pid, tid): now if that lane
// exists, else when its first event arrives.
void TimelineIndex::arrow_to(std::uint32_t from_lane, std::uint64_t ts, pid_t pid, std::uint32_t tid, ArrowKind kind,
                             std::uint32_t conn) {
  if (pid <= 0 || tid == 0) return;
  const std::uint64_t key = lane_key(pid, tid);
  if (auto it = lane_of_.find(key); it != lane_of_.end()) {
    const std::uint64_t to = lanes_[it->second].begin_ns;
    arrows_.push_back({ts, to, from_lane, it->second, kind, conn});
    max_arrow_ns_ = std::max(max_arrow_ns_, to > ts ? to - ts : ts - to);
  } else {
    pending_[key] = {ts, from_lane, kind, conn};
  }
}

void TimelineIndex::add(const trace::Event& e, std::uint32_t index) {
  const auto pid = static_cast<pid_t>(e.pid);
  const std::uint32_t lane = lane_for(pid, e.tid, e.ts_ns);
  Lane& l = lanes_[lane];
  l.event_ts.push_back(e.ts_ns);
  l.event_index.push_back(index);
  l.event_kind.push_back(e.kind);
  LaneState& st = state_[lane];
  const std::uint64_t ts = e.ts_ns;
  switch (e.kind) {
    case Kind::listen:
      // About to accept, unless it turns out to hand the socket to workers.
      if (!st.supervisor) st.acceptor = true;
      set_state(lane, ts);
      break;
    case Kind::worker_start:
      st.worker = true;
      set_state(lane, ts);
      break;
    case Kind::accept: {
      // A worker that was "waiting" was in fact in accept() (prefork), and
      // goes back to it after each connection.
      auto& row = l.rows[0];
      if (!row.empty() && row.back().end_ns == kOpenEnd && row.back().kind == SpanKind::waiting)
        row.back().kind = SpanKind::accepting;
      st.accepted = true;
      st.acceptor = true;
      st.supervisor = false;
      open_conn(lane, e.conn, ts);
      break;
    }
    case Kind::enqueue:
      enqueued_[e.conn] = {ts, lane, ArrowKind::handoff, e.conn};
      close_conn(lane, e.conn, ts);
      break;
    case Kind::dequeue:
      if (auto it = enqueued_.find(e.conn); it != enqueued_.end()) {
        if (it->second.from_lane != lane) {
          arrows_.push_back({it->second.ts, ts, it->second.from_lane, lane, ArrowKind::handoff, e.conn});
          max_arrow_ns_ = std::max(max_arrow_ns_, ts - std::min(ts, it->second.ts));
        }
        enqueued_.erase(it);
      }
      open_conn(lane, e.conn, ts);
      break;
    case Kind::fork:
      // The parent hands the connection to the child and goes back to accept().
      // conn 0: a worker forked up front, which will accept in its place.
      close_conn(lane, e.conn, ts);
      if (e.conn == 0) supervises(lane, ts);
      arrow_to(lane, ts, static_cast<pid_t>(e.a), static_cast<std::uint32_t>(e.a), ArrowKind::fork, e.conn);
      break;
    case Kind::spawn: {
      // Emitted by the new thread itself (a = its tid, b = the spawning tid):
      // the spawner hands the connection over, the thread serves it. An
      // older shape emitted it in the spawner (a = new tid).
      const auto new_tid = static_cast<std::uint32_t>(e.a);
      if (new_tid == e.tid && e.b != 0) {
        const std::uint32_t from = lane_for(pid, static_cast<std::uint32_t>(e.b), ts);
        close_conn(from, e.conn, ts);
        arrows_.push_back({ts, ts, from, lane, ArrowKind::spawn, e.conn});
        open_conn(lane, e.conn, ts);
      } else {
        close_conn(lane, e.conn, ts);
        arrow_to(lane, ts, pid, new_tid, ArrowKind::spawn, e.conn);
      }
      break;
    }
    case Kind::child_start:
      // conn 0: a prestarted worker (a = its parent), possibly stamped before
      // the parent's fork event: the parent is a supervisor either way.
      if (e.conn == 0) {
        const int parent = find_lane(static_cast<pid_t>(e.a), static_cast<std::uint32_t>(e.a));
        if (parent >= 0 && static_cast<std::uint32_t>(parent) != lane) supervises(static_cast<std::uint32_t>(parent), ts);
      }
      open_conn(lane, e.conn, ts);
      break;
    case Kind::close:
      close_conn(lane, e.conn, ts);
      break;
    case Kind::work_begin: begin_activity(lane, SpanKind::working, e.conn, ts); break;
    case Kind::work_end: end_activity(lane, SpanKind::working, 0, false, ts); break;
    case Kind::sleep_begin: begin_activity(lane, SpanKind::sleeping, e.conn, ts); break;
    case Kind::sleep_end: end_activity(lane, SpanKind::sleeping, 0, false, ts); break;
    case Kind::lock_wait: begin_activity(lane, SpanKind::blocked, e.conn, ts); break;
    case Kind::lock_acquire: end_activity(lane, SpanKind::blocked, 0, false, ts); break;
    case Kind::gate_wait: begin_activity(lane, SpanKind::at_gate, e.conn, ts); break;
    case Kind::gate_pass: end_activity(lane, SpanKind::at_gate, 0, false, ts); break;
    case Kind::handler_begin:
      begin_activity(lane, SpanKind::handler, static_cast<std::uint32_t>(e.a), ts);
      break;
    case Kind::handler_end:
      // b = 1: destroyed without running; there is no begin to match then.
      end_activity(lane, SpanKind::handler, static_cast<std::uint32_t>(e.a), true, ts);
      break;
    case Kind::thread_exit: {
      const int t = find_lane(pid, static_cast<std::uint32_t>(e.a));
      if (t >= 0) {
        end_lane(static_cast<std::uint32_t>(t), ts);
        lanes_[static_cast<std::size_t>(t)].end_ns = ts;
      }
      break;
    }
    case Kind::exit: {
      // Every thread of the process ends; the process stays a zombie until
      // its parent reaps it.
      for (std::uint32_t i = 0; i < lanes_.size(); ++i) {
        if (lanes_[i].pid != pid || state_[i].exited) continue;
        end_lane(i, ts);
        if (lanes_[i].is_thread) lanes_[i].end_ns = ts;
      }
      const int p = find_lane(pid, static_cast<std::uint32_t>(pid));
      if (p >= 0) lanes_[static_cast<std::size_t>(p)].rows[0].push_back({ts, kOpenEnd, SpanKind::zombie, 0, 1});
      break;
    }
    case Kind::reap: {
      const auto child = static_cast<pid_t>(e.a);
      const int p = find_lane(child, static_cast<std::uint32_t>(child));
      if (p < 0) break;
      const auto c = static_cast<std::uint32_t>(p);
      // Reaped without an exit event (killed): everything ends here.
      for (std::uint32_t i = 0; i < lanes_.size(); ++i)
        if (lanes_[i].pid == child && !state_[i].exited) {
          end_lane(i, ts);
          if (lanes_[i].is_thread) lanes_[i].end_ns = ts;
        }
      auto& row = lanes_[c].rows[0];
      if (!row.empty() && row.back().end_ns == kOpenEnd && row.back().kind == SpanKind::zombie)
        row.back().end_ns = std::max(ts, row.back().begin_ns);
      lanes_[c].end_ns = ts;
      break;
    }
    case Kind::client_connect:
      l.client_sim = true;
      open_conn(lane, e.conn, ts);
      break;
    case Kind::client_close:
      l.client_sim = true;
      close_conn(lane, e.conn, ts);
      break;
    default:
      if (is_client_kind(e.kind)) {
        l.client_sim = true;
        break;
      }
      // A thread or child doing I/O for a connection it was handed (spawn):
      // it serves that connection from its first event on.
      if (e.conn != 0 && !st.exited && st.open_conns.empty() && !st.acceptor && e.conn != st.last_closed)
        open_conn(lane, e.conn, ts);
      break;
  }
}

// ---- 3. layout ----------------------------------------------------------------------

TimelineLayout TimelineIndex::layout(const TimelineViewport& vp) const {
  TimelineLayout out;
  if (vp.t1_ns <= vp.t0_ns || vp.width_px <= 0.0f) return out;
  const double scale = static_cast<double>(vp.width_px) / static_cast<double>(vp.t1_ns - vp.t0_ns);  // px per ns
  const auto min_ns = static_cast<std::uint64_t>(std::max(1.0, std::ceil(vp.min_px / scale)));
  const float lo = -1.0f, hi = vp.width_px + 1.0f;
  auto x_of = [&](std::uint64_t t) {
    const double d = (static_cast<double>(t) - static_cast<double>(vp.t0_ns)) * scale;
    return static_cast<float>(std::clamp(d, static_cast<double>(lo), static_cast<double>(hi)));
  };
  auto end_of = [&](const TimelineSpan& s) {
    return s.end_ns == kOpenEnd ? std::max(s.begin_ns, vp.now_ns) : s.end_ns;
  };

  std::vector<char> visible(lanes_.size(), 0);
  for (std::uint32_t lane : order_) {
    const float r0 = lane_row_[lane];
    const float r1 = r0 + static_cast<float>(rows_of(lane));
    if (r1 <= vp.first_row || r0 >= vp.last_row) continue;
    visible[lane] = 1;
    out.lanes.push_back(lane);
    const Lane& l = lanes_[lane];

    for (std::size_t r = 0; r < l.rows.size(); ++r) {
      const auto& spans = l.rows[r];
      // Ends are sorted too (no overlap on a row): the first span ending after t0.
      auto first = std::partition_point(spans.begin(), spans.end(), [&](const TimelineSpan& s) {
        return s.end_ns != kOpenEnd && s.end_ns <= vp.t0_ns;
      });
      std::size_t i = static_cast<std::size_t>(first - spans.begin());
      while (i < spans.size() && spans[i].begin_ns < vp.t1_ns) {
        const TimelineSpan& s = spans[i];
        const std::uint64_t end = end_of(s);
        DrawSpan d;
        d.lane = lane;
        d.row = static_cast<std::uint16_t>(r);
        d.kind = s.kind;
        d.conn = s.conn;
        d.concurrent = s.count;
        d.begin_ns = s.begin_ns;
        if (static_cast<double>(end - s.begin_ns) * scale >= vp.min_px) {
          d.end_ns = end;
          d.x0 = x_of(s.begin_ns);
          d.x1 = x_of(end);
          out.spans.push_back(d);
          ++i;
          continue;
        }
        // Fold: every span starting within min_px of this one, except a last
        // one that is wide enough to be drawn by itself.
        auto stop = std::partition_point(spans.begin() + static_cast<std::ptrdiff_t>(i) + 1, spans.end(),
                                         [&](const TimelineSpan& x) { return x.begin_ns < s.begin_ns + min_ns; });
        std::size_t k = static_cast<std::size_t>(stop - spans.begin());
        if (k - i > 1 && static_cast<double>(end_of(spans[k - 1]) - spans[k - 1].begin_ns) * scale >= vp.min_px) --k;
        d.folded = static_cast<std::uint32_t>(k - i);
        d.end_ns = end_of(spans[k - 1]);
        if (d.folded > 1) {
          d.conn = 0;
          out.folded_spans += d.folded;
        }
        d.x0 = x_of(d.begin_ns);
        d.x1 = x_of(d.end_ns);
        out.spans.push_back(d);
        i = k;
      }
    }

    // Markers: one per group of events within min_px of the group's first.
    const auto& ts = l.event_ts;
    std::size_t i = static_cast<std::size_t>(std::lower_bound(ts.begin(), ts.end(), vp.t0_ns) - ts.begin());
    const std::size_t end = static_cast<std::size_t>(std::upper_bound(ts.begin(), ts.end(), vp.t1_ns) - ts.begin());
    while (i < end) {
      const std::size_t j = static_cast<std::size_t>(
          std::lower_bound(ts.begin() + static_cast<std::ptrdiff_t>(i) + 1, ts.begin() + static_cast<std::ptrdiff_t>(end),
                           ts[i] + min_ns) -
          ts.begin());
      DrawMarker m;
      m.x = x_of(ts[i]);
      m.lane = lane;
      m.count = static_cast<std::uint32_t>(j - i);
      m.first_event = l.event_index[i];
      m.kind = l.event_kind[i];
      if (m.count > 1) out.folded_events += m.count;
      out.markers.push_back(m);
      i = j;
    }
  }

  // Arrows whose time range meets the viewport and with an end on screen;
  // several from one lane within min_px draw once.
  const std::uint64_t from_lo = vp.t0_ns > max_arrow_ns_ ? vp.t0_ns - max_arrow_ns_ : 0;
  auto a = std::partition_point(arrows_.begin(), arrows_.end(),
                                [&](const TimelineArrow& x) { return x.from_ns < from_lo; });
  std::vector<float> last_x(lanes_.size(), -1e9f);
  for (; a != arrows_.end() && a->from_ns <= vp.t1_ns + max_arrow_ns_; ++a) {
    const std::uint64_t t_lo = std::min(a->from_ns, a->to_ns), t_hi = std::max(a->from_ns, a->to_ns);
    if (t_hi < vp.t0_ns || t_lo > vp.t1_ns) continue;
    if (!visible[a->from_lane] && !visible[a->to_lane]) continue;
    const float x0 = x_of(a->from_ns);
    if (x0 - last_x[a->from_lane] < vp.min_px) continue;
    last_x[a->from_lane] = x0;
    out.arrows.push_back({x0, x_of(a->to_ns), a->from_lane, a->to_lane, a->kind, a->conn});
  }
  return out;
}

}  // namespace sockscope::session
