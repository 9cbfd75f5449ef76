// The threads view.
//
// Sections: 1. rows (pure)  2. lanes  3. pool queue  4. visitor counter  5. memory.
#include "views/threads_view.h"

#include <imgui.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "views/style.h"

namespace sockscope::app {
namespace {

using session::ThreadActivity;
using session::ThreadLane;
using session::ThreadRole;

ImVec4 activity_colour(ThreadActivity a) {
  const auto& p = style::palette();
  switch (a) {
    case ThreadActivity::working:
    case ThreadActivity::burning_cpu:
    case ThreadActivity::holding_lock:
      return p.ok;
    case ThreadActivity::waiting_lock:
    case ThreadActivity::race_window:
      return p.bad;
    case ThreadActivity::sleeping:
    case ThreadActivity::closing:
      return p.warn;
    case ThreadActivity::exited:
    case ThreadActivity::unknown:
      return p.dim;
    default:
      return ImGui::GetStyleColorVec4(ImGuiCol_Text);
  }
}

}  // namespace

// ---- 1. rows ------------------------------------------------------------------------

std::vector<ThreadRow> compute_thread_rows(const session::ThreadsModel& model, bool show_exited) {
  std::vector<ThreadRow> rows;
  for (std::size_t p = 0; p < model.processes.size(); ++p) {
    const auto& proc = model.processes[p];
    for (std::size_t l = 0; l < proc.lanes.size(); ++l) {
      if (!show_exited && !proc.lanes[l].alive()) continue;
      rows.push_back({p, l});
    }
  }
  return rows;
}

void ThreadsView::draw(FrameContext& ctx) {
  // Refold only when the session moved (or another session is shown).
  if (fold_generation_ != ctx.session.generation() || fold_session_ != &ctx.session) {
    fold_ = session::fold_threads(ctx.session);
    fold_generation_ = ctx.session.generation();
    fold_session_ = &ctx.session;
  }
  std::size_t alive = 0;
  for (const auto& p : fold_.processes)
    for (const auto& l : p.lanes) alive += l.alive() ? 1 : 0;
  char title[96];
  std::snprintf(title, sizeof title, "Threads: %zu alive in %zu processes###threads", alive, fold_.processes.size());
  if (ImGui::Begin(title)) {
    draw_lanes(ctx);
    draw_queues();
    draw_counters();
    draw_memory(ctx);
  }
  ImGui::End();
}

// ---- 2. lanes -------------------------------------------------------------------------

void ThreadsView::draw_lanes(const FrameContext& ctx) {
  ImGui::Checkbox("Show exited threads", &show_exited);
  ImGui::SameLine();
  style::help_marker(
      "One lane per thread, from /proc/PID/task joined with the threads' own events: "
      "what each is doing now and which connection it serves. Per-thread CPU time and "
      "scheduler state need per-task /proc sampling; the process line shows the total.");
  rows_ = compute_thread_rows(fold_, show_exited);
  const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_ScrollY |
                                ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_Resizable;
  float height = std::min(ImGui::GetTextLineHeightWithSpacing() * (static_cast<float>(rows_.size()) + 2.0f),
                          ImGui::GetContentRegionAvail().y * 0.5f);
  if (ImGui::BeginTable("##lanes", 8, flags, ImVec2(0.0f, std::max(height, 80.0f)))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("process");
    ImGui::TableSetupColumn("tid");
    ImGui::TableSetupColumn("name");
    ImGui::TableSetupColumn("role");
    ImGui::TableSetupColumn("doing now");
    ImGui::TableSetupColumn("for");
    ImGui::TableSetupColumn("conn");
    ImGui::TableSetupColumn("served / in /proc", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableHeadersRow();
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(rows_.size()));
    while (clipper.Step()) {
      for (int r = clipper.DisplayStart; r < clipper.DisplayEnd; ++r) {
        const ThreadRow& row = rows_[static_cast<std::size_t>(r)];
        const auto& proc = fold_.processes[row.process];
        const ThreadLane& l = proc.lanes[row.lane];
        ImGui::PushID(static_cast<int>(row.process * 100000 + row.lane));
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::Text("%d %s", proc.pid, std::string(session::role_name(proc.role)).c_str());
        if (ImGui::IsItemHovered()) {
          ImGui::SetTooltip("%s: %d threads in /proc, %.2f s CPU (whole process)", proc.comm.c_str(),
                            proc.threads_in_proc, proc.cpu_s);
        }
        ImGui::TableNextColumn();
        {
          // In the thread's colour: its lane in the flow, its code cursor.
          style::MonoFont mono;
          ImGui::PushStyleColor(ImGuiCol_Text, style::identity_colour(ctx.model, l.pid, l.tid));
          ImGui::Text("%d", l.tid);
          ImGui::PopStyleColor();
        }
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(l.name.empty() ? "?" : l.name.c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(std::string(session::thread_role_name(l.role)).c_str());
        ImGui::TableNextColumn();
        style::text_colored(activity_colour(l.activity), "%s",
                            std::string(session::thread_activity_name(l.activity)).c_str());
        ImGui::TableNextColumn();
        if (l.activity_since_ns != 0 && ctx.now_ns >= l.activity_since_ns && l.alive()) {
          ImGui::TextUnformatted(style::format_duration_ns(ctx.now_ns - l.activity_since_ns).c_str());
        }
        ImGui::TableNextColumn();
        if (l.conn != 0) ImGui::Text("#%u", l.conn);
        ImGui::TableNextColumn();
        ImGui::Text("%u", l.conns_served);
        ImGui::SameLine();
        if (l.in_proc) {
          style::text_colored(style::palette().ok, "listed");
        } else if (l.alive()) {
          style::text_colored(style::palette().warn, "not sampled yet");
        } else {
          style::text_colored(style::palette().dim, "gone");
        }
        ImGui::PopID();
      }
    }
    ImGui::EndTable();
  }
}

// ---- 3. pool queue -----------------------------------------------------------------

void ThreadsView::draw_queues() {
  for (const auto& q : fold_.queues) {
    ImGui::PushID(q.pid);
    ImGui::Separator();
    ImGui::Text("Pool queue (pid %d): %zu waiting / %lld capacity, workers busy %d of %d, refused %llu, peak %zu",
                q.pid, q.waiting.size(), static_cast<long long>(q.capacity), q.busy, q.workers,
                static_cast<unsigned long long>(q.refused), q.peak_depth);
    // One box per slot of the queue: filled slots name the waiting connection.
    const auto& pal = style::palette();
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float box = ImGui::GetTextLineHeight() * 2.6f;
    const float gap = 4.0f;
    std::size_t slots = q.capacity >= 0 ? static_cast<std::size_t>(q.capacity) : q.waiting.size();
    slots = std::max(slots, q.waiting.size());
    const std::size_t shown = std::min<std::size_t>(slots, 64);
    ImVec2 origin = ImGui::GetCursorScreenPos();
    float avail = std::max(ImGui::GetContentRegionAvail().x, box + gap);
    std::size_t per_row = std::max<std::size_t>(1, static_cast<std::size_t>(avail / (box + gap)));
    for (std::size_t i = 0; i < shown; ++i) {
      ImVec2 a(origin.x + static_cast<float>(i % per_row) * (box + gap),
               origin.y + static_cast<float>(i / per_row) * (box + gap));
      ImVec2 b(a.x + box, a.y + box);
      if (i < q.waiting.size()) {
        dl->AddRectFilled(a, b, pal.client_fill, 4.0f);
        char label[16];
        std::snprintf(label, sizeof label, "#%u", q.waiting[i]);
        dl->AddText(ImVec2(a.x + 4.0f, a.y + box * 0.3f), pal.pill_text, label);
      }
      dl->AddRect(a, b, pal.node_border, 4.0f);
    }
    std::size_t rows = shown == 0 ? 0 : (shown + per_row - 1) / per_row;
    ImGui::Dummy(ImVec2(avail, static_cast<float>(rows) * (box + gap)));
    if (slots > shown) ImGui::TextDisabled("(+%zu more slots)", slots - shown);
    ImGui::PopID();
  }
}

// ---- 4. visitor counter ---------------------------------------------------------------

void ThreadsView::draw_counters() {
  if (fold_.counters.empty()) return;
  ImGui::Separator();
  ImGui::TextUnformatted("Visitor counter (SITE COUNT, /count)");
  ImGui::SameLine();
  style::help_marker(
      "Expected = visits counted; actual = what memory holds. With --unsafe-counter two threads "
      "that read the same value both write the same result: one visit is lost. --mutex makes the "
      "read-modify-write one critical section. In the fork server each child counts on its own copy "
      "of the counter, so the parent's never moves.");
  const auto& pal = style::palette();
  bool per_process = fold_.counters.size() > 1 ||
                     (fold_.counters.size() == 1 && fold_.counters[0].role == session::ProcessRole::child);
  if (per_process) {
    style::text_colored(pal.warn,
                        "%zu processes each counted on their own copy (%llu visits in all); the parent's counter "
                        "never moved.",
                        fold_.counters.size(), static_cast<unsigned long long>(fold_.counter_increments));
  }
  for (const auto& c : fold_.counters) {
    ImGui::PushID(c.pid);
    std::int64_t lost = c.lost_total();
    ImGui::Text("pid %d (%s, %s): expected %lld, actual %lld,", c.pid,
                std::string(session::role_name(c.role)).c_str(), c.mutex ? "mutex" : "unsafe",
                static_cast<long long>(c.expected()), static_cast<long long>(c.actual));
    ImGui::SameLine();
    style::text_colored(lost > 0 ? pal.bad : pal.ok, "lost %lld", static_cast<long long>(lost));
    if (c.mutex) {
      ImGui::SameLine();
      ImGui::TextDisabled("lock waits %llu, longest %s", static_cast<unsigned long long>(c.lock_waits),
                          style::format_duration_ns(c.max_lock_wait_ns).c_str());
    }
    if (!c.lost.empty() && ImGui::TreeNode("lost", "%zu stale writes", c.lost.size())) {
      const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_ScrollY |
                                    ImGuiTableFlags_SizingFixedFit;
      float h = ImGui::GetTextLineHeightWithSpacing() * static_cast<float>(std::min<std::size_t>(c.lost.size(), 8) + 1);
      if (ImGui::BeginTable("##lost", 4, flags, ImVec2(0.0f, h + 8.0f))) {
        ImGui::TableSetupScrollFreeze(0, 1);
        ImGui::TableSetupColumn("stale writer");
        ImGui::TableSetupColumn("overwrote");
        ImGui::TableSetupColumn("read → in memory → wrote");
        ImGui::TableSetupColumn("erased", ImGuiTableColumnFlags_WidthStretch);
        ImGui::TableHeadersRow();
        ImGuiListClipper clipper;
        clipper.Begin(static_cast<int>(c.lost.size()));
        while (clipper.Step()) {
          for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
            const auto& lu = c.lost[static_cast<std::size_t>(i)];
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            ImGui::Text("tid %d (#%u)", lu.stale_tid, lu.stale_conn);
            ImGui::TableNextColumn();
            if (lu.overwritten_tid != 0) ImGui::Text("tid %d (#%u)", lu.overwritten_tid, lu.overwritten_conn);
            else ImGui::TextDisabled("?");
            ImGui::TableNextColumn();
            ImGui::Text("%lld → %lld → %lld", static_cast<long long>(lu.read_value),
                        static_cast<long long>(lu.overwritten_value), static_cast<long long>(lu.written_value));
            ImGui::TableNextColumn();
            style::text_colored(pal.bad, "%lld", static_cast<long long>(lu.overwritten_value - lu.read_value));
          }
        }
        ImGui::EndTable();
      }
      ImGui::TreePop();
    }
    ImGui::PopID();
  }
}

// ---- 5. memory ----------------------------------------------------------------------

void ThreadsView::draw_memory(const FrameContext& ctx) {
  const auto& m = fold_.memory;
  if (m.processes == 0) return;
  ImGui::Separator();
  ImGui::Text("Memory (%s): %d processes, %d threads, %llu connections open; PSS %s, RSS %s",
              ctx.session.meta().architecture.empty() ? "server" : ctx.session.meta().architecture.c_str(),
              m.processes, m.threads, static_cast<unsigned long long>(m.open_connections),
              style::format_kb(m.pss_kb).c_str(), style::format_kb(m.rss_kb).c_str());
  if (m.open_connections > 0) {
    ImGui::Text("Per connection: %s PSS (RSS would say %s)",
                style::format_kb(static_cast<std::uint64_t>(m.pss_per_connection_kb)).c_str(),
                style::format_kb(static_cast<std::uint64_t>(m.rss_per_connection_kb)).c_str());
  }
  ImGui::SameLine();
  style::help_marker(
      "PSS charges each shared page to its sharers in proportion, so summing it over the server's "
      "processes gives what the server really costs. A forked child shares the parent's pages "
      "copy-on-write until one of them writes, so RSS (which counts every shared page in full, once "
      "per process) overstates the cost of fork. A thread costs a stack and a little kernel state; "
      "compare the per-connection PSS of fork, thread and pool runs.");
}

}  // namespace sockscope::app
