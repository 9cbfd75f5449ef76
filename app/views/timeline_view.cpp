// Sections: 1. colours and labels   2. playback   3. controls row
//           4. the canvas (axis, lanes, spans, markers, arrows, input)   5. File → Open
#include "views/timeline_view.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "session/export.h"
#include "views/style.h"

namespace sockscope::app {
namespace {

using session::SpanKind;
using trace::Kind;

// ---- 1. colours and labels ----------------------------------------------------
// Span colours: saturated and far apart in hue, so they survive a projector on
// both themes; text on them is always dark or white by luminance.
ImU32 span_colour(SpanKind k) {
  const bool dark = style::current_theme() == style::Theme::dark;
  switch (k) {
    case SpanKind::accepting: return dark ? IM_COL32(60, 110, 170, 255) : IM_COL32(120, 165, 225, 255);
    case SpanKind::waiting: return dark ? IM_COL32(75, 80, 95, 255) : IM_COL32(195, 200, 210, 255);
    case SpanKind::handling: return dark ? IM_COL32(45, 150, 80, 255) : IM_COL32(90, 190, 110, 255);
    case SpanKind::working: return IM_COL32(235, 130, 30, 255);
    case SpanKind::sleeping: return dark ? IM_COL32(140, 100, 200, 255) : IM_COL32(170, 130, 230, 255);
    case SpanKind::blocked: return IM_COL32(215, 50, 50, 255);
    case SpanKind::handler: return dark ? IM_COL32(40, 170, 180, 255) : IM_COL32(60, 190, 200, 255);
    case SpanKind::zombie: return dark ? IM_COL32(200, 30, 30, 255) : IM_COL32(225, 60, 60, 255);
    case SpanKind::at_gate: return IM_COL32(250, 90, 200, 255);
    case SpanKind::supervising: return dark ? IM_COL32(125, 115, 60, 255) : IM_COL32(205, 190, 120, 255);
    default: return IM_COL32(128, 128, 128, 255);
  }
}

ImU32 text_on(ImU32 c) {
  const float r = static_cast<float>((c >> IM_COL32_R_SHIFT) & 0xff);
  const float g = static_cast<float>((c >> IM_COL32_G_SHIFT) & 0xff);
  const float b = static_cast<float>((c >> IM_COL32_B_SHIFT) & 0xff);
  return 0.299f * r + 0.587f * g + 0.114f * b > 150.0f ? IM_COL32(10, 15, 30, 255) : IM_COL32(255, 255, 255, 255);
}

ImU32 marker_colour(Kind k) {
  switch (k) {
    case Kind::error:
    case Kind::client_error:
    case Kind::refuse:
    case Kind::timeout: return IM_COL32(235, 60, 60, 255);
    case Kind::fork:
    case Kind::spawn:
    case Kind::child_start:
    case Kind::exit:
    case Kind::reap:
    case Kind::thread_exit: return IM_COL32(240, 200, 40, 255);
    case Kind::accept:
    case Kind::close: return IM_COL32(90, 200, 255, 255);
    default:
      return style::current_theme() == style::Theme::dark ? IM_COL32(200, 205, 215, 200) : IM_COL32(60, 65, 80, 200);
  }
}

std::string span_label(const session::DrawSpan& d, bool client_lane) {
  char buf[64];
  if (d.folded > 1) {
    std::snprintf(buf, sizeof buf, "%u spans", d.folded);
    return buf;
  }
  switch (d.kind) {
    case SpanKind::handling:
      if (d.conn == 0) std::snprintf(buf, sizeof buf, "%u %s", d.concurrent, client_lane ? "clients" : "connections");
      else std::snprintf(buf, sizeof buf, "%s %u", client_lane ? "client" : "conn", d.conn);
      return buf;
    case SpanKind::handler:
      std::snprintf(buf, sizeof buf, "handler #%u", d.conn);
      return buf;
    default: return std::string(session::span_kind_name(d.kind));
  }
}

// "+1.250 s", "+35.2 ms", "+120 us" relative to the session start.
std::string rel_time(double ns, double step_ns) {
  char buf[48];
  const int digits_s = step_ns >= 1e9 ? 0 : step_ns >= 1e8 ? 1 : step_ns >= 1e7 ? 2 : 3;
  if (step_ns >= 1e6 || std::abs(ns) >= 1e9) {
    if (std::abs(ns) >= 1e9 || step_ns >= 1e8)
      std::snprintf(buf, sizeof buf, "%+.*f s", std::max(digits_s, step_ns < 1e6 ? 6 : 0), ns / 1e9);
    else
      std::snprintf(buf, sizeof buf, "%+.*f ms", step_ns >= 1e6 ? 0 : 3, ns / 1e6);
  } else if (step_ns >= 1e3) {
    std::snprintf(buf, sizeof buf, "%+.*f ms", step_ns >= 1e5 ? 1 : step_ns >= 1e4 ? 2 : 3, ns / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%+.3f us", ns / 1e3);
  }
  return buf;
}

// 1-2-5 steps giving about `want` ticks over `span`.
double tick_step(double span, double want) {
  const double raw = span / std::max(1.0, want);
  const double p = std::pow(10.0, std::floor(std::log10(std::max(raw, 1.0))));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * p) return m * p;
  return 10.0 * p;
}

constexpr double kMinSpanNs = 1000.0;  // 1 µs across the whole width
constexpr double kSpeeds[] = {0.01, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0};

}  // namespace

std::optional<AxisRange> timeline_axis_range(const session::Session& s, std::uint64_t now_ns, bool live) {
  if (s.events().empty()) return std::nullopt;
  AxisRange r;
  r.first_ns = s.first_ns();
  r.end_ns = std::max(s.last_ns(), live ? now_ns : s.last_ns());
  return r;
}

// ---- 2. playback -----------------------------------------------------------------

void TimelineView::play(const session::Session& s) {
  if (s.events().empty()) return;
  // From the end, play starts over.
  if (!instant_ || *instant_ >= s.last_ns()) instant_ = s.first_ns();
  play_pos_ = static_cast<double>(*instant_);
  playing_ = true;
}

void TimelineView::tick(const session::Session& s, double dt_s) {
  if (!playing_ || !instant_) {
    playing_ = false;
    return;
  }
  play_pos_ = std::max(play_pos_, static_cast<double>(*instant_));
  play_pos_ += dt_s * speed_ * 1e9;
  if (play_pos_ >= static_cast<double>(s.last_ns())) {
    instant_.reset();  // reached the end: the live / end state
    playing_ = false;
    return;
  }
  instant_ = static_cast<std::uint64_t>(play_pos_);
}

void TimelineView::step(const session::Session& s, int direction) {
  const auto& events = s.events();
  if (events.empty()) return;
  playing_ = false;
  // From the end: the end is the last event (snapshots may come later).
  const std::uint64_t cur = instant_.value_or(events.back().ts_ns);
  if (direction < 0) {
    // The instant shows every event with ts <= it: step back to the last
    // event strictly before the current instant.
    const std::size_t i = s.lower_bound(cur);
    if (i == 0) return;
    const std::uint64_t prev = events[i - 1].ts_ns;
    // Stepping back from the end must still show a change: drop the events at `cur`.
    instant_ = prev;
  } else {
    if (!instant_) return;
    const std::size_t j = s.lower_bound(cur + 1);
    if (j >= events.size()) instant_.reset();
    else instant_ = events[j].ts_ns;
  }
}

void TimelineView::set_range(std::uint64_t t0, std::uint64_t t1) {
  fit_ = false;
  follow_ = false;
  t0_ = static_cast<double>(t0);
  span_ = std::max(kMinSpanNs, static_cast<double>(t1 > t0 ? t1 - t0 : 1));
}

void TimelineView::zoom(double factor, double anchor_t) {
  const double new_span = std::max(kMinSpanNs, span_ * factor);
  const double frac = span_ > 0 ? (anchor_t - t0_) / span_ : 0.0;
  t0_ = anchor_t - frac * new_span;
  span_ = new_span;
  fit_ = false;
}

void TimelineView::clamp_range(std::uint64_t first, std::uint64_t end) {
  const double f = static_cast<double>(first), e = static_cast<double>(std::max(end, first + 1));
  const double total = e - f;
  span_ = std::clamp(span_, kMinSpanNs, std::max(kMinSpanNs, total * 1.1));
  t0_ = std::clamp(t0_, f - span_ * 0.05, std::max(f - span_ * 0.05, e - span_ * 0.95));
}

// ---- 3. controls -----------------------------------------------------------------

void TimelineView::controls(FrameContext& ctx) {
  const session::Session& s = ctx.session;
  const bool empty = s.events().empty();
  ImGui::BeginDisabled(empty);
  if (ImGui::Button("|<")) {
    playing_ = false;
    instant_ = s.first_ns();
  }
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Go to the first event");
  ImGui::SameLine();
  if (ImGui::Button("<")) step(s, -1);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Step back one event (,)");
  ImGui::SameLine();
  if (ImGui::Button(playing_ ? "Pause" : "Play", ImVec2(ImGui::GetFontSize() * 3.5f, 0))) {
    if (playing_) pause();
    else play(s);
  }
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Play / pause (space)");
  ImGui::SameLine();
  if (ImGui::Button(">")) step(s, +1);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Step forward one event (.)");
  ImGui::SameLine();
  if (ImGui::Button(ctx.lab != nullptr ? "Live" : ">|")) {
    playing_ = false;
    instant_.reset();
    follow_ = true;
  }
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip(ctx.lab != nullptr ? "Follow the newest data" : "Go to the end of the recording");
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 4.5f);
  char speed[16];
  std::snprintf(speed, sizeof speed, "%gx", speed_);
  if (ImGui::BeginCombo("##speed", speed)) {
    for (double x : kSpeeds) {
      char label[16];
      std::snprintf(label, sizeof label, "%gx", x);
      if (ImGui::Selectable(label, x == speed_)) speed_ = x;
    }
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  if (ImGui::Button("Fit")) {
    fit_ = true;
    follow_ = true;
  }
  ImGui::SameLine();
  // Where we are: the instant (or live/end), events up to it, drops.
  const std::uint64_t first = s.first_ns();
  if (instant_) {
    const std::size_t upto = s.lower_bound(*instant_ + 1);
    style::text_colored(style::palette().warn, "at %s  (%zu of %zu events)",
                        rel_time(static_cast<double>(*instant_ - std::min(*instant_, first)), 1.0).c_str(), upto,
                        s.events().size());
  } else {
    ImGui::Text("%s  (%zu events)", ctx.lab != nullptr ? "live" : "end of recording", s.events().size());
  }
  if (s.drops() > 0) {
    ImGui::SameLine();
    style::text_colored(style::palette().bad, "ring drops: %llu", static_cast<unsigned long long>(s.drops()));
  }
}

// ---- 4. the canvas ---------------------------------------------------------------

void TimelineView::canvas(FrameContext& ctx) {
  const session::Session& s = ctx.session;
  const float fs = ImGui::GetFontSize();
  const float label_w = fs * 10.0f;
  const float axis_h = fs * 1.3f;
  const float row_h = std::round(fs * 1.25f);
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const std::optional<AxisRange> range = timeline_axis_range(s, ctx.now_ns, ctx.lab != nullptr);
  axis_.reset();
  if (!range) {
    layout_ = {};
    ImGui::Dummy(ImVec2(0.0f, fs * 0.5f));
    style::text_colored(style::palette().dim, "%s",
                        ctx.lab != nullptr ? kTimelineEmptyHint : "This recording has no events.");
    return;
  }
  if (avail.x < label_w + 20.0f || avail.y < axis_h + row_h) return;
  axis_ = range;

  const std::uint64_t first = range->first_ns;
  const std::uint64_t end = range->end_ns;
  const double f = static_cast<double>(first);
  if (fit_) {
    t0_ = f;
    span_ = std::max(kMinSpanNs, static_cast<double>(end - std::min(end, first)));
  } else if (follow_ && ctx.lab != nullptr) {
    t0_ = static_cast<double>(end) - span_;
  }
  if (!fit_) clamp_range(first, end);

  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const float plot_x = origin.x + label_w;
  const float plot_w = avail.x - label_w;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImU32 grid = style::current_theme() == style::Theme::dark ? IM_COL32(255, 255, 255, 28) : IM_COL32(0, 0, 0, 30);
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
  const ImU32 dim = ImGui::GetColorU32(style::palette().dim);

  // Axis: ticks relative to the session start.
  const double tick = tick_step(span_, plot_w / (fs * 7.0f));
  const double first_tick = std::ceil((t0_ - f) / tick) * tick + f;
  for (double t = first_tick; t <= t0_ + span_; t += tick) {
    const float x = plot_x + static_cast<float>((t - t0_) / span_ * plot_w);
    dl->AddLine(ImVec2(x, origin.y + axis_h * 0.6f), ImVec2(x, origin.y + avail.y), grid);
    const std::string label = rel_time(t - f, tick);
    dl->AddText(ImVec2(x + 3.0f, origin.y), dim, label.c_str());
  }

  // Lanes in a scrolling child; only the visible rows are laid out.
  ImGui::SetCursorScreenPos(ImVec2(origin.x, origin.y + axis_h));
  ImGui::BeginChild("##lanes", ImVec2(avail.x, avail.y - axis_h), false, ImGuiWindowFlags_NoScrollWithMouse);
  const float scroll = ImGui::GetScrollY();
  const float view_h = ImGui::GetWindowHeight();
  const ImVec2 top = ImGui::GetCursorScreenPos();  // content origin (already scrolled)
  ImGui::Dummy(ImVec2(avail.x, std::max(row_h, index_.total_rows() * row_h)));
  ImDrawList* cl = ImGui::GetWindowDrawList();

  session::TimelineViewport vp;
  vp.t0_ns = static_cast<std::uint64_t>(std::max(0.0, t0_));
  vp.t1_ns = vp.t0_ns + static_cast<std::uint64_t>(std::max(1.0, span_));
  vp.width_px = plot_w;
  vp.min_px = 3.0f;
  vp.now_ns = end;
  vp.first_row = scroll / row_h;
  vp.last_row = (scroll + view_h) / row_h;
  layout_ = index_.layout(vp);

  auto lane_y = [&](std::uint32_t lane) { return top.y + index_.row_of(lane) * row_h; };
  const ImVec2 mouse = ImGui::GetMousePos();
  const bool child_hovered = ImGui::IsWindowHovered();
  const ImVec2 clip_min(plot_x, top.y + scroll);
  const ImVec2 clip_max(plot_x + plot_w, top.y + scroll + view_h);

  // Labels and lane separators.
  for (std::uint32_t lane : layout_.lanes) {
    const session::Lane& l = index_.lanes()[lane];
    const float y = lane_y(lane);
    const float h = static_cast<float>(index_.rows_of(lane)) * row_h;
    cl->AddLine(ImVec2(origin.x, y + h - 1.0f), ImVec2(plot_x + plot_w, y + h - 1.0f), grid);
    std::string label = l.label;
    if (!l.is_thread) {
      if (l.client_sim) label += " clients";
      else if (const auto* p = ctx.model.find_process(l.pid)) label += " " + std::string(session::role_name(p->role));
    }
    cl->AddText(ImVec2(origin.x + (l.is_thread ? fs : 0.0f) + 4.0f, y + (row_h - fs) * 0.5f),
                l.is_thread ? dim : text, label.c_str());
  }

  // Spans, then markers on top, then arrows.
  cl->PushClipRect(clip_min, clip_max, true);
  const session::DrawSpan* hovered_span = nullptr;
  for (const auto& d : layout_.spans) {
    const float y = lane_y(d.lane) + static_cast<float>(d.row) * row_h;
    const float pad = d.row == 0 ? 2.0f : 4.0f;
    float x0 = plot_x + d.x0, x1 = plot_x + d.x1;
    if (x1 - x0 < vp.min_px) x1 = x0 + vp.min_px;
    const ImU32 c = span_colour(d.kind);
    const ImVec2 a(x0, y + pad), b(x1, y + row_h - pad);
    cl->AddRectFilled(a, b, c, d.folded > 1 ? 0.0f : 3.0f);
    if (d.folded > 1) cl->AddRect(a, b, IM_COL32(255, 255, 255, 140));  // folded: outlined
    if (x1 - x0 > fs * 3.0f) {
      const std::string label = span_label(d, index_.lanes()[d.lane].client_sim);
      const float tw = ImGui::CalcTextSize(label.c_str()).x;
      if (tw + 8.0f < x1 - x0) {
        const float tx = std::max(x0, plot_x) + 4.0f;
        cl->AddText(ImVec2(std::min(tx, x1 - tw - 4.0f), y + (row_h - fs) * 0.5f), text_on(c), label.c_str());
      }
    }
    if (child_hovered && mouse.x >= a.x && mouse.x < b.x && mouse.y >= a.y && mouse.y < b.y) hovered_span = &d;
  }
  const session::DrawMarker* hovered_marker = nullptr;
  for (const auto& m : layout_.markers) {
    const float x = plot_x + m.x;
    const float y = lane_y(m.lane);
    const float w = m.count > 1 ? 3.0f : 2.0f;
    cl->AddRectFilled(ImVec2(x - w * 0.5f, y), ImVec2(x + w * 0.5f, y + row_h * 0.35f), marker_colour(m.kind));
    if (child_hovered && std::abs(mouse.x - x) < 3.0f && mouse.y >= y && mouse.y < y + row_h * 0.45f)
      hovered_marker = &m;
  }
  const ImU32 arrow_c = style::current_theme() == style::Theme::dark ? IM_COL32(255, 220, 80, 230)
                                                                      : IM_COL32(160, 100, 0, 230);
  for (const auto& a : layout_.arrows) {
    const ImVec2 p0(plot_x + a.x0, lane_y(a.from_lane) + row_h * 0.5f);
    const ImVec2 p1(plot_x + a.x1, lane_y(a.to_lane) + row_h * 0.5f);
    cl->AddLine(p0, p1, arrow_c, 2.0f);
    const float dir = p1.y >= p0.y ? -1.0f : 1.0f;
    cl->AddTriangleFilled(p1, ImVec2(p1.x - 5.0f, p1.y + dir * 8.0f), ImVec2(p1.x + 5.0f, p1.y + dir * 8.0f), arrow_c);
  }
  // The selected instant.
  if (instant_ && *instant_ >= vp.t0_ns && *instant_ <= vp.t1_ns) {
    const float x = plot_x + static_cast<float>((static_cast<double>(*instant_) - t0_) / span_ * plot_w);
    cl->AddLine(ImVec2(x, top.y + scroll), ImVec2(x, top.y + scroll + view_h), IM_COL32(255, 60, 200, 255), 2.0f);
  }
  cl->PopClipRect();

  // Input: wheel zooms at the mouse, drag pans, a click picks the instant.
  ImGuiIO& io = ImGui::GetIO();
  const bool over_plot = child_hovered && mouse.x >= plot_x;
  const double mouse_t = t0_ + (static_cast<double>(mouse.x - plot_x) / plot_w) * span_;
  if (over_plot && io.MouseWheel != 0.0f) {
    zoom(std::pow(0.8, static_cast<double>(io.MouseWheel)), mouse_t);
    follow_ = false;
  }
  if (over_plot && ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
    dragging_ = true;
    drag_moved_ = 0.0f;
  }
  if (dragging_) {
    if (ImGui::IsMouseDown(ImGuiMouseButton_Left)) {
      const float dx = io.MouseDelta.x;
      drag_moved_ += std::abs(dx) + std::abs(io.MouseDelta.y);
      if (dx != 0.0f) {
        if (fit_) fit_ = false;
        t0_ -= static_cast<double>(dx) / plot_w * span_;
        follow_ = false;
      }
      if (io.MouseDelta.y != 0.0f) ImGui::SetScrollY(scroll - io.MouseDelta.y);
    } else {
      if (drag_moved_ < 3.0f && mouse.x >= plot_x) {
        playing_ = false;
        instant_ = static_cast<std::uint64_t>(std::clamp(mouse_t, f, static_cast<double>(end)));
        // An instant at or past the newest data is "live".
        if (*instant_ >= s.last_ns()) instant_.reset();
      }
      dragging_ = false;
    }
  }
  if (over_plot && io.MouseWheel == 0.0f && io.MouseWheelH != 0.0f) ImGui::SetScrollY(scroll - io.MouseWheelH * row_h);

  // Tooltips.
  if (!dragging_ && hovered_marker != nullptr) {
    ImGui::BeginTooltip();
    const auto& e = s.events()[hovered_marker->first_event];
    if (hovered_marker->count > 1) ImGui::Text("%u events here (folded); first:", hovered_marker->count);
    ImGui::Text("%s  pid %u tid %u  conn %u", std::string(trace::kind_name(e.kind)).c_str(), e.pid, e.tid, e.conn);
    ImGui::Text("a=%lld b=%lld %s", static_cast<long long>(e.a), static_cast<long long>(e.b),
                std::string(e.text_view()).c_str());
    ImGui::Text("at %s", rel_time(static_cast<double>(e.ts_ns - std::min(e.ts_ns, first)), 1.0).c_str());
    ImGui::EndTooltip();
  } else if (!dragging_ && hovered_span != nullptr) {
    ImGui::BeginTooltip();
    const auto& d = *hovered_span;
    if (d.folded > 1) ImGui::Text("%u spans folded (too narrow at this zoom)", d.folded);
    else ImGui::TextUnformatted(span_label(d, index_.lanes()[d.lane].client_sim).c_str());
    ImGui::Text("%s .. %s  (%s)", rel_time(static_cast<double>(d.begin_ns - std::min(d.begin_ns, first)), 1.0).c_str(),
                rel_time(static_cast<double>(d.end_ns - std::min(d.end_ns, first)), 1.0).c_str(),
                style::format_duration_ns(d.end_ns - d.begin_ns).c_str());
    ImGui::EndTooltip();
  }
  ImGui::EndChild();

  // Keyboard while the timeline has focus: +/- zoom, arrows pan, space
  // plays, ',' '.' step. (+/- without Ctrl: Ctrl+= is the text size.)
  if (ImGui::IsWindowFocused(ImGuiFocusedFlags_RootAndChildWindows) && !io.WantTextInput && !io.KeyCtrl) {
    const double centre = instant_ ? static_cast<double>(*instant_) : t0_ + span_ * 0.5;
    for (ImWchar c : io.InputQueueCharacters) {
      if (c == '+' || c == '=') zoom(0.5, centre);
      if (c == '-' || c == '_') zoom(2.0, centre);
      if (c == ',') step(s, -1);
      if (c == '.') step(s, +1);
    }
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_LeftArrow))) {
      t0_ -= span_ * 0.1;
      fit_ = follow_ = false;
    }
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_RightArrow))) {
      t0_ += span_ * 0.1;
      fit_ = follow_ = false;
    }
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Space), false)) {
      if (playing_) pause();
      else play(s);
    }
  }
}

