#include "views/flow_view.h"

#include <imgui.h>

#include "servers/architecture.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "views/step_view.h"
#include "views/style.h"

namespace sockscope::app {

namespace {

using session::FlowLane;
using session::FlowLaneKind;

ImU32 lane_colour(const session::Model& model, const FlowLane& lane) {
  const style::Palette& pal = style::palette();
  if (lane.kind == FlowLaneKind::client) return lane.client_id ? pal.client_fill : pal.external_fill;
  return style::identity_colour(model, lane.pid, lane.tid);
}

ImU32 with_alpha(ImU32 c, float a) {
  return (c & ~IM_COL32_A_MASK) | (static_cast<ImU32>(std::clamp(a, 0.0f, 1.0f) * 255.0f) << IM_COL32_A_SHIFT);
}

std::string who(pid_t pid, pid_t tid) {
  char buf[48];
  if (tid == pid || tid == 0) std::snprintf(buf, sizeof buf, "pid %d", static_cast<int>(pid));
  else std::snprintf(buf, sizeof buf, "thread %d (pid %d)", static_cast<int>(tid), static_cast<int>(pid));
  return buf;
}

// What a lane is, for its header's tooltip: the ids a teacher is asked about.
std::string lane_explanation(const FlowLane& lane) {
  char buf[320];
  switch (lane.kind) {
    case FlowLaneKind::client:
      if (lane.client_id)
        std::snprintf(buf, sizeof buf,
                      "Simulated client %u (the simulator's own number), from local port %u. The server calls "
                      "this connection conn #%u: its number for the connections it accepted, in accept order.",
                      lane.client_id, static_cast<unsigned>(lane.port), lane.conn);
      else
        std::snprintf(buf, sizeof buf,
                      "An external client (curl, nc, a browser) from port %u: no simulator number. The server "
                      "calls this connection conn #%u.",
                      static_cast<unsigned>(lane.port), lane.conn);
      return buf;
    case FlowLaneKind::listener:
      std::snprintf(buf, sizeof buf, "The server's first process (pid %d): it accepts every connection.",
                    static_cast<int>(lane.pid));
      return buf;
    case FlowLaneKind::handler:
      if (lane.tid != lane.pid)
        std::snprintf(buf, sizeof buf, "Thread %d of process %d: it serves a connection.", static_cast<int>(lane.tid),
                      static_cast<int>(lane.pid));
      else
        std::snprintf(buf, sizeof buf, "Process %d: it serves a connection.", static_cast<int>(lane.pid));
      return buf;
  }
  return {};
}

}  // namespace

LabelPlace place_note_label(float dot_x, float gap, float text_w, float min_x, float max_x) {
  const float right = max_x - (dot_x + gap);
  const float left = (dot_x - gap) - min_x;
  if (text_w <= right) return {dot_x + gap, text_w, false};
  if (text_w <= left) return {dot_x - gap - text_w, text_w, false};
  if (right >= left) return {dot_x + gap, std::max(right, 0.0f), true};
  return {min_x, std::max(left, 0.0f), true};
}

LabelPlace place_arrow_label(float x1, float x2, float text_w, float min_x, float max_x) {
  const float room = std::max(max_x - min_x, 0.0f);
  if (text_w > room) return {min_x, room, true};
  const float x = std::clamp((x1 + x2) * 0.5f - text_w * 0.5f, min_x, max_x - text_w);
  return {x, text_w, false};
}

std::string fit_text(std::string_view text, float max_w, const std::function<float(std::string_view)>& width_of) {
  if (width_of(text) <= max_w) return std::string(text);
  static constexpr std::string_view kEllipsis = "\xe2\x80\xa6";  // …
  // The longest head that fits with the ellipsis: binary search on bytes,
  // then back to the start of a character.
  std::size_t lo = 0, hi = text.size();
  auto head = [&](std::size_t n) {
    while (n > 0 && n < text.size() && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    return n;
  };
  while (lo < hi) {
    const std::size_t mid = (lo + hi + 1) / 2;
    std::string candidate(text.substr(0, head(mid)));
    candidate += kEllipsis;
    if (width_of(candidate) <= max_w) lo = mid;
    else hi = mid - 1;
  }
  const std::size_t n = head(lo);
  if (n == 0) return width_of(kEllipsis) <= max_w ? std::string(kEllipsis) : std::string();
  std::string out(text.substr(0, n));
  // No dangling space before the ellipsis.
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out + std::string(kEllipsis);
}

void FlowView::draw(FrameContext& ctx) {
  drawn_text_.clear();
  if (!ImGui::Begin("Connection flow###flow")) {
    ImGui::End();
    return;
  }
  // Folded once per change of the store or the instant.
  const std::uint64_t at = ctx.model.at_ns;
  if (&ctx.session != folded_session_ || ctx.session.generation() != folded_generation_ || at != folded_at_ ||
      max_connections != folded_max_) {
    session::FlowOptions options;
    options.max_connections = static_cast<std::size_t>(max_connections);
    diagram_ = session::fold_flow(ctx.session, ctx.model, at, options);
    folded_session_ = &ctx.session;
    folded_generation_ = ctx.session.generation();
    folded_at_ = at;
    folded_max_ = max_connections;
  }
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 10.0f);
  ImGui::SliderInt("##newest", &max_connections, 1, 8, max_connections == 1 ? "newest connection" : "newest %d connections");
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("How many of the newest connections the diagram follows");
  char calls[64];
  std::snprintf(calls, sizeof calls, "%s%s", style::count_of(diagram_.messages.size(), "call", "calls").c_str(),
                diagram_.messages_dropped || diagram_.history_cut ? " (older ones left out)" : "");
  style::same_line_if_fits(ImGui::CalcTextSize(calls).x);
  style::text_colored(style::palette().dim, "%s", calls);
  draw_step();
  draw_diagram(ctx);
  ImGui::End();
}

void FlowView::draw_step() {
  const auto& step = diagram_.step;
  ImGui::PushTextWrapPos(0.0f);
  if (!step) {
    ImGui::PushStyleColor(ImGuiCol_Text, style::palette().dim);
    ImGui::TextUnformatted(
        "Pause (P), then Step (Space): each step moves one process or thread through one system call, "
        "highlighted here.");
    ImGui::PopStyleColor();
    ImGui::PopTextWrapPos();
    return;
  }
  const std::string gate(trace::gate_name(step->gate));
  ImFont* bold = style::fonts().bold;
  if (bold) ImGui::PushFont(bold);
  if (step->conn) ImGui::Text("Step: %s passed %s (conn #%u)", who(step->pid, step->tid).c_str(), gate.c_str(), step->conn);
  else ImGui::Text("Step: %s passed %s", who(step->pid, step->tid).c_str(), gate.c_str());
  if (bold) ImGui::PopFont();
  if (step->conn && ImGui::IsItemHovered())
    ImGui::SetTooltip("conn #%u: the server's number for the connection, in accept order", step->conn);
  ImGui::TextUnformatted(std::string(gate_explanation(step->gate)).c_str());
  ImGui::PopTextWrapPos();
}

void FlowView::draw_diagram(const FrameContext& ctx) {
  const style::Palette& pal = style::palette();
  const auto& d = diagram_;
  if (d.conns.empty()) {
    style::text_colored(pal.dim, "No connections yet: start a server and connect clients.");
    return;
  }
  ImGui::BeginChild("##flow_rows", ImVec2(0, 0), true, ImGuiWindowFlags_HorizontalScrollbar);
  const float fs = ImGui::GetFontSize();
  const float time_w = ImGui::CalcTextSize("00.000 s").x + fs * 0.6f;
  const float header_h = fs * 2.9f;
  const float row_h = std::round(fs * 1.6f);
  const auto lanes = static_cast<float>(d.lanes.size());
  const float avail = ImGui::GetContentRegionAvail().x;
  // Lanes share the width; narrower than this, their names would be mostly "…".
  const float lane_w = std::max(fs * 5.0f, std::floor((avail - time_w) / lanes));
  const float total_w = time_w + lane_w * lanes;
  auto width_of = [](std::string_view t) { return ImGui::CalcTextSize(t.data(), t.data() + t.size()).x; };
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 content0 = ImGui::GetCursorScreenPos();  // top-left of the content, scrolled
  auto centre_x = [&](int lane) { return content0.x + time_w + lane_w * (static_cast<float>(lane) + 0.5f); };

  // A new step scrolls to its row; otherwise new rows keep the view at the bottom.
  const int step_row = d.step ? d.step->message : -1;
  const bool at_bottom = ImGui::GetScrollY() >= ImGui::GetScrollMaxY() - row_h;
  // (Again when the window's height changes: a layout switch moves the row out of sight.)
  const float height = ImGui::GetWindowHeight();
  if (step_row >= 0 && (step_row != scrolled_to_step_ || height != scrolled_height_)) {
    scrolled_to_step_ = step_row;
    scrolled_height_ = height;
    ImGui::SetScrollY(std::max(0.0f, header_h + row_h * static_cast<float>(step_row) - ImGui::GetWindowHeight() * 0.5f));
  } else if (d.messages.size() != shown_messages_ && at_bottom) {
    ImGui::SetScrollY(header_h + row_h * static_cast<float>(d.messages.size()));
  }
  shown_messages_ = d.messages.size();

  // Lifelines through the visible part.
  const ImVec2 win = ImGui::GetWindowPos();
  const float win_h = ImGui::GetWindowHeight();
  for (std::size_t i = 0; i < d.lanes.size(); ++i) {
    const float x = centre_x(static_cast<int>(i));
    dl->AddLine(ImVec2(x, win.y + header_h), ImVec2(x, win.y + win_h), with_alpha(lane_colour(ctx.model, d.lanes[i]), 0.45f),
                fs * 0.08f);
  }

  ImGui::Dummy(ImVec2(total_w, header_h));
  ImGuiListClipper clipper;
  clipper.Begin(static_cast<int>(d.messages.size()), row_h);
  const std::uint64_t t0 = ctx.session.meta().start_ns ? ctx.session.meta().start_ns : d.messages.front().ts_ns;
  while (clipper.Step()) {
    for (int r = clipper.DisplayStart; r < clipper.DisplayEnd; ++r) {
      const session::FlowMessage& m = d.messages[static_cast<std::size_t>(r)];
      const ImVec2 p = ImGui::GetCursorScreenPos();
      const bool highlighted = r == step_row;
      if (highlighted)
        dl->AddRectFilled(ImVec2(p.x, p.y), ImVec2(p.x + total_w, p.y + row_h),
                          with_alpha(style::identity_colour(ctx.model, m.pid, m.tid), 0.28f), fs * 0.2f);
      char when[32];
      std::snprintf(when, sizeof when, "%.3f s", static_cast<double>(m.drawn_ns > t0 ? m.drawn_ns - t0 : 0) / 1e9);
      dl->AddText(ImVec2(p.x + fs * 0.2f, p.y + (row_h - fs) * 0.5f), ImGui::GetColorU32(ImGuiCol_TextDisabled), when);
      const FlowLane& from = d.lanes[static_cast<std::size_t>(m.from)];
      const FlowLane& to = d.lanes[static_cast<std::size_t>(m.to)];
      // The server side of the call gives the colour.
      const ImU32 colour = lane_colour(ctx.model, from.kind == FlowLaneKind::client ? to : from);
      const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
      const float y = p.y + row_h * 0.72f;
      const float thick = highlighted ? fs * 0.2f : fs * 0.11f;
      const float label_w = width_of(m.label);
      const float min_x = content0.x + time_w;
      const float max_x = content0.x + total_w;
      auto draw_label = [&](const LabelPlace& at, float ty, bool backdrop) {
        const std::string shown = at.cut ? fit_text(m.label, at.room, width_of) : m.label;
        const float w = width_of(shown);
        if (backdrop)
          dl->AddRectFilled(ImVec2(at.x - fs * 0.15f, ty), ImVec2(at.x + w + fs * 0.15f, ty + fs),
                            with_alpha(ImGui::GetColorU32(ImGuiCol_ChildBg) | IM_COL32_A_MASK, 0.85f), fs * 0.15f);
        dl->AddText(ImVec2(at.x, ty), text, shown.c_str());
        drawn_text_.push_back({shown, at.x, at.x + w, min_x, max_x});
      };
      if (m.from == m.to) {
        // A note: a dot on the lifeline and the call beside it (left of it
        // when the right has no room, so the last lane's notes stay in view).
        const float x = centre_x(m.from);
        dl->AddCircleFilled(ImVec2(x, p.y + row_h * 0.5f), fs * (highlighted ? 0.36f : 0.26f), colour);
        draw_label(place_note_label(x, fs * 0.6f, label_w, min_x, max_x), p.y + (row_h - fs) * 0.5f, true);
      } else {
        const float x1 = centre_x(m.from);
        const float x2 = centre_x(m.to);
        const float dir = x2 > x1 ? 1.0f : -1.0f;
        const float head = fs * 0.45f;
        dl->AddLine(ImVec2(x1, y), ImVec2(x2 - dir * head, y), colour, thick);
        dl->AddTriangleFilled(ImVec2(x2, y), ImVec2(x2 - dir * head, y - head * 0.5f),
                              ImVec2(x2 - dir * head, y + head * 0.5f), colour);
        // The label sits above the arrow, centred on it, kept inside the diagram.
        draw_label(place_arrow_label(x1, x2, label_w, min_x, max_x), y - fs * 1.1f, false);
      }
      // (Not through the lane headers, which cover the top rows.)
      if (ImGui::IsMouseHoveringRect(p, ImVec2(p.x + total_w, p.y + row_h)) && ImGui::IsWindowHovered() &&
          ImGui::GetIO().MousePos.y > win.y + header_h) {
        // The whole label (the row may show it shortened), what it means, who and which connection.
        ImGui::BeginTooltip();
        ImGui::PushTextWrapPos(fs * 30.0f);
        ImGui::TextUnformatted(m.label.c_str());
        if (!m.detail.empty()) ImGui::TextUnformatted(m.detail.c_str());
        ImGui::TextDisabled("%s: %s -> %s, conn #%u", std::string(trace::kind_name(m.kind)).c_str(), from.label.c_str(),
                            to.label.c_str(), m.conn);
        if (m.drawn_ns < m.ts_ns)
          ImGui::TextDisabled("logged %.3f s after the other side saw it", static_cast<double>(m.ts_ns - m.drawn_ns) / 1e9);
        ImGui::TextDisabled("conn #N: the server's number for the connection, in accept order.");
        ImGui::PopTextWrapPos();
        ImGui::EndTooltip();
      }
      ImGui::Dummy(ImVec2(total_w, row_h));
    }
  }

  // The lane headers stay at the top while the rows scroll under them.
  const float top = win.y;
  dl->AddRectFilled(ImVec2(win.x, top), ImVec2(win.x + ImGui::GetWindowWidth(), top + header_h),
                    ImGui::GetColorU32(ImGuiCol_WindowBg) | IM_COL32_A_MASK);
  ImFont* bold = style::fonts().bold ? style::fonts().bold : ImGui::GetFont();
  for (std::size_t i = 0; i < d.lanes.size(); ++i) {
    const FlowLane& lane = d.lanes[i];
    const float x = centre_x(static_cast<int>(i));
    const ImVec2 a(x - lane_w * 0.5f + fs * 0.25f, top + fs * 0.2f);
    const ImVec2 b(x + lane_w * 0.5f - fs * 0.25f, top + header_h - fs * 0.2f);
    dl->AddRectFilled(a, b, with_alpha(lane_colour(ctx.model, lane), 0.22f), fs * 0.3f);
    dl->AddRectFilled(a, ImVec2(b.x, a.y + fs * 0.25f), lane_colour(ctx.model, lane), fs * 0.3f, ImDrawFlags_RoundCornersTop);
    // Both lines fit the lane's box; the tooltip has them whole. A narrow lane
    // drops a client's port first, then moves the kind ("listener", "child")
    // down to the second line, keeping the pid the process tree shows.
    const float room = b.x - a.x - fs * 0.3f;
    auto bold_width = [&](std::string_view t) { return bold->CalcTextSizeA(fs, FLT_MAX, 0.0f, t.data(), t.data() + t.size()).x; };
    std::string full = lane.label;
    std::string kind_word;
    if (bold_width(full) > room) {
      if (auto port = full.find(" :"); port != std::string::npos) full.erase(port);
      if (bold_width(full) > room && lane.kind != FlowLaneKind::client) {
        if (auto space = full.rfind(' '); space != std::string::npos) {
          kind_word = full.substr(0, space);
          full.erase(0, space + 1);
        }
      }
    }
    const std::string label = fit_text(full, room, bold_width);
    const float lw = bold_width(label);
    dl->AddText(bold, fs, ImVec2(x - lw * 0.5f, a.y + fs * 0.35f), ImGui::GetColorU32(ImGuiCol_Text), label.c_str());
    drawn_text_.push_back({label, x - lw * 0.5f, x + lw * 0.5f, a.x, b.x});
    std::string sub;
    ImU32 sub_colour = ImGui::GetColorU32(ImGuiCol_TextDisabled);
    if (!lane.parked_at.empty()) {
      sub = "parked at " + lane.parked_at;
      sub_colour = ImGui::ColorConvertFloat4ToU32(pal.warn);
    } else if (lane.kind == FlowLaneKind::client) {
      sub = lane.client_id ? "simulated client" : "external client";
    } else if (lane.kind == FlowLaneKind::listener) {
      const servers::Architecture* arch = servers::find_architecture(ctx.session.meta().architecture);
      sub = arch && arch->has(servers::kEventLoop) ? "accepts, runs every handler" : "accepts";
    } else {
      sub = lane.tid != lane.pid ? "handler thread" : "handler process";
    }
    // The kind before the second line when both fit; else that line alone ("parked at reply" matters more).
    std::string second = sub;
    if (!kind_word.empty() && width_of(kind_word + ": " + sub) <= room) second = kind_word + ": " + sub;
    const std::string sub_shown = fit_text(second, room, width_of);
    const float sw = width_of(sub_shown);
    dl->AddText(ImVec2(x - sw * 0.5f, a.y + fs * 1.4f), sub_colour, sub_shown.c_str());
    drawn_text_.push_back({sub_shown, x - sw * 0.5f, x + sw * 0.5f, a.x, b.x});
    if (ImGui::IsMouseHoveringRect(a, b) && ImGui::IsWindowHovered()) {
      ImGui::BeginTooltip();
      ImGui::PushTextWrapPos(fs * 30.0f);
      ImGui::TextUnformatted(lane.label.c_str());
      ImGui::TextUnformatted(sub.c_str());
      ImGui::TextDisabled("%s", lane_explanation(lane).c_str());
      ImGui::PopTextWrapPos();
      ImGui::EndTooltip();
    }
  }
  ImGui::EndChild();
}

}  // namespace sockscope::app
