#include "views/compare_view.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "clients/scenario.h"
#include "compare/reference.h"
#include "compare/report.h"
#include "compare_run.h"
#include "lab_controller.h"
#include "servers/architecture.h"
#include "views/style.h"

namespace sockscope::app {
namespace {

// The scenarios a comparison can run: every preset but custom.
std::vector<std::string> scenario_names() {
  std::vector<std::string> out;
  for (const auto& p : clients::presets())
    if (p.name != "custom") out.emplace_back(p.name);
  return out;
}

// One colour per server wherever it appears: its place in the architecture
// table, then the reference table.
ImU32 server_colour(const compare::Row& r) {
  std::size_t i = 0;
  for (const auto& a : servers::architectures()) {
    if (!r.reference && a.name == r.server) return style::series_colour(i);
    ++i;
  }
  for (const auto& ref : compare::references()) {
    if (r.reference && ref.name == r.server) return style::series_colour(i);
    ++i;
  }
  return style::series_colour(i);
}

std::string value_text(const compare::Column& c, double v) {
  char buf[48];
  const int decimals = std::fabs(v) >= 100 ? 0 : c.decimals;
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

struct Bar {
  std::string label;
  ImU32 colour;
  double value;
};

float line_h() { return ImGui::GetTextLineHeight(); }

// A titled horizontal bar chart in a box `w` wide at the cursor: one bar per
// row, its number at the bar's end. Returns nothing; advances the cursor.
void bar_chart(const compare::Column& c, const std::vector<Bar>& bars, float w) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 at = ImGui::GetCursorScreenPos();
  const float fs = ImGui::GetFontSize();
  const float bar_h = std::round(line_h() * 1.05f);
  const float gap = std::round(fs * 0.25f);
  float label_w = 0.0f;
  for (const auto& b : bars) label_w = std::max(label_w, ImGui::CalcTextSize(b.label.c_str()).x);
  label_w = std::min(label_w, w * 0.42f);
  double top = 0.0;
  for (const auto& b : bars) top = std::max(top, b.value);
  const float title_h = line_h() + gap;
  const float h = title_h + static_cast<float>(bars.size()) * (bar_h + gap);
  ImGui::Dummy(ImVec2(w, h));
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
  std::string title = std::string(c.header) + (c.lower_is_better ? "  (less is better)" : "");
  dl->AddText(at, text, title.c_str());
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", std::string(c.help).c_str());
  const float x0 = at.x + label_w + fs * 0.4f;
  const float bar_w = std::max(fs, at.x + w - x0 - fs * 0.2f);
  float y = at.y + title_h;
  for (const auto& b : bars) {
    // The label, clipped to its column.
    dl->PushClipRect(ImVec2(at.x, y), ImVec2(at.x + label_w, y + bar_h), true);
    dl->AddText(ImVec2(at.x, y + (bar_h - line_h()) * 0.5f), text, b.label.c_str());
    dl->PopClipRect();
    const float len = top > 0 ? static_cast<float>(b.value / top) * bar_w : 0.0f;
    dl->AddRectFilled(ImVec2(x0, y), ImVec2(x0 + std::max(len, 2.0f), y + bar_h), b.colour, fs * 0.15f);
    const std::string num = value_text(c, b.value);
    const float nw = ImGui::CalcTextSize(num.c_str()).x;
    const float ty = y + (bar_h - line_h()) * 0.5f;
    if (len >= nw + fs * 0.6f) dl->AddText(ImVec2(x0 + len - nw - fs * 0.3f, ty), IM_COL32(10, 10, 14, 255), num.c_str());
    else dl->AddText(ImVec2(x0 + len + fs * 0.3f, ty), text, num.c_str());
    y += bar_h + gap;
  }
}

struct Line {
  std::string label;
  ImU32 colour;
  std::vector<std::pair<int, double>> points;  // (clients, value)
};

// Cost against clients: x is the sweep's client counts evenly spaced (they
// grow by factors), y from zero to the largest value; one line per server,
// each point marked and the last labelled with its value.
void line_chart(const compare::Column& c, const std::vector<Line>& lines, const std::vector<int>& xs, float w) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 at = ImGui::GetCursorScreenPos();
  const float fs = ImGui::GetFontSize();
  const float h = std::max(fs * 9.0f, w * 0.45f);
  ImGui::Dummy(ImVec2(w, h));
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", std::string(c.help).c_str());
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
  const ImU32 grid = ImGui::GetColorU32(ImGuiCol_Separator);
  dl->AddText(at, text, (std::string(c.header) + " against clients").c_str());
  // From zero (or the lowest value, when a difference came out negative)
  // to the highest.
  double top = 0.0, low = 0.0;
  for (const auto& l : lines)
    for (const auto& p : l.points) {
      top = std::max(top, p.second);
      low = std::min(low, p.second);
    }
  if (top - low <= 0) top = low + 1;
  std::string top_text = value_text(c, top);
  const float left = at.x + ImGui::CalcTextSize(top_text.c_str()).x + fs * 0.4f;
  const float right = at.x + w - fs * 3.5f;
  const float y_top = at.y + line_h() * 1.6f;
  const float y_bot = at.y + h - line_h() * 1.3f;
  dl->AddLine(ImVec2(left, y_bot), ImVec2(right, y_bot), grid);
  dl->AddLine(ImVec2(left, y_top), ImVec2(left, y_bot), grid);
  auto y_of = [&](double v) { return y_bot - static_cast<float>((v - low) / (top - low)) * (y_bot - y_top); };
  dl->AddText(ImVec2(at.x, y_top - line_h() * 0.5f), text, top_text.c_str());
  dl->AddText(ImVec2(at.x, y_of(0.0) - line_h() * 0.5f), text, "0");
  if (low < 0) {
    dl->AddLine(ImVec2(left, y_of(0.0)), ImVec2(right, y_of(0.0)), grid);
    dl->AddText(ImVec2(at.x, y_bot - line_h() * 0.5f), text, value_text(c, low).c_str());
  }
  auto x_of = [&](int clients) {
    auto it = std::find(xs.begin(), xs.end(), clients);
    const auto i = static_cast<float>(it - xs.begin());
    return xs.size() <= 1 ? (left + right) * 0.5f : left + (right - left) * i / static_cast<float>(xs.size() - 1);
  };
  for (int x : xs) {
    std::string t = std::to_string(x);
    const float tx = x_of(x) - ImGui::CalcTextSize(t.c_str()).x * 0.5f;
    dl->AddText(ImVec2(tx, y_bot + fs * 0.15f), text, t.c_str());
  }
  struct EndLabel {
    float y;
    ImU32 colour;
    std::string text;
  };
  std::vector<EndLabel> ends;
  for (const auto& l : lines) {
    std::vector<ImVec2> pts;
    for (const auto& [x, v] : l.points) pts.emplace_back(x_of(x), y_of(v));
    if (pts.size() > 1) dl->AddPolyline(pts.data(), static_cast<int>(pts.size()), l.colour, 0, fs * 0.14f);
    for (const auto& p : pts) dl->AddCircleFilled(p, fs * 0.22f, l.colour);
    if (!pts.empty()) ends.push_back({pts.back().y - line_h() * 0.5f, l.colour, value_text(c, l.points.back().second)});
  }
  // The last values, one under another where the lines end close together.
  std::sort(ends.begin(), ends.end(), [](const EndLabel& a, const EndLabel& b) { return a.y < b.y; });
  for (std::size_t i = 1; i < ends.size(); ++i) ends[i].y = std::max(ends[i].y, ends[i - 1].y + line_h());
  for (const auto& e : ends) dl->AddText(ImVec2(right + fs * 0.35f, e.y), e.colour, e.text.c_str());
}

}  // namespace

