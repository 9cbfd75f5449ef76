#include "views/connections_view.h"

#include <imgui.h>

#include <cstdio>

#include "views/style.h"

namespace sockscope::app {

using session::ConnState;

void ConnectionsView::draw(FrameContext& ctx) {
  const auto& model = ctx.model;
  char title[96];
  std::snprintf(title, sizeof title, "Connections: %llu open, %zu total###connections",
                static_cast<unsigned long long>(model.counts.connections_open), model.connections.size());
  if (ImGui::Begin(title)) {
    ImGui::Checkbox("Open only", &open_only);
    ImGui::SameLine();
    ImGui::Checkbox("Follow newest", &follow);

    rows_.clear();
    for (std::size_t i = 0; i < model.connections.size(); ++i) {
      if (open_only && model.connections[i].state != ConnState::open) continue;
      rows_.push_back(static_cast<std::uint32_t>(i));
    }
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_ScrollY |
                                  ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_Resizable;
    if (ImGui::BeginTable("##connections", 9, flags)) {
      ImGui::TableSetupScrollFreeze(0, 1);
      ImGui::TableSetupColumn("conn");
      ImGui::TableSetupColumn("client");
      ImGui::TableSetupColumn("served by");
      ImGui::TableSetupColumn("state");
      ImGui::TableSetupColumn("req");
      ImGui::TableSetupColumn("bytes in");
      ImGui::TableSetupColumn("bytes out");
      ImGui::TableSetupColumn("open for");
      ImGui::TableSetupColumn("latency last / max", ImGuiTableColumnFlags_WidthStretch);
      ImGui::TableHeadersRow();
      ImGuiListClipper clipper;
      clipper.Begin(static_cast<int>(rows_.size()));
      while (clipper.Step()) {
        for (int r = clipper.DisplayStart; r < clipper.DisplayEnd; ++r) {
          const auto& c = model.connections[rows_[static_cast<std::size_t>(r)]];
          ImGui::PushID(static_cast<int>(c.id));
          ImGui::TableNextRow();
          ImGui::TableNextColumn();
          ImGui::Text("#%u", c.id);
          ImGui::TableNextColumn();
          const session::ClientView* client = c.client_id != 0 ? model.find_client(c.client_id) : nullptr;
          if (c.client_id != 0) {
            ImGui::Text("client %u :%u", c.client_id, c.peer_port);
          } else {
            style::text_colored(style::palette().warn, "external :%u", c.peer_port);
          }
          ImGui::TableNextColumn();
          if (c.serving_pid != 0 && c.serving_pid != c.listener_pid) {
            ImGui::Text("child %d", c.serving_pid);
          } else {
            ImGui::Text("pid %d", c.serving_pid != 0 ? c.serving_pid : c.listener_pid);
          }
          ImGui::TableNextColumn();
          ImVec4 sc = c.state == ConnState::open     ? style::palette().ok
                      : c.state == ConnState::refused ? style::palette().bad
                                                      : style::palette().dim;
          style::text_colored(sc, "%s", std::string(session::conn_state_name(c.state)).c_str());
          ImGui::TableNextColumn();
          ImGui::Text("%u", c.requests);
          ImGui::TableNextColumn();
          ImGui::Text("%llu", static_cast<unsigned long long>(c.bytes_in));
          ImGui::TableNextColumn();
          ImGui::Text("%llu", static_cast<unsigned long long>(c.bytes_out));
          ImGui::TableNextColumn();
          std::uint64_t end = c.close_ns != 0 ? c.close_ns : ctx.now_ns;
          ImGui::TextUnformatted(end >= c.accept_ns ? style::format_duration_ns(end - c.accept_ns).c_str() : "");
          ImGui::TableNextColumn();
          if (client != nullptr && client->replies > 0) {
            ImGui::Text("%s / %s", style::format_duration_ns(client->last_latency_ns).c_str(),
                        style::format_duration_ns(client->max_latency_ns).c_str());
          } else {
            ImGui::TextDisabled("-");
          }
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
