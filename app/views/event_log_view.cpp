#include "views/event_log_view.h"

#include <imgui.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "views/style.h"

namespace sockscope::app {

bool EventFilter::active() const {
  return pid != 0 || conn != 0 || std::any_of(kinds.begin(), kinds.end(), [](bool k) { return k; });
}

bool EventFilter::pass(const trace::Event& e) const {
  if (pid != 0 && static_cast<int>(e.pid) != pid) return false;
  if (conn != 0 && static_cast<int>(e.conn) != conn) return false;
  bool any_kind = std::any_of(kinds.begin(), kinds.end(), [](bool k) { return k; });
  if (!any_kind) return true;
  auto k = static_cast<std::size_t>(e.kind);
  return k < kinds.size() && kinds[k];
}

void EventLogView::refresh_index(const session::Session& s) {
  if (!filter.active()) {
    index_.clear();
    return;
  }
  if (s.generation() == indexed_generation_ && filter == indexed_filter_) return;
  const auto& events = s.events();
  // Late events are inserted in time order, not appended, so an index over a
  // grown store is only reusable when nothing moved: rebuild otherwise.
  index_.clear();
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (filter.pass(events[i])) index_.push_back(static_cast<std::uint32_t>(i));
  }
  indexed_generation_ = s.generation();
  indexed_size_ = events.size();
  indexed_filter_ = filter;
}

void EventLogView::draw(FrameContext& ctx) {
  const auto& events = ctx.session.events();
  refresh_index(ctx.session);
  const bool filtered = filter.active();
  const std::size_t rows = filtered ? index_.size() : events.size();
  rows_shown_ = rows;

  char title[96];
  std::snprintf(title, sizeof title, "Event log: %zu of %zu###event_log", rows, events.size());
  if (ImGui::Begin(title)) {
    // Kind filter: a combo holding one checkbox per kind.
    int chosen = static_cast<int>(std::count(filter.kinds.begin(), filter.kinds.end(), true));
    std::string preview = chosen == 0 ? "all kinds" : std::to_string(chosen) + " kinds";
    // Labels before their fields: a row of "field label field label" reads wrong.
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted("kind");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 9.0f);
    if (ImGui::BeginCombo("##kind", preview.c_str())) {
      if (ImGui::Selectable("all kinds")) filter.kinds.fill(false);
      for (std::size_t k = 0; k < filter.kinds.size(); ++k) {
        std::string name(trace::kind_name(static_cast<trace::Kind>(k)));
        ImGui::Checkbox(name.c_str(), &filter.kinds[k]);
      }
      ImGui::EndCombo();
    }
    ImGui::SameLine();
    ImGui::TextUnformatted("pid");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 5.0f);
    ImGui::InputInt("##pid", &filter.pid, 0);
    ImGui::SameLine();
    ImGui::TextUnformatted("conn");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 3.5f);
    ImGui::InputInt("##conn", &filter.conn, 0);
    filter.pid = std::max(filter.pid, 0);
    filter.conn = std::max(filter.conn, 0);
    ImGui::SameLine();
    if (ImGui::Button("Clear")) filter = EventFilter{};
    ImGui::SameLine();
    ImGui::Checkbox("Follow", &follow);

    const std::uint64_t t0 = ctx.session.meta().start_ns != 0 ? ctx.session.meta().start_ns : ctx.session.first_ns();
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY |
                                  ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_Resizable;
    style::MonoFont mono;
    if (ImGui::BeginTable("##events", 7, flags)) {
      ImGui::TableSetupScrollFreeze(0, 1);
      ImGui::TableSetupColumn("time s");
      ImGui::TableSetupColumn("pid");
      ImGui::TableSetupColumn("tid");
      ImGui::TableSetupColumn("kind");
      ImGui::TableSetupColumn("conn");
      ImGui::TableSetupColumn("a / b");
      ImGui::TableSetupColumn("text", ImGuiTableColumnFlags_WidthStretch);
      ImGui::TableHeadersRow();
      ImGuiListClipper clipper;
      clipper.Begin(static_cast<int>(rows));
      while (clipper.Step()) {
        for (int r = clipper.DisplayStart; r < clipper.DisplayEnd; ++r) {
          std::size_t i = filtered ? index_[static_cast<std::size_t>(r)] : static_cast<std::size_t>(r);
          const trace::Event& e = events[i];
          ImGui::PushID(static_cast<int>(i));
          ImGui::TableNextRow();
          ImGui::TableNextColumn();
          double t = e.ts_ns >= t0 ? static_cast<double>(e.ts_ns - t0) / 1e9
                                   : -static_cast<double>(t0 - e.ts_ns) / 1e9;
          ImGui::Text("%9.4f", t);
          ImGui::TableNextColumn();
          ImGui::Text("%u", e.pid);
          ImGui::TableNextColumn();
          ImGui::Text("%u", e.tid);
          ImGui::TableNextColumn();
          std::string kind(trace::kind_name(e.kind));
          bool bad = e.kind == trace::Kind::error || e.kind == trace::Kind::client_error ||
                     e.kind == trace::Kind::refuse;
          if (bad) {
            style::text_colored(style::palette().bad, "%s", kind.c_str());
          } else {
            ImGui::TextUnformatted(kind.c_str());
          }
          ImGui::TableNextColumn();
          if (e.conn != 0) ImGui::Text("%u", e.conn);
          ImGui::TableNextColumn();
          ImGui::Text("%lld / %lld", static_cast<long long>(e.a), static_cast<long long>(e.b));
          ImGui::TableNextColumn();
          std::string text(e.text_view());
          ImGui::TextUnformatted(text.c_str());
          ImGui::PopID();
        }
      }
      if (follow && ImGui::GetScrollY() >= ImGui::GetScrollMaxY() - ImGui::GetFontSize() * 3.0f) {
        ImGui::SetScrollHereY(1.0f);
      }
      ImGui::EndTable();
    }
  }
  ImGui::End();
}

}  // namespace sockscope::app