compare::CompareOptions CompareView::options() const {
  compare::CompareOptions o;
  const auto archs = servers::architectures();
  for (std::size_t i = 0; i < archs.size(); ++i)
    if (i < arch_on_.size() && arch_on_[i]) o.archs.emplace_back(archs[i].name);
  const auto refs = compare::references();
  for (std::size_t i = 0; i < refs.size(); ++i)
    if (i < ref_on_.size() && ref_on_[i]) o.references.emplace_back(refs[i].name);
  o.protocol = protocol_ == 0 ? "http" : "ftp";
  o.clients.clear();
  std::string cur;
  for (const char* p = clients_;; ++p) {
    if (*p == ',' || *p == ' ' || *p == '\0') {
      if (!cur.empty()) o.clients.push_back(std::atoi(cur.c_str()));
      cur.clear();
      if (*p == '\0') break;
    } else {
      cur += *p;
    }
  }
  const auto names = scenario_names();
  o.scenario = scenario_ >= 0 && static_cast<std::size_t>(scenario_) < names.size() ? names[scenario_] : "keepalive";
  o.duration_s = duration_s_;
  o.trace = trace_;
  return o;
}

bool CompareView::start(CompareRun& run, const compare::CompareOptions& o, std::string& error) {
  // The form shows what runs, also when a script started it.
  const auto archs = servers::architectures();
  arch_on_.assign(archs.size(), false);
  for (std::size_t i = 0; i < archs.size(); ++i)
    arch_on_[i] = std::find(o.archs.begin(), o.archs.end(), archs[i].name) != o.archs.end();
  const auto refs = compare::references();
  ref_on_.assign(refs.size(), false);
  for (std::size_t i = 0; i < refs.size(); ++i)
    ref_on_[i] = std::find(o.references.begin(), o.references.end(), refs[i].name) != o.references.end();
  protocol_ = o.protocol == "ftp" ? 1 : 0;
  std::string list;
  for (int c : o.clients) list += (list.empty() ? "" : ",") + std::to_string(c);
  std::snprintf(clients_, sizeof clients_, "%s", list.c_str());
  const auto names = scenario_names();
  scenario_ = static_cast<int>(std::find(names.begin(), names.end(), o.scenario) - names.begin());
  duration_s_ = static_cast<float>(o.duration_s);
  trace_ = o.trace;
  if (!run.start(o, error)) {
    form_error_ = error;
    return false;
  }
  form_error_.clear();
  fold_form_ = true;  // the progress and the rows as they come take its place
  return true;
}

