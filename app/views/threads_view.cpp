// The threads view.
//
// Sections: 1. rows (pure)  2. lanes  3. pool queue  4. visitor counter  5. memory.
#include "views/threads_view.h"

#include <imgui.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
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

// What each word in the "doing now" column means (its tooltip).
const char* activity_explanation(ThreadActivity a) {
  switch (a) {
    case ThreadActivity::unknown: return "No event from this thread yet: nothing to say what it is doing.";
    case ThreadActivity::accepting: return "Back in poll()/accept(), waiting for the next client to connect.";
    case ThreadActivity::supervising:
      return "The master of prestarted workers: the workers accept, it only watches over them.";
    case ThreadActivity::waiting_client:
      return "It sent its reply and is blocked in recv(), waiting for the client's next bytes.";
    case ThreadActivity::working: return "Handling a request: between reading it and sending the reply.";
    case ThreadActivity::burning_cpu: return "SITE WORK / /work: spinning on a CPU on purpose.";
    case ThreadActivity::sleeping: return "SITE SLEEP / /sleep: asleep on purpose, holding its connection.";
    case ThreadActivity::waiting_lock:
      return "Blocked on the visitor counter's mutex: another thread holds it.";
    case ThreadActivity::holding_lock: return "Holds the counter's mutex: every other thread that wants it waits.";
    case ThreadActivity::race_window:
      return "Read the shared counter and has not written it back yet: another thread's write in this window "
             "is lost (a lost update).";
    case ThreadActivity::idle_in_pool:
      return "A pool worker with no connection: asleep on the queue until one is put on it.";
    case ThreadActivity::closing: return "Closed its connection; about to end or go back for another.";
    case ThreadActivity::exited: return "The thread has ended.";
  }
  return "";
}

const char* role_explanation(ThreadRole r) {
  switch (r) {
    case ThreadRole::main:
      return "main: the process's first thread (tid = pid). It accepts in the thread and pool servers.";
    case ThreadRole::handler: return "handler: a thread started for one connection (pthread_create), ending with it.";
    case ThreadRole::worker:
      return "worker: a pool thread started up front; it takes connections off the queue one after another.";
    case ThreadRole::other: return "other: seen in /proc, but no event named it.";
  }
  return "";
}

constexpr const char* kConnTip =
    "conn #N: the server's number for the connection this thread serves now, in accept order "
    "(not the simulated client's number).";

// `tip` on hover of the last item, wrapped.
void tooltip(const char* tip) {
  if (!ImGui::IsItemHovered()) return;
  ImGui::BeginTooltip();
  ImGui::PushTextWrapPos(ImGui::GetFontSize() * 28.0f);
  ImGui::TextUnformatted(tip);
  ImGui::PopTextWrapPos();
  ImGui::EndTooltip();
}

// Wrapped text in a colour (nullptr: the text colour).
void wrapped(const ImVec4* colour, const std::string& text) {
  if (colour) ImGui::PushStyleColor(ImGuiCol_Text, *colour);
  ImGui::PushTextWrapPos(0.0f);
  ImGui::TextUnformatted(text.c_str());
  ImGui::PopTextWrapPos();
  if (colour) ImGui::PopStyleColor();
}

// A piece of such a sentence, with its tooltip.
void piece(const std::string& text, const char* tip = nullptr, const ImVec4* colour = nullptr, bool first = false) {
  if (!first) style::same_line_if_fits(text);
  if (colour) style::text_colored(*colour, "%s", text.c_str());
  else ImGui::TextUnformatted(text.c_str());
  if (tip) tooltip(tip);
}

