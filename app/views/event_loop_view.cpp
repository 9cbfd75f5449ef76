// The event loop view.
//
// Sections: 1. picture and ring layout (pure)  2. feeding the fold  3. the loop drawn as a loop
// 4. pending operations by connection  5. long handlers and who they delayed
// 6. workers (prefork / hybrid).
#include "views/event_loop_view.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "views/style.h"

namespace sockscope::app {
namespace {

constexpr std::size_t kMaxBoxes = 24;  // ready-queue boxes drawn on the ring; more become "+N"
constexpr std::uint64_t kRecentNs = 2'000'000'000;  // "climbing latency" looks at the last 2 s

std::string conn_label(std::uint32_t conn) { return conn == 0 ? std::string("listener") : "conn #" + std::to_string(conn); }

// The words of this view, for their tooltips (one place, so the legend, the
// table and the ring say the same thing).
constexpr const char* kRunningTip =
    "running: the handler the loop's one thread is executing now. Until it returns nothing else "
    "is served: ready handlers wait, and epoll is not even polled.";
constexpr const char* kReadyTip =
    "ready: the kernel finished this operation (bytes arrived, a client is waiting on the listener, a "
    "timer fired); its handler is queued for the loop's one thread, next to run at the top of the ring.";
constexpr const char* kWaitingTip =
    "waiting: an operation handed to the kernel (async_receive, async_wait on the listener for the next "
    "client, a timer) that has not completed yet: no bytes, no new connection, no expiry.";
constexpr const char* kHandlersRunTip = "handlers run: how many handlers the loop has run to their end so far.";
constexpr const char* kConnTip =
    "conn #N: the server's number for a connection, in accept order (not the simulated client's "
    "number); listener: the wait on the listening socket (its handler accepts the clients queued "
    "there), or the loop's own timers.";
constexpr const char* kUnknownTip =
    "unknown: the Asio hooks cannot tell whether this one is still waiting. It may already be "
    "ready (see why below).";

// A tooltip of wrapped text (call when the thing it explains is hovered).
void explain(const char* text) {
  ImGui::BeginTooltip();
  ImGui::PushTextWrapPos(ImGui::GetFontSize() * 28.0f);
  ImGui::TextUnformatted(text);
  ImGui::PopTextWrapPos();
  ImGui::EndTooltip();
}

// Text, then its explanation on hover.
void term(const char* text, const char* tip, const ImVec4* colour = nullptr) {
  if (colour) style::text_colored(*colour, "%s", text);
  else ImGui::TextUnformatted(text);
  if (ImGui::IsItemHovered()) explain(tip);
}

// Wrapped text in a colour.
void wrapped(const ImVec4& colour, const std::string& text) {
  ImGui::PushStyleColor(ImGuiCol_Text, colour);
  ImGui::PushTextWrapPos(0.0f);
  ImGui::TextUnformatted(text.c_str());
  ImGui::PopTextWrapPos();
  ImGui::PopStyleColor();
}

}  // namespace

// ---- 1. picture and ring layout ---------------------------------------------------------

LoopPicture compute_loop_picture(const session::LoopState& state, const session::Model& model, std::uint64_t now_ns,
                                 std::uint64_t stall_ns) {
  LoopPicture pic;
  pic.state = state;
  pic.stalled = state.stalled(stall_ns);
  if (!state.running.empty()) pic.running_ns = state.running.back().elapsed_ns;

  std::map<std::uint32_t, std::size_t> group_of;
  for (std::size_t i = 0; i < state.pending.size(); ++i) {
    const auto& p = state.pending[i];
    auto [it, inserted] = group_of.emplace(p.conn, pic.groups.size());
    if (inserted) pic.groups.push_back({p.conn, {}, 0, 0});
    auto& g = pic.groups[it->second];
    g.ops.push_back(i);
    std::uint64_t age = now_ns > p.created_ns ? now_ns - p.created_ns : 0;
    g.oldest_age_ns = std::max(g.oldest_age_ns, age);
    if (p.certainty == session::Certainty::unknown) ++g.unknown;
  }
  std::stable_sort(pic.groups.begin(), pic.groups.end(),
                   [](const auto& a, const auto& b) { return a.oldest_age_ns > b.oldest_age_ns; });

  // Clients whose replies took longer than the stall threshold recently.
  std::map<std::uint32_t, bool> seen;
  for (auto it = model.latencies.rbegin(); it != model.latencies.rend(); ++it) {
    if (now_ns > it->ts_ns && now_ns - it->ts_ns > kRecentNs) break;
    if (it->latency_ns >= stall_ns && !seen[it->client_id]) {
      seen[it->client_id] = true;
      pic.climbing_clients.push_back(it->client_id);
    }
  }

  // Workers: processes forked up front (prefork, hybrid), with their accepts.
  for (const auto& p : model.processes) {
    if (p.role != session::ProcessRole::worker) continue;
    LoopPicture::Worker w;
    w.pid = p.pid;
    w.alive = p.alive();
    for (const auto& c : model.connections) w.connections += c.listener_pid == p.pid ? 1 : 0;
    w.has_loop = p.pid == state.pid;
    pic.workers.push_back(w);
  }
  return pic;
}

LoopRing layout_loop_ring(float label_w, float label_h, float box_w, float box_h, float pad, float min_radius,
                          std::size_t ready, std::size_t max_boxes, float avail_w) {
  constexpr float kPi = 3.14159265f;
  LoopRing ring;
  const float lw = label_w + 2.0f * pad;
  const float lh = label_h + 2.0f * pad;
  // Every shape fits in a circle of its half-diagonal: the label's around the
  // centre, each box's around its point on the ring. Circles apart = boxes apart.
  const float box_r = 0.5f * std::sqrt(box_w * box_w + box_h * box_h);
  const float label_r = 0.5f * std::sqrt(lw * lw + lh * lh);
  const float margin = box_r + 1.0f;
  ring.radius = std::max(min_radius, label_r + box_r + pad);
  float top = 0.0f;  // where the ring's bounding square starts
  if (avail_w > 0.0f && 2.0f * (ring.radius + margin) > avail_w) {
    // Too wide for the window: the label above, and the largest ring that fits below it.
    ring.label_inside = false;
    ring.radius = std::clamp(avail_w * 0.5f - margin, box_r * 3.0f, min_radius);
    top = lh + pad;
  }
  // Neighbouring boxes: their centres a box diagonal (and a gap) apart along the chord.
  const float chord = 2.0f * box_r + pad;
  const float step_min = 2.0f * std::asin(std::min(1.0f, chord / (2.0f * ring.radius)));
  const auto fit = static_cast<std::size_t>(std::floor(2.0f * kPi / step_min));
  ring.slots = std::min(fit, max_boxes);
  const float square = 2.0f * (ring.radius + margin);
  ring.width = std::max(square, ring.label_inside ? 0.0f : lw);
  ring.cx = ring.width * 0.5f;
  ring.cy = top + ring.radius + margin;
  ring.height = top + square;
  if (ring.label_inside) ring.running = {ring.cx - lw * 0.5f, ring.cy - lh * 0.5f, ring.cx + lw * 0.5f, ring.cy + lh * 0.5f};
  else ring.running = {ring.cx - lw * 0.5f, 0.0f, ring.cx + lw * 0.5f, lh};
  const float step = ring.slots > 0 ? 2.0f * kPi / static_cast<float>(ring.slots) : 0.0f;
  for (std::size_t i = 0; i < std::min(ready, ring.slots); ++i) {
    const float angle = -kPi / 2.0f + step * static_cast<float>(i);
    const float x = ring.cx + ring.radius * std::cos(angle);
    const float y = ring.cy + ring.radius * std::sin(angle);
    ring.boxes.push_back({x - box_w * 0.5f, y - box_h * 0.5f, x + box_w * 0.5f, y + box_h * 0.5f});
  }
  return ring;
}

// ---- 2. feeding the fold ----------------------------------------------------------------

void EventLoopView::feed(const session::Session& s) {
  const auto& events = s.events();
  // A different session, fewer events, or an event inserted before our last
  // one (late arrival from another process): start over. Otherwise only the
  // new tail is folded, so the view costs nothing when nothing moves.
  bool rewind = fed_session_ != &s || events.size() < fed_ ||
                (fed_ > 0 && events[fed_ - 1].ts_ns != fed_last_ts_);
  if (rewind) {
    folder_ = session::LoopFolder();
    fed_ = 0;
    fed_session_ = &s;
  }
  for (; fed_ < events.size(); ++fed_) folder_.apply(events[fed_]);
  fed_last_ts_ = fed_ > 0 ? events[fed_ - 1].ts_ns : 0;
}

void EventLoopView::draw(FrameContext& ctx) {
  drawn_ = {};
  feed(ctx.session);
  auto loops = folder_.loops();
  if (!loops.empty() && std::find(loops.begin(), loops.end(), selected_) == loops.end()) selected_ = loops.front();
  session::LoopState state = folder_.state(selected_, ctx.now_ns);
  LoopPicture pic = compute_loop_picture(state, ctx.model, ctx.now_ns, stall_ns);

  char title[128];
  std::snprintf(title, sizeof title, "Event loop: %zu waiting, %zu ready%s###event_loop", state.pending.size(),
                state.ready.size(), pic.stalled ? ", BLOCKED" : "");
  if (ImGui::Begin(title)) {
    if (loops.empty()) {
      ImGui::TextWrapped(
          "No event loop in this session. Run the evloop or hybrid architecture: their Asio handler "
          "tracking shows the loop's queue here.");
    } else {
      if (loops.size() > 1) {
        // Hybrid: one loop per worker process.
        std::string current = "pid " + std::to_string(selected_);
        if (ImGui::BeginCombo("Worker loop", current.c_str())) {
          for (pid_t pid : loops) {
            std::string label = "pid " + std::to_string(pid);
            if (ImGui::Selectable(label.c_str(), pid == selected_)) selected_ = pid;
          }
          ImGui::EndCombo();
        }
      }
      // The one sentence that matters comes first, where it cannot scroll away.
      draw_blocked(pic);
      draw_loop(pic, ctx.now_ns);
      draw_pending(pic, ctx.now_ns);
      draw_history(pic);
      draw_workers(pic);
      if (!state.running.empty()) ctx.wants_redraw = true;  // the running handler's age keeps growing
    }
  }
  ImGui::End();
}

// ---- 3. the loop drawn as a loop -----------------------------------------------------------

void EventLoopView::draw_blocked(const LoopPicture& pic) {
  if (!pic.stalled) return;
  const auto& pal = style::palette();
  ImFont* bold = style::fonts().bold;
  if (bold) ImGui::PushFont(bold);
  wrapped(pal.bad, "The loop is blocked: one handler has run for " + style::format_duration_ns(pic.running_ns) +
                       ". Nobody else is served.");
  if (bold) ImGui::PopFont();
  drawn_.blocked_y0 = ImGui::GetItemRectMin().y;
  drawn_.blocked_y1 = ImGui::GetItemRectMax().y;
  if (!pic.climbing_clients.empty()) {
    std::string who;
    for (auto id : pic.climbing_clients) who += (who.empty() ? "" : ", ") + std::to_string(id);
    wrapped(pal.warn, "Latency climbing for clients " + who + " (the simulator's client numbers).");
  }
}

void EventLoopView::draw_loop(const LoopPicture& pic, std::uint64_t now_ns) {
  const auto& pal = style::palette();
  const auto& st = pic.state;
  const float fs = ImGui::GetFontSize();
  const float avail = ImGui::GetContentRegionAvail().x;

  // "Running now", inside the ring. A long operation name goes on two lines
  // ("socket:" / "async_receive") when the ring would not fit the window.
  auto running_text = [&](bool split) {
    if (st.running.empty()) return std::string("idle\n(in epoll_wait)");
    const auto& r = st.running.back();
    std::string op = r.op;
    if (split)
      if (auto colon = op.find(':'); colon != std::string::npos) op.insert(colon + 1, "\n");
    return conn_label(r.conn) + "\n" + op + "\n" + style::format_duration_ns(r.elapsed_ns);
  };
  // Ready boxes fit their connection numbers at any text size.
  std::size_t widest = 1;
  for (const auto& h : st.ready) widest = std::max(widest, std::to_string(h.conn).size());
  const float box_w = std::max(fs * 1.4f, ImGui::CalcTextSize(std::string(widest, '0').c_str()).x + fs * 0.5f);
  const float box_h = fs * 1.4f;
  const float pad = fs * 0.3f;
  std::string running = running_text(false);
  ImVec2 ts = ImGui::CalcTextSize(running.c_str());
  LoopRing ring = layout_loop_ring(ts.x, ts.y, box_w, box_h, pad, fs * 4.0f, st.ready.size(), kMaxBoxes, avail);
  if (!ring.label_inside) {
    running = running_text(true);
    ts = ImGui::CalcTextSize(running.c_str());
    ring = layout_loop_ring(ts.x, ts.y, box_w, box_h, pad, fs * 4.0f, st.ready.size(), kMaxBoxes, avail);
  }
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 o = ImGui::GetCursorScreenPos();
  const ImVec2 centre(o.x + ring.cx, o.y + ring.cy);
  dl->AddCircle(centre, ring.radius, pic.stalled ? ImGui::GetColorU32(pal.bad) : pal.edge, 64,
                pic.stalled ? fs * 0.2f : fs * 0.1f);
  const ImVec2 ra(o.x + ring.running.x0, o.y + ring.running.y0), rb(o.x + ring.running.x1, o.y + ring.running.y1);
  dl->AddRectFilled(ra, rb, pic.stalled ? ImGui::GetColorU32(pal.bad) : pal.running_fill, pad);
  dl->AddText(ImVec2(ra.x + pad, ra.y + pad), pal.node_text, running.c_str());
  if (ImGui::IsMouseHoveringRect(ra, rb) && ImGui::IsWindowHovered()) explain(kRunningTip);
  // The ready queue: the next to run at the top, then clockwise.
  for (std::size_t i = 0; i < ring.boxes.size(); ++i) {
    const LoopBox& b = ring.boxes[i];
    const ImVec2 a(o.x + b.x0, o.y + b.y0), z(o.x + b.x1, o.y + b.y1);
    dl->AddRectFilled(a, z, pal.client_fill, pad);
    const std::string n = std::to_string(st.ready[i].conn);
    const ImVec2 ns = ImGui::CalcTextSize(n.c_str());
    dl->AddText(ImVec2((a.x + z.x - ns.x) * 0.5f, (a.y + z.y - ns.y) * 0.5f), pal.pill_text, n.c_str());
    if (ImGui::IsMouseHoveringRect(a, z) && ImGui::IsWindowHovered()) {
      const auto& h = st.ready[i];
      ImGui::BeginTooltip();
      ImGui::PushTextWrapPos(fs * 28.0f);
      ImGui::Text("%s %s, ready for %s; %zu ahead of it.", conn_label(h.conn).c_str(), h.op.c_str(),
                  style::format_duration_ns(now_ns > h.completed_ns ? now_ns - h.completed_ns : 0).c_str(), i);
      ImGui::TextUnformatted(kReadyTip);
      ImGui::PopTextWrapPos();
      ImGui::EndTooltip();
    }
  }
  ImGui::Dummy(ImVec2(ring.width, ring.height));
  drawn_.ring = ring;

  // The counts, each word explained on hover; they wrap rather than run off the edge.
  const std::string ready = st.ready.size() > ring.boxes.size()
                                ? std::to_string(st.ready.size()) + " ready (" +
                                      std::to_string(st.ready.size() - ring.boxes.size()) + " not drawn)"
                                : std::to_string(st.ready.size()) + " ready";
  term(ready.c_str(), kReadyTip);
  const std::string waiting = std::to_string(st.pending.size()) + " waiting";
  style::same_line_if_fits(ImGui::CalcTextSize(waiting.c_str()).x);
  term(waiting.c_str(), kWaitingTip);
  const std::string run = style::count_of(st.handlers_run, "handler run", "handlers run");
  style::same_line_if_fits(ImGui::CalcTextSize(run.c_str()).x);
  term(run.c_str(), kHandlersRunTip);

  wrapped(pal.dim, "max ready queue " + std::to_string(st.max_ready) + "   longest handler " +
                       style::format_duration_ns(st.longest_handler_ns()) + "   unseen completions " +
                       std::to_string(st.unseen_completions));
  style::same_line_if_fits(ImGui::CalcTextSize("(?)").x);
  style::help_marker(
      "What the Asio hooks cannot see is shown as unknown: a timer that fired but has not run looks "
      "like a waiting one; close/cancel queue aborted handlers without a hook; a handler dispatched "
      "inline runs without one; and while a handler blocks the loop, epoll is not polled, so a "
      "waiting read may already have its bytes.");
}

// ---- 4. pending operations by connection ---------------------------------------------------------

void EventLoopView::draw_pending(const LoopPicture& pic, std::uint64_t now_ns) {
  // Short headers: a narrow window on a projector fits about 20 characters.
  const bool open = ImGui::CollapsingHeader("Waiting on kernel", ImGuiTreeNodeFlags_DefaultOpen);
  if (ImGui::IsItemHovered()) explain(kWaitingTip);
  if (!open) return;
  const auto& pal = style::palette();
  const float line = ImGui::GetTextLineHeightWithSpacing();
  const float height = std::min(line * (static_cast<float>(pic.groups.size()) + 1.5f), line * 10.0f);
  // ScrollX: in a narrow window the columns keep their widths and the table
  // scrolls sideways, rather than running out of the window.
  if (ImGui::BeginTable("pending", 4,
                        ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY | ImGuiTableFlags_ScrollX |
                            ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_SizingFixedFit,
                        ImVec2(0, height + ImGui::GetStyle().ScrollbarSize))) {
    ImGui::TableSetupScrollFreeze(1, 1);
    ImGui::TableSetupColumn("connection");
    ImGui::TableSetupColumn("operations");
    ImGui::TableSetupColumn("oldest");
    ImGui::TableSetupColumn("state");
    // The headers, each explained on hover.
    static constexpr const char* kHeaderTips[] = {
        kConnTip, "The operations this connection has handed to the kernel.",
        "How long the oldest of them has been waiting.", kWaitingTip};
    ImGui::TableNextRow(ImGuiTableRowFlags_Headers);
    for (int c = 0; c < 4; ++c) {
      ImGui::TableSetColumnIndex(c);
      ImGui::TableHeader(ImGui::TableGetColumnName(c));
      if (ImGui::IsItemHovered()) explain(kHeaderTips[c]);
    }
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(pic.groups.size()));
    while (clipper.Step()) {
      for (int row = clipper.DisplayStart; row < clipper.DisplayEnd; ++row) {
        const auto& g = pic.groups[static_cast<std::size_t>(row)];
        ImGui::PushID(static_cast<int>(g.conn));
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        term(conn_label(g.conn).c_str(), kConnTip);
        ImGui::TableNextColumn();
        std::string ops;
        for (std::size_t i : g.ops) ops += (ops.empty() ? "" : ", ") + pic.state.pending[i].op;
        ImGui::TextUnformatted(ops.c_str());  // the column fits it; a narrow window scrolls the table
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(style::format_duration_ns(g.oldest_age_ns).c_str());
        ImGui::TableNextColumn();
        if (g.unknown == 0) {
          term("waiting", kWaitingTip, &pal.ok);
        } else {
          style::text_colored(pal.warn, "%zu unknown", g.unknown);
          if (ImGui::IsItemHovered()) {
            ImGui::BeginTooltip();
            ImGui::PushTextWrapPos(ImGui::GetFontSize() * 28.0f);
            ImGui::TextUnformatted(kUnknownTip);
            ImGui::PopTextWrapPos();
            for (std::size_t i : g.ops) {
              const auto& p = pic.state.pending[i];
              if (p.certainty == session::Certainty::unknown) {
                ImGui::Text("%s: %s", p.op.c_str(), p.reason.c_str());
              }
            }
            ImGui::EndTooltip();
          }
        }
        ImGui::PopID();
      }
    }
    ImGui::EndTable();
  }
  (void)now_ns;
}