std::vector<std::pair<std::size_t, const compare::Result*>> CompareView::shown(const CompareRun& run) const {
  std::vector<std::pair<std::size_t, const compare::Result*>> out;
  const auto& results = run.results();
  for (std::size_t i = 0; i < results.size(); ++i)
    if (i < run_shown_.size() && run_shown_[i]) out.emplace_back(i + 1, &results[i]);
  return out;
}

void CompareView::draw_form(CompareRun& run) {
  const float fs = ImGui::GetFontSize();
  const auto archs = servers::architectures();
  const auto refs = compare::references();
  if (arch_on_.size() != archs.size()) {
    arch_on_.assign(archs.size(), false);
    for (std::size_t i = 0; i < archs.size(); ++i)
      arch_on_[i] = archs[i].name == "fork" || archs[i].name == "thread" || archs[i].name == "evloop";
  }
  if (ref_on_.size() != refs.size()) ref_on_.assign(refs.size(), false);
  const bool busy = run.running();
  ImGui::BeginDisabled(busy);
  ImGui::TextDisabled("OURS");
  for (std::size_t i = 0; i < archs.size(); ++i) {
    const std::string name(archs[i].name);
    if (i > 0) style::same_line_if_fits(ImGui::CalcTextSize(name.c_str()).x + ImGui::GetFrameHeight() * 1.5f);
    bool on = arch_on_[i];
    if (ImGui::Checkbox(name.c_str(), &on)) arch_on_[i] = on;
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", std::string(archs[i].summary).c_str());
  }
  ImGui::TextDisabled("REFERENCE SERVERS (HTTP)");
  for (std::size_t i = 0; i < refs.size(); ++i) {
    const std::string name(refs[i].name);
    const std::string why = compare::unavailable_reason(refs[i]);
    if (i > 0) style::same_line_if_fits(ImGui::CalcTextSize(name.c_str()).x + ImGui::GetFrameHeight() * 1.5f);
    ImGui::BeginDisabled(!why.empty() || protocol_ != 0);
    bool on = ref_on_[i] && why.empty() && protocol_ == 0;
    if (ImGui::Checkbox(name.c_str(), &on)) ref_on_[i] = on;
    ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
      ImGui::SetTooltip("%s", (why.empty() ? std::string(refs[i].summary) : why).c_str());
  }
  ImGui::SetNextItemWidth(fs * 5.0f);
  ImGui::Combo("protocol", &protocol_, "http\0ftp\0");
  style::same_line_if_fits(fs * 12.0f);
  ImGui::SetNextItemWidth(fs * 7.0f);
  ImGui::InputText("clients", clients_, sizeof clients_);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Connections per run; a list sweeps: 10,100,1000");
  const auto names = scenario_names();
  if (scenario_ < 0) scenario_ = static_cast<int>(std::find(names.begin(), names.end(), "keepalive") - names.begin());
  style::same_line_if_fits(fs * 13.0f);
  ImGui::SetNextItemWidth(fs * 8.0f);
  if (ImGui::BeginCombo("scenario", names[static_cast<std::size_t>(scenario_)].c_str())) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (ImGui::Selectable(names[i].c_str(), static_cast<int>(i) == scenario_)) scenario_ = static_cast<int>(i);
      if (ImGui::IsItemHovered())
        for (const auto& p : clients::presets())
          if (p.name == names[i]) ImGui::SetTooltip("%s", std::string(p.help).c_str());
    }
    ImGui::EndCombo();
  }
  style::same_line_if_fits(fs * 12.0f);
  ImGui::SetNextItemWidth(fs * 7.0f);
  ImGui::SliderFloat("seconds", &duration_s_, 0.5f, 30.0f, "%.1f");
  style::same_line_if_fits(fs * 6.0f);
  ImGui::Checkbox("trace", &trace_);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Off: our servers run with --no-trace (what tracing costs)");
  ImGui::EndDisabled();
  if (!busy) {
    if (ImGui::Button("Run")) {
      std::string error;
      start(run, options(), error);
    }
  } else if (ImGui::Button("Cancel")) {
    run.cancel();
  }
  if (!form_error_.empty()) {
    ImGui::PushTextWrapPos(0.0f);
    style::text_colored(style::palette().bad, "%s", form_error_.c_str());
    ImGui::PopTextWrapPos();
  }
}

