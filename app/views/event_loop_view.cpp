// The event loop view.
//
// Sections: 1. picture (pure)  2. feeding the fold  3. the loop drawn as a loop
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

std::string conn_label(std::uint32_t conn) { return conn == 0 ? std::string("listener") : "conn " + std::to_string(conn); }

}  // namespace

// ---- 1. picture --------------------------------------------------------------------

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
      draw_loop(pic);
      draw_pending(pic, ctx.now_ns);
      draw_history(pic);
      draw_workers(pic);
      if (!state.running.empty()) ctx.wants_redraw = true;  // the running handler's age keeps growing
    }
  }
  ImGui::End();
}

// ---- 3. the loop drawn as a loop -----------------------------------------------------------

void EventLoopView::draw_loop(const LoopPicture& pic) {
  const auto& pal = style::palette();
  const auto& st = pic.state;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  float size = std::min(ImGui::GetContentRegionAvail().x, 320.0f);
  ImVec2 origin = ImGui::GetCursorScreenPos();
  ImVec2 centre(origin.x + size * 0.5f, origin.y + size * 0.5f);
  float radius = size * 0.36f;
  ImU32 ring = pic.stalled ? ImGui::GetColorU32(pal.bad) : pal.edge;
  dl->AddCircle(centre, radius, ring, 64, pic.stalled ? 4.0f : 2.0f);

  // "Running now" at the top of the ring.
  char running[96];
  if (st.running.empty()) {
    std::snprintf(running, sizeof running, "idle (in epoll_wait)");
  } else {
    const auto& r = st.running.back();
    std::snprintf(running, sizeof running, "%s\n%s\n%s", conn_label(r.conn).c_str(), r.op.c_str(),
                  style::format_duration_ns(r.elapsed_ns).c_str());
  }
  ImVec2 ts = ImGui::CalcTextSize(running);
  ImVec2 box_min(centre.x - ts.x * 0.5f - 6, origin.y + size * 0.14f - ts.y * 0.5f - 4);
  ImVec2 box_max(centre.x + ts.x * 0.5f + 6, box_min.y + ts.y + 8);
  dl->AddRectFilled(box_min, box_max, pic.stalled ? ImGui::GetColorU32(pal.bad) : pal.running_fill, 4.0f);
  dl->AddText(ImVec2(box_min.x + 6, box_min.y + 4), pal.node_text, running);

  // The ready queue: boxes along the ring, the next to run nearest the top.
  std::size_t shown = std::min(st.ready.size(), kMaxBoxes);
  const float pi = 3.14159265f;
  for (std::size_t i = 0; i < shown; ++i) {
    float angle = -pi / 2 + (static_cast<float>(i) + 1.0f) * (2 * pi / static_cast<float>(kMaxBoxes + 2));
    ImVec2 p(centre.x + radius * std::cos(angle), centre.y + radius * std::sin(angle));
    ImVec2 half(9, 9);
    dl->AddRectFilled(ImVec2(p.x - half.x, p.y - half.y), ImVec2(p.x + half.x, p.y + half.y), pal.client_fill, 3.0f);
    std::string n = std::to_string(st.ready[i].conn);
    dl->AddText(ImVec2(p.x - ImGui::CalcTextSize(n.c_str()).x * 0.5f, p.y - 7), pal.pill_text, n.c_str());
  }
  char centre_text[96];
  std::snprintf(centre_text, sizeof centre_text, "%zu ready\n%zu waiting\n%llu run", st.ready.size(),
                st.pending.size(), static_cast<unsigned long long>(st.handlers_run));
  if (st.ready.size() > shown) {
    std::snprintf(centre_text, sizeof centre_text, "%zu ready (+%zu)\n%zu waiting\n%llu run", st.ready.size(),
                  st.ready.size() - shown, st.pending.size(), static_cast<unsigned long long>(st.handlers_run));
  }
  ImVec2 cs = ImGui::CalcTextSize(centre_text);
  dl->AddText(ImVec2(centre.x - cs.x * 0.5f, centre.y - cs.y * 0.5f + 10), ImGui::GetColorU32(ImGuiCol_Text),
              centre_text);
  ImGui::Dummy(ImVec2(size, size));

  if (pic.stalled) {
    style::text_colored(pal.bad, "The loop is blocked: one handler has run for %s. Nobody else is served.",
                        style::format_duration_ns(pic.running_ns).c_str());
    if (!pic.climbing_clients.empty()) {
      std::string who;
      for (auto id : pic.climbing_clients) who += (who.empty() ? "" : ", ") + std::to_string(id);
      style::text_colored(pal.warn, "Latency climbing for clients: %s", who.c_str());
    }
  }
  style::text_colored(pal.dim, "max ready queue %zu   longest handler %s   unseen completions %llu",
                      st.max_ready, style::format_duration_ns(st.longest_run_ns).c_str(),
                      static_cast<unsigned long long>(st.unseen_completions));
  ImGui::SameLine();
  style::help_marker(
      "What the Asio hooks cannot see is shown as unknown: a timer that fired but has not run looks "
      "like a waiting one; close/cancel queue aborted handlers without a hook; a handler dispatched "
      "inline runs without one; and while a handler blocks the loop, epoll is not polled, so a "
      "waiting read may already have its bytes.");
}