void TimelineView::draw(FrameContext& ctx) {
  index_.update(ctx.session);
  if (playing_ || dragging_) ctx.wants_redraw = true;
  char title[96];
  std::snprintf(title, sizeof title, "Timeline: %s###timeline",
                style::count_of(index_.lanes().size(), "lane", "lanes").c_str());
  if (ImGui::Begin(title)) {
    controls(ctx);
    canvas(ctx);
  }
  ImGui::End();
}

// ---- 5. File → Open ----------------------------------------------------------------

bool OpenSessionDialog::open(const std::string& path_text, std::optional<session::Session>& opened,
                             std::string& title) {
  std::string path = path_text;
  if (path.rfind("~/", 0) == 0)
    if (const char* home = std::getenv("HOME")) path = std::string(home) + path.substr(1);
  std::string error;
  auto s = session::read_jsonl(path, error);
  if (!s) {
    error_ = error;  // "<path>: line N: <reason>": nothing is opened
    return false;
  }
  error_.clear();
  opened = std::move(s);
  title = path;
  return true;
}

void OpenSessionDialog::draw(std::optional<session::Session>& opened, std::string& title) {
  if (open_requested_) {
    if (path_[0] == '\0') std::snprintf(path_, sizeof path_, "~/sockscope-session.jsonl");
    ImGui::OpenPopup("Open session###open_session");
    open_requested_ = false;
  }
  ImGui::SetNextWindowSize(ImVec2(ImGui::GetFontSize() * 32.0f, 0), ImGuiCond_Appearing);
  if (ImGui::BeginPopupModal("Open session###open_session", nullptr)) {
    ImGui::TextUnformatted("A JSON Lines session (File > Export or `sockscope run --export`):");
    ImGui::SetNextItemWidth(-1.0f);
    const bool enter = ImGui::InputText("##path", path_, sizeof path_, ImGuiInputTextFlags_EnterReturnsTrue);
    if (!error_.empty()) {
      ImGui::PushTextWrapPos(0.0f);
      style::text_colored(style::palette().bad, "%s", error_.c_str());
      ImGui::PopTextWrapPos();
    }
    if (ImGui::Button("Open") || enter) {
      if (open(path_, opened, title)) ImGui::CloseCurrentPopup();
    }
    ImGui::SameLine();
    if (ImGui::Button("Cancel")) {
      error_.clear();
      ImGui::CloseCurrentPopup();
    }
    ImGui::EndPopup();
  }
}

}  // namespace sockscope::app