void CompareView::draw_progress(CompareRun& run, FrameContext& ctx) {
  CompareRun::Status st = run.status();
  if (!st.running) return;
  ctx.wants_redraw = true;
  const auto& p = st.progress;
  const double whole = p.total ? (static_cast<double>(p.index) + p.fraction) / static_cast<double>(p.total) : 0.0;
  char label[160];
  std::snprintf(label, sizeof label, "%s, %s: %s (%zu of %zu)", p.server.c_str(),
                style::count_of(static_cast<std::uint64_t>(p.clients), "client", "clients").c_str(), p.phase.c_str(),
                std::min(p.index + 1, p.total), p.total);
  ImGui::ProgressBar(static_cast<float>(whole), ImVec2(-1.0f, 0.0f), label);
  for (const auto& r : st.rows) {
    const std::string done = compare::row_label(r) + ", " +
                             style::count_of(static_cast<std::uint64_t>(r.clients), "client", "clients") + ": " +
                             (r.status == "ok" ? compare::cell_text(compare::columns()[0], r) + " req/s" : r.status);
    ImGui::BulletText("%s", done.c_str());
  }
}

void CompareView::draw_results(CompareRun& run) {
  const auto& results = run.results();
  if (results.size() != run_shown_.size()) {
    // A new run is shown by itself; the older ones stay a tick away.
    run_shown_.resize(results.size(), false);
    if (results.size() > results_seen_)
      for (std::size_t i = 0; i < run_shown_.size(); ++i) run_shown_[i] = i + 1 == run_shown_.size();
    results_seen_ = results.size();
  }
  if (results.empty()) {
    ImGui::TextDisabled("No results yet: choose servers and press Run.");
    return;
  }
  ImGui::TextDisabled("RUNS");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    std::string clients;
    for (int c : r.options.clients) clients += (clients.empty() ? "" : ",") + std::to_string(c);
    char label[160];
    std::snprintf(label, sizeof label, "#%zu %s %s, %s clients%s", i + 1, r.options.scenario.c_str(),
                  r.options.protocol.c_str(), clients.c_str(), r.complete ? "" : " (incomplete)");
    if (i > 0) style::same_line_if_fits(ImGui::CalcTextSize(label).x + ImGui::GetFrameHeight() * 1.5f);
    bool on = run_shown_[i];
    if (ImGui::Checkbox(label, &on)) run_shown_[i] = on;
  }
  const auto picked = shown(run);
  if (picked.empty()) return;
  const bool many = picked.size() > 1;
  auto label_of = [&](std::size_t run_no, const compare::Row& r) {
    return (many ? "#" + std::to_string(run_no) + " " : std::string()) + r.server +
           (r.reference ? " (ref)" : r.trace ? "" : " untraced") + (r.status == "ok" ? "" : " *");
  };
  for (const auto& [no, res] : picked)
    for (const auto& row : res->rows)
      if (row.status != "ok") {
        ImGui::PushTextWrapPos(0.0f);
        style::text_colored(style::palette().warn, "* #%zu %s, %d clients: %s", no, row.server.c_str(), row.clients,
                            row.status.c_str());
        ImGui::PopTextWrapPos();
      }

  if (ImGui::BeginTabBar("##compare_tabs")) {
    if (ImGui::BeginTabItem("Charts", nullptr, png_pending_ ? ImGuiTabItemFlags_SetSelected : 0)) {
      ImGui::BeginChild("##charts", ImVec2(0, 0), false);
      const ImVec2 origin = ImGui::GetCursorScreenPos();
      const float fs = ImGui::GetFontSize();
      const float avail = ImGui::GetContentRegionAvail().x;
      const int per_row = std::max(1, std::min(3, static_cast<int>(avail / (fs * 17.0f))));
      const float w = (avail - ImGui::GetStyle().ItemSpacing.x * static_cast<float>(per_row - 1)) / per_row;
      // A sweep draws each cost against clients; otherwise bars.
      std::vector<int> xs;
      for (const auto& [no, res] : picked)
        for (int c : res->options.clients)
          if (std::find(xs.begin(), xs.end(), c) == xs.end()) xs.push_back(c);
      std::sort(xs.begin(), xs.end());
      const bool sweep = xs.size() > 1;
      // What was measured, so the picture (and its PNG) says it.
      ImGui::PushTextWrapPos(0.0f);
      for (const auto& [no, res] : picked)
        ImGui::TextDisabled("%s%s", many ? ("#" + std::to_string(no) + ": ").c_str() : "", compare::describe(*res).c_str());
      ImGui::PopTextWrapPos();
      int n = 0;
      for (const auto& col : compare::columns()) {
        if (!col.chart) continue;
        if (n % per_row != 0) ImGui::SameLine();
        ImGui::BeginGroup();
        if (sweep) {
          std::map<std::string, Line> lines;
          std::vector<std::string> order;
          for (const auto& [no, res] : picked)
            for (const auto& row : res->rows) {
              auto v = col.value(row);
              if (!v) continue;
              const std::string key = label_of(no, row);
              if (!lines.count(key)) {
                order.push_back(key);
                lines[key] = Line{key, server_colour(row), {}};
              }
              lines[key].points.emplace_back(row.clients, *v);
            }
          std::vector<Line> ordered;
          for (const auto& k : order) ordered.push_back(lines[k]);
          line_chart(col, ordered, xs, w);
        } else {
          std::vector<Bar> bars;
          for (const auto& [no, res] : picked)
            for (const auto& row : res->rows)
              if (auto v = col.value(row)) bars.push_back(Bar{label_of(no, row), server_colour(row), *v});
          bar_chart(col, bars, w);
        }
        ImGui::EndGroup();
        ++n;
      }
      if (sweep) {
        // The legend: which colour is which server.
        std::vector<std::pair<std::string, ImU32>> seen;
        for (const auto& [no, res] : picked)
          for (const auto& row : res->rows) {
            std::string key = label_of(no, row);
            if (std::none_of(seen.begin(), seen.end(), [&](const auto& s) { return s.first == key; }))
              seen.emplace_back(key, server_colour(row));
          }
        for (std::size_t i = 0; i < seen.size(); ++i) {
          if (i > 0) style::same_line_if_fits(seen[i].first);
          ImGui::TextColored(ImColor(seen[i].second), "%s", seen[i].first.c_str());
        }
      }
      // What is on screen of the charts (the PNG's crop): the child window
      // clips whatever scrolled out of it.
      const ImVec2 end = ImGui::GetCursorScreenPos();
      const ImVec2 wp = ImGui::GetWindowPos(), ws = ImGui::GetWindowSize();
      const float x0 = std::max(origin.x, wp.x), y0 = std::max(origin.y, wp.y);
      const float x1 = std::min(origin.x + avail, wp.x + ws.x), y1 = std::min(end.y, wp.y + ws.y);
      charts_rect_ = Rect{x0, y0, std::max(0.0f, x1 - x0), std::max(0.0f, y1 - y0)};
      ImGui::EndChild();
      ImGui::EndTabItem();
    }
    if (ImGui::BeginTabItem("Table")) {
      const auto cols = compare::columns();
      const ImGuiTableFlags flags = ImGuiTableFlags_Borders | ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollX |
                                    ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingFixedFit;
      if (ImGui::BeginTable("##compare_table", static_cast<int>(cols.size()) + 2, flags)) {
        ImGui::TableSetupScrollFreeze(1, 1);
        ImGui::TableSetupColumn("server");
        ImGui::TableSetupColumn("clients");
        for (const auto& c : cols) ImGui::TableSetupColumn(std::string(c.header).c_str());
        ImGui::TableHeadersRow();
        for (const auto& [no, res] : picked)
          for (const auto& row : res->rows) {
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            ImGui::TextColored(ImColor(server_colour(row)), "%s", label_of(no, row).c_str());
            if (ImGui::IsItemHovered() && row.status != "ok") ImGui::SetTooltip("%s", row.status.c_str());
            ImGui::TableNextColumn();
            ImGui::Text("%d", row.clients);
            for (const auto& c : cols) {
              ImGui::TableNextColumn();
              const std::string t = compare::cell_text(c, row);
              ImGui::TextUnformatted(t.empty() ? "-" : t.c_str());
              if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", std::string(c.help).c_str());
            }
          }
        ImGui::EndTable();
      }
      ImGui::EndTabItem();
    }
    ImGui::EndTabBar();
  }
}

