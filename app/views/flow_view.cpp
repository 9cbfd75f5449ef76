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

}  // namespace

void FlowView::draw(FrameContext& ctx) {
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
  ImGui::SameLine();
  style::text_colored(style::palette().dim, "%zu calls%s", diagram_.messages.size(),
                      diagram_.messages_dropped || diagram_.history_cut ? " (older ones left out)" : "");
  draw_step();
  draw_diagram(ctx);
  ImGui::End();
}

void FlowView::draw_step() {
  const auto& step = diagram_.step;
  if (!step) {
    style::text_colored(style::palette().dim,
                        "Pause (P), then Step (Space): each step moves one process or thread through one system call, "
                        "highlighted here.");
    return;
  }
  const std::string gate(trace::gate_name(step->gate));
  ImFont* bold = style::fonts().bold;
  if (bold) ImGui::PushFont(bold);
  if (step->conn) ImGui::Text("Step: %s passed %s (connection %u)", who(step->pid, step->tid).c_str(), gate.c_str(), step->conn);
  else ImGui::Text("Step: %s passed %s", who(step->pid, step->tid).c_str(), gate.c_str());
  if (bold) ImGui::PopFont();
  ImGui::PushTextWrapPos(0.0f);
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
  const float time_w = fs * 5.0f;
  const float header_h = fs * 2.9f;
  const float row_h = std::round(fs * 1.6f);
  const auto lanes = static_cast<float>(d.lanes.size());
  const float avail = ImGui::GetContentRegionAvail().x;
  const float lane_w = std::max(fs * 9.0f, std::floor((avail - time_w) / lanes));
  const float total_w = time_w + lane_w * lanes;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 content0 = ImGui::GetCursorScreenPos();  // top-left of the content, scrolled
  auto centre_x = [&](int lane) { return content0.x + time_w + lane_w * (static_cast<float>(lane) + 0.5f); };

  // A new step scrolls to its row; otherwise new rows keep the view at the bottom.
  const int step_row = d.step ? d.step->message : -1;
  const bool at_bottom = ImGui::GetScrollY() >= ImGui::GetScrollMaxY() - row_h;
  if (step_row >= 0 && step_row != scrolled_to_step_) {
    scrolled_to_step_ = step_row;
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
      const ImVec2 label_size = ImGui::CalcTextSize(m.label.c_str());
      if (m.from == m.to) {
        // A note: a dot on the lifeline and the call beside it.
        const float x = centre_x(m.from);
        dl->AddCircleFilled(ImVec2(x, p.y + row_h * 0.5f), fs * (highlighted ? 0.36f : 0.26f), colour);
        const ImVec2 tp(x + fs * 0.6f, p.y + (row_h - fs) * 0.5f);
        dl->AddRectFilled(ImVec2(tp.x - fs * 0.15f, tp.y), ImVec2(tp.x + label_size.x + fs * 0.15f, tp.y + fs),
                          with_alpha(ImGui::GetColorU32(ImGuiCol_ChildBg) | IM_COL32_A_MASK, 0.85f), fs * 0.15f);
        dl->AddText(tp, text, m.label.c_str());
      } else {
        const float x1 = centre_x(m.from);
        const float x2 = centre_x(m.to);
        const float dir = x2 > x1 ? 1.0f : -1.0f;
        const float head = fs * 0.45f;
        dl->AddLine(ImVec2(x1, y), ImVec2(x2 - dir * head, y), colour, thick);
        dl->AddTriangleFilled(ImVec2(x2, y), ImVec2(x2 - dir * head, y - head * 0.5f),
                              ImVec2(x2 - dir * head, y + head * 0.5f), colour);
        // The label sits above the arrow, centred on it, kept inside the diagram.
        float lx = (x1 + x2) * 0.5f - label_size.x * 0.5f;
        lx = std::clamp(lx, content0.x + time_w, content0.x + total_w - label_size.x);
        dl->AddText(ImVec2(lx, y - fs * 1.1f), text, m.label.c_str());
      }
      if (ImGui::IsMouseHoveringRect(p, ImVec2(p.x + total_w, p.y + row_h))) {
        if (m.drawn_ns < m.ts_ns)
          ImGui::SetTooltip("%s\n%s: %s -> %s, connection %u\nlogged %.3f s after the other side saw it", m.label.c_str(),
                            std::string(trace::kind_name(m.kind)).c_str(), from.label.c_str(), to.label.c_str(), m.conn,
                            static_cast<double>(m.ts_ns - m.drawn_ns) / 1e9);
        else
          ImGui::SetTooltip("%s\n%s: %s -> %s, connection %u", m.label.c_str(),
                            std::string(trace::kind_name(m.kind)).c_str(), from.label.c_str(), to.label.c_str(), m.conn);
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
    const ImVec2 ls = bold->CalcTextSizeA(fs, FLT_MAX, 0.0f, lane.label.c_str());
    dl->AddText(bold, fs, ImVec2(x - ls.x * 0.5f, a.y + fs * 0.35f), ImGui::GetColorU32(ImGuiCol_Text), lane.label.c_str());
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
    const ImVec2 ss = ImGui::CalcTextSize(sub.c_str());
    dl->AddText(ImVec2(x - ss.x * 0.5f, a.y + fs * 1.4f), sub_colour, sub.c_str());
  }
  ImGui::EndChild();
}

}  // namespace sockscope::app