// ---- 4. pending operations by connection ---------------------------------------------------------

void EventLoopView::draw_pending(const LoopPicture& pic, std::uint64_t now_ns) {
  if (!ImGui::CollapsingHeader("Waiting on the kernel", ImGuiTreeNodeFlags_DefaultOpen)) return;
  const auto& pal = style::palette();
  if (ImGui::BeginTable("pending", 4,
                        ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY | ImGuiTableFlags_BordersInnerV,
                        ImVec2(0, 220))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("connection");
    ImGui::TableSetupColumn("operations");
    ImGui::TableSetupColumn("oldest");
    ImGui::TableSetupColumn("certainty");
    ImGui::TableHeadersRow();
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(pic.groups.size()));
    while (clipper.Step()) {
      for (int row = clipper.DisplayStart; row < clipper.DisplayEnd; ++row) {
        const auto& g = pic.groups[static_cast<std::size_t>(row)];
        ImGui::PushID(static_cast<int>(g.conn));
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(conn_label(g.conn).c_str());
        ImGui::TableNextColumn();
        std::string ops;
        for (std::size_t i : g.ops) ops += (ops.empty() ? "" : ", ") + pic.state.pending[i].op;
        ImGui::TextUnformatted(ops.c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(style::format_duration_ns(g.oldest_age_ns).c_str());
        ImGui::TableNextColumn();
        if (g.unknown == 0) {
          style::text_colored(pal.ok, "waiting");
        } else {
          style::text_colored(pal.warn, "%zu unknown", g.unknown);
          if (ImGui::IsItemHovered()) {
            ImGui::BeginTooltip();
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
  std::snprintf(header, sizeof header, "Long handlers (%zu) and who waited (%zu)###history", st.long_runs.size(),
                st.delayed.size());
  if (!ImGui::CollapsingHeader(header)) return;
  for (auto it = st.long_runs.rbegin(); it != st.long_runs.rend(); ++it) {
    ImGui::PushID(static_cast<int>(it->id));
    style::text_colored(style::palette().bad, "%s  %s  ran %s", conn_label(it->conn).c_str(), it->op.c_str(),
                        style::format_duration_ns(it->duration_ns()).c_str());
    for (const auto& d : st.delayed) {
      if (d.behind_id != it->id) continue;
      ImGui::BulletText("%s waited up to %s behind it", conn_label(d.conn).c_str(),
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
    style::text_colored(w.alive ? pal.ok : pal.dim, "worker pid %d: %zu connections%s%s", static_cast<int>(w.pid),
                        w.connections, w.alive ? "" : " (gone)", w.has_loop ? "  <- shown" : "");
    ImGui::PopID();
  }
}

}  // namespace sockscope::app