void CompareView::draw_export(const CompareRun& run) {
  if (run.results().empty()) return;
  const float fs = ImGui::GetFontSize();
  ImGui::SetNextItemWidth(std::max(fs * 8.0f, ImGui::GetContentRegionAvail().x - fs * 6.0f));
  ImGui::InputText("##compare_export", export_path_, sizeof export_path_);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("The file: .md, .csv, .json, or .png (the charts)");
  ImGui::SameLine();
  if (ImGui::Button("Export")) {
    std::string error;
    if (!request_export(run, export_path_, error)) export_message_ = error;
  }
  if (!export_message_.empty()) ImGui::TextDisabled("%s", export_message_.c_str());
}

bool CompareView::request_export(const CompareRun& run, const std::string& path, std::string& error) {
  const auto picked = shown(run);
  if (picked.empty()) {
    error = "nothing to export: run a comparison, or tick a run";
    return false;
  }
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".png") {
    png_pending_ = path;
    png_delay_ = 2;  // the charts tab must be on screen first
    return true;
  }
  // The shown runs as one result, so two runs side by side export together.
  compare::Result merged = *picked.back().second;
  if (picked.size() > 1) {
    merged.rows.clear();
    for (const auto& [no, res] : picked) merged.rows.insert(merged.rows.end(), res->rows.begin(), res->rows.end());
  }
  if (!compare::write_by_extension(merged, {}, path, error)) {
    export_message_ = error;
    return false;
  }
  export_message_ = "exported " + path;
  ++exports_done_;
  return true;
}