// The lanes table, one row per column: what a thread is and does comes
// first, so a narrow window (which scrolls the rest sideways) still shows it.
struct LaneCell {
  const FrameContext& ctx;
  const session::ProcessThreads& proc;
  const ThreadLane& lane;
};
struct LaneColumn {
  const char* header;
  const char* tip;
  void (*draw)(const LaneCell&);
};
constexpr LaneColumn kLaneColumns[] = {
    {"tid",
     "The thread's id (what ps -L and /proc/PID/task call it), in its colour: its lane in the flow, its cursor "
     "in the code view.",
     [](const LaneCell& c) {
       style::MonoFont mono;
       ImGui::PushStyleColor(ImGuiCol_Text, style::identity_colour(c.ctx.model, c.lane.pid, c.lane.tid));
       ImGui::Text("%d", c.lane.tid);
       ImGui::PopStyleColor();
     }},
    {"name", "The thread's name: conn-N (started for connection #N), worker-K (pool), or the program's.",
     [](const LaneCell& c) { ImGui::TextUnformatted(c.lane.name.empty() ? "?" : c.lane.name.c_str()); }},
    {"doing now", "What the thread is doing now, from its latest event. Hover a state for what it means.",
     [](const LaneCell& c) {
       style::text_colored(activity_colour(c.lane.activity), "%s",
                           std::string(session::thread_activity_name(c.lane.activity)).c_str());
       tooltip(activity_explanation(c.lane.activity));
     }},
    {"for", "How long it has been doing that.",
     [](const LaneCell& c) {
       const ThreadLane& l = c.lane;
       if (l.activity_since_ns != 0 && c.ctx.now_ns >= l.activity_since_ns && l.alive())
         ImGui::TextUnformatted(style::format_duration_ns(c.ctx.now_ns - l.activity_since_ns).c_str());
     }},
    {"conn", kConnTip,
     [](const LaneCell& c) {
       if (c.lane.conn == 0) return;
       ImGui::Text("#%u", c.lane.conn);
       tooltip(kConnTip);
     }},
    {"role", "main, handler or worker: how the thread came to be. Hover a role for more.",
     [](const LaneCell& c) {
       ImGui::TextUnformatted(std::string(session::thread_role_name(c.lane.role)).c_str());
       tooltip(role_explanation(c.lane.role));
     }},
    {"process", "The server process (pid and its role) the thread belongs to.",
     [](const LaneCell& c) {
       ImGui::Text("%d %s", c.proc.pid, std::string(session::role_name(c.proc.role)).c_str());
       if (ImGui::IsItemHovered())
         ImGui::SetTooltip("%s: %d threads in /proc, %.2f s CPU (whole process)", c.proc.comm.c_str(),
                           c.proc.threads_in_proc, c.proc.cpu_s);
     }},
    {"served / in /proc",
     "served: connections this thread has finished. listed: /proc/PID/task lists it now; not sampled yet: it "
     "is newer than the last /proc sample; gone: it has ended.",
     [](const LaneCell& c) {
       ImGui::Text("%u", c.lane.conns_served);
       ImGui::SameLine();
       if (c.lane.in_proc) style::text_colored(style::palette().ok, "listed");
       else if (c.lane.alive()) style::text_colored(style::palette().warn, "not sampled yet");
       else style::text_colored(style::palette().dim, "gone");
     }},
};
constexpr int kLaneColumnCount = static_cast<int>(std::size(kLaneColumns));

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
  std::snprintf(title, sizeof title, "Threads: %zu alive in %s###threads", alive,
                style::count_of(fold_.processes.size(), "process", "processes").c_str());
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
  style::same_line_if_fits("(?)");
  style::help_marker(
      "One lane per thread, from /proc/PID/task joined with the threads' own events: "
      "what each is doing now and which connection it serves. Per-thread CPU time and "
      "scheduler state need per-task /proc sampling; the process line shows the total.");
  rows_ = compute_thread_rows(fold_, show_exited);
  // ScrollX: in a narrow window the columns keep their widths and the table
  // scrolls, rather than squeezing each column to a letter.
  const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_ScrollY |
                                ImGuiTableFlags_ScrollX | ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_Resizable;
  float height = std::min(ImGui::GetTextLineHeightWithSpacing() * (static_cast<float>(rows_.size()) + 2.0f) +
                              ImGui::GetStyle().ScrollbarSize,
                          ImGui::GetContentRegionAvail().y * 0.5f);
  if (ImGui::BeginTable("##lanes", kLaneColumnCount, flags, ImVec2(0.0f, std::max(height, ImGui::GetFontSize() * 5.0f)))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    for (const LaneColumn& c : kLaneColumns) ImGui::TableSetupColumn(c.header);
    ImGui::TableNextRow(ImGuiTableRowFlags_Headers);
    for (int c = 0; c < kLaneColumnCount; ++c) {
      ImGui::TableSetColumnIndex(c);
      ImGui::TableHeader(kLaneColumns[c].header);
      tooltip(kLaneColumns[c].tip);
    }
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(rows_.size()));
    while (clipper.Step()) {
      for (int r = clipper.DisplayStart; r < clipper.DisplayEnd; ++r) {
        const ThreadRow& row = rows_[static_cast<std::size_t>(r)];
        const auto& proc = fold_.processes[row.process];
        const LaneCell cell{ctx, proc, proc.lanes[row.lane]};
        ImGui::PushID(static_cast<int>(row.process * 100000 + row.lane));
        ImGui::TableNextRow();
        for (const LaneColumn& c : kLaneColumns) {
          ImGui::TableNextColumn();
          c.draw(cell);
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
    // One sentence in pieces that wrap, each word explained on hover.
    piece("Pool queue (pid " + std::to_string(q.pid) + "):",
          "Connections the listener accepted and put on the queue, for a worker thread to take. (The "
          "kernel's accept backlog, before accept(), is the listener's, in the process tree.)",
          nullptr, true);
    piece(std::to_string(q.waiting.size()) + " waiting",
          "waiting: accepted connections on the queue that no worker has taken yet. Their clients are "
          "connected but nobody serves them.");
    piece(q.capacity >= 0 ? "of " + std::to_string(q.capacity) + " slots," : "of ? slots,",
          "The queue's capacity (--queue). When it is full the listener refuses new connections.");
    piece("workers busy " + std::to_string(q.busy) + " of " + std::to_string(q.workers) + ",",
          "busy: workers serving a connection now; the others are idle in the pool, waiting on the queue.");
    piece("refused " + std::to_string(q.refused) + ",", "refused: connections turned away because the queue was full.");
    piece("peak " + std::to_string(q.peak_depth), "peak: the most connections that ever waited at once.");
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
        if (ImGui::IsMouseHoveringRect(a, b) && ImGui::IsWindowHovered())
          ImGui::SetTooltip("conn #%u waits in the queue (%zu ahead of it) for a free worker", q.waiting[i], i);
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
    wrapped(&pal.warn, std::to_string(fold_.counters.size()) + " processes each counted on their own copy (" +
                           std::to_string(fold_.counter_increments) + " visits in all); the parent's counter never moved.");
  }
  for (const auto& c : fold_.counters) {
    ImGui::PushID(c.pid);
    std::int64_t lost = c.lost_total();
    piece("pid " + std::to_string(c.pid) + " (" + std::string(session::role_name(c.role)) + ", " +
              (c.mutex ? "mutex" : "unsafe") + "):",
          c.mutex ? "mutex: each read-modify-write of the counter holds the lock." :
                    "unsafe: threads read, add one and write back with no lock; two at once lose a visit.",
          nullptr, true);
    piece("expected " + std::to_string(c.expected()) + ",", "expected: the visits counted (one per counter write).");
    piece("actual " + std::to_string(c.actual) + ",", "actual: the value the counter holds in memory.");
    piece("lost " + std::to_string(lost), "lost: expected - actual, visits overwritten by a stale write.",
          lost > 0 ? &pal.bad : &pal.ok);
    if (c.mutex)
      piece("lock waits " + std::to_string(c.lock_waits) + ", longest " + style::format_duration_ns(c.max_lock_wait_ns),
            "How often a thread found the mutex held and slept until it was free, and the longest such wait.",
            &pal.dim);
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
  // In pieces that wrap: at a projector's text size the line is wider than the window.
  piece("Memory (" + (ctx.session.meta().architecture.empty() ? std::string("server") : ctx.session.meta().architecture) +
            "):",
        nullptr, nullptr, true);
  piece(std::to_string(m.processes) + " processes,");
  piece(std::to_string(m.threads) + " threads,");
  piece(std::to_string(m.open_connections) + " connections open;");
  piece("PSS " + style::format_kb(m.pss_kb) + ",",
        "PSS: each shared page charged to its sharers in proportion, summed over the server's processes.");
  piece("RSS " + style::format_kb(m.rss_kb),
        "RSS: every resident page counted in full in each process that maps it, shared or not.");
  if (m.open_connections > 0) {
    piece("Per connection: " + style::format_kb(static_cast<std::uint64_t>(m.pss_per_connection_kb)) + " PSS",
          "(PSS now - the listener's alone at the start) / open connections.", nullptr, true);
    piece("(RSS would say " + style::format_kb(static_cast<std::uint64_t>(m.rss_per_connection_kb)) + ")");
  }
  style::same_line_if_fits("(?)");
  style::help_marker(
      "PSS charges each shared page to its sharers in proportion, so summing it over the server's "
      "processes gives what the server really costs. A forked child shares the parent's pages "
      "copy-on-write until one of them writes, so RSS (which counts every shared page in full, once "
      "per process) overstates the cost of fork. A thread costs a stack and a little kernel state; "
      "compare the per-connection PSS of fork, thread and pool runs.");
}

}  // namespace sockscope::app
