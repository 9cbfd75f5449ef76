#include "views/totals_view.h"

#include <imgui.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string>

#include "views/style.h"

namespace sockscope::app {
namespace {

struct Series {
  const char* name;
  const char* help;
  ImU32 colour;
  double (*value)(const session::TotalsPoint&);
  std::string (*text)(double);
};

std::string count_text(double v) { return std::to_string(static_cast<long long>(v)); }
std::string kb_text(double v) { return style::format_kb(static_cast<std::uint64_t>(v)); }

const std::array<Series, 4>& series() {
  static const std::array<Series, 4> s = {{
      {"processes", "Processes in the server's tree at each /proc sample, zombies included.", IM_COL32(90, 160, 235, 255),
       [](const session::TotalsPoint& p) { return static_cast<double>(p.processes); }, count_text},
      {"threads", "Threads of all those processes (/proc/PID/task).", IM_COL32(235, 170, 60, 255),
       [](const session::TotalsPoint& p) { return static_cast<double>(p.threads); }, count_text},
      {"connections", "TCP connections on the server's port that its processes hold open (/proc/net/tcp); a socket "
                      "shared by a parent and a child counts once.", IM_COL32(110, 200, 120, 255),
       [](const session::TotalsPoint& p) { return static_cast<double>(p.connections); }, count_text},
      {"PSS", "Memory: the sum of every process's proportional set size (smaps_rollup). Pages shared copy-on-write "
              "after fork are split between the processes sharing them, so the sum is the tree's real footprint.",
       IM_COL32(210, 110, 200, 255), [](const session::TotalsPoint& p) { return static_cast<double>(p.pss_kb); },
       kb_text},
  }};
  return s;
}

}  // namespace

void TotalsView::draw(FrameContext& ctx) {
  series_.update(ctx.session);
  const session::TotalsPoint* now = series_.at(ctx.now_ns);
  char title[160];
  if (now != nullptr) {
    std::snprintf(title, sizeof title, "Totals: %s, %s, %s, %s PSS###totals",
                  style::count_of(now->processes, "process", "processes").c_str(),
                  style::count_of(now->threads, "thread", "threads").c_str(),
                  style::count_of(now->connections, "connection", "connections").c_str(),
                  style::format_kb(now->pss_kb).c_str());
  } else {
    std::snprintf(title, sizeof title, "Totals over time###totals");
  }
  if (!ImGui::Begin(title)) {
    ImGui::End();
    return;
  }
  const auto& points = series_.points();
  if (points.empty() || now == nullptr) {
    ImGui::TextWrapped("No /proc sample of a server yet. Start one: each sample adds a point.");
    ImGui::End();
    return;
  }
  const float fs = ImGui::GetFontSize();
  const session::TotalsPoint peak = series_.peak(ctx.now_ns);
  const std::uint64_t t0 = points.front().ts_ns;
  const std::uint64_t t1 = std::max(now->ts_ns, t0 + 1);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImU32 axis = ImGui::GetColorU32(ImGuiCol_Border);

  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float row_h = fs * 1.6f;
  // Room for a row each: label, value and peak on the left, the line on the
  // right. Less room: one chart, each series scaled to its own peak.
  const bool stacked = avail.y >= row_h * 4.0f;
  const float label_w = std::min(fs * 11.0f, avail.x * 0.45f);
  auto plot = [&](const Series& s, ImVec2 a, ImVec2 b) {
    const double top = std::max(1.0, s.value(peak));
    ImVec2 prev{};
    bool first = true;
    // One vertex per pixel column at most: a long run has many samples.
    const float w = b.x - a.x;
    std::size_t step = std::max<std::size_t>(1, points.size() / std::max<std::size_t>(1, static_cast<std::size_t>(w)));
    for (std::size_t i = 0; i < points.size(); i += step) {
      const auto& p = points[i];
      if (p.ts_ns > now->ts_ns) break;
      const float x = a.x + w * static_cast<float>(static_cast<double>(p.ts_ns - t0) / static_cast<double>(t1 - t0));
      const float y = b.y - (b.y - a.y) * static_cast<float>(s.value(p) / top);
      if (!first) dl->AddLine(prev, ImVec2(x, y), s.colour, std::max(1.5f, fs * 0.1f));
      prev = ImVec2(x, y);
      first = false;
    }
    const float y = b.y - (b.y - a.y) * static_cast<float>(s.value(*now) / top);
    if (!first) dl->AddLine(prev, ImVec2(b.x, y), s.colour, std::max(1.5f, fs * 0.1f));
  };

  if (stacked) {
    const float h = std::floor(avail.y / 4.0f);
    for (const Series& s : series()) {
      const ImVec2 a = ImGui::GetCursorScreenPos();
      ImGui::PushStyleColor(ImGuiCol_Text, s.colour);
      ImGui::TextUnformatted(s.name);
      ImGui::PopStyleColor();
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", s.help);
      ImGui::SameLine();
      ImGui::Text("%s", s.text(s.value(*now)).c_str());
      if (h >= row_h * 1.7f) ImGui::TextDisabled("peak %s", s.text(s.value(peak)).c_str());
      const ImVec2 ca(a.x + label_w, a.y + fs * 0.2f), cb(a.x + avail.x, a.y + h - fs * 0.3f);
      dl->AddLine(ImVec2(ca.x, cb.y), cb, axis);
      plot(s, ca, cb);
      ImGui::SetCursorScreenPos(ImVec2(a.x, a.y + h));
    }
    ImGui::Dummy(ImVec2(0, 0));
  } else {
    for (const Series& s : series()) {
      ImGui::PushStyleColor(ImGuiCol_Text, s.colour);
      ImGui::Text("%s %s", s.name, s.text(s.value(*now)).c_str());
      ImGui::PopStyleColor();
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", s.help);
      ImGui::SameLine();
    }
    ImGui::NewLine();
    const ImVec2 a = ImGui::GetCursorScreenPos();
    const ImVec2 rest = ImGui::GetContentRegionAvail();
    const ImVec2 b(a.x + rest.x, a.y + std::max(rest.y, fs));
    dl->AddLine(ImVec2(a.x, b.y), b, axis);
    for (const Series& s : series()) plot(s, a, b);
    ImGui::Dummy(ImVec2(rest.x, std::max(rest.y, fs)));
  }
  ImGui::End();
}

}  // namespace sockscope::app