// ---- 5. long handlers and who they delayed ----------------------------------------------------------

void EventLoopView::draw_history(const LoopPicture& pic) {
  const auto& st = pic.state;
  char header[96];
  std::snprintf(header, sizeof header, "Long handlers (%zu)###history", st.long_runs.size());
  const bool open = ImGui::CollapsingHeader(header);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("Handlers that ran %s or longer, and the connections that waited behind them (%zu)",
                      style::format_duration_ns(stall_ns).c_str(), st.delayed.size());
  if (!open) return;
  for (auto it = st.long_runs.rbegin(); it != st.long_runs.rend(); ++it) {
    ImGui::PushID(static_cast<int>(it->id));
    wrapped(style::palette().bad, conn_label(it->conn) + "  " + it->op + "  ran " +
                                      style::format_duration_ns(it->duration_ns()));
    for (const auto& d : st.delayed) {
      if (d.behind_id != it->id) continue;
      ImGui::Bullet();
      ImGui::TextWrapped("%s waited up to %s behind it", conn_label(d.conn).c_str(),
                         style::format_duration_ns(std::max(d.held_ns, d.wait_ns())).c_str());
    }
    ImGui::PopID();
  }
}

// ---- 6. workers -----------------------------------------------------------------------------------

void EventLoopView::draw_workers(const LoopPicture& pic) {
  if (pic.workers.empty()) return;
  if (!ImGui::CollapsingHeader("Workers", ImGuiTreeNodeFlags_DefaultOpen)) return;
  for (const auto& w : pic.workers) {
    ImGui::PushID(static_cast<int>(w.pid));
    const auto& pal = style::palette();
    char line[128];
    std::snprintf(line, sizeof line, "worker pid %d: %s%s%s", static_cast<int>(w.pid),
                  style::count_of(w.connections, "connection", "connections").c_str(), w.alive ? "" : " (gone)",
                  w.has_loop ? "  <- shown" : "");
    wrapped(w.alive ? pal.ok : pal.dim, line);
    ImGui::PopID();
  }
}

}  // namespace sockscope::app