std::optional<CompareView::PngRequest> CompareView::due_png() {
  if (!png_pending_ || !charts_rect_) return std::nullopt;
  if (png_delay_ > 0) {
    --png_delay_;
    return std::nullopt;
  }
  PngRequest r{*png_pending_, *charts_rect_};
  png_pending_.reset();
  return r;
}

void CompareView::png_written(bool ok, const std::string& message) {
  export_message_ = ok ? "exported " + message : message;
  ++exports_done_;
}

void CompareView::update(CompareRun& run) {
  if (run.poll()) {
    form_error_ = run.last_error();
    fold_form_ = true;
  }
}

void CompareView::draw(FrameContext& ctx, CompareRun* run) {
  std::string title = "Compare###compare";
  if (run && run->running()) {
    const auto st = run->status();
    title = "Compare: measuring " + st.progress.server + "###compare";
  }
  if (!ImGui::Begin(title.c_str())) {
    ImGui::End();
    return;
  }
  if (run == nullptr) {
    ImGui::TextDisabled("Compare runs real servers: it needs the live lab, not a recording.");
    ImGui::End();
    return;
  }
  // The form gives the results its room once there are any; a click on
  // its header brings it back.
  const bool have_results = !run->results().empty();
  if (fold_form_) ImGui::SetNextItemOpen(false);
  else ImGui::SetNextItemOpen(!have_results && !run->running(), ImGuiCond_Appearing);
  fold_form_ = false;
  if (ImGui::CollapsingHeader("Run a comparison")) draw_form(*run);
  draw_progress(*run, ctx);
  draw_export(*run);
  draw_results(*run);
  ImGui::End();
}

}  // namespace sockscope::app
