#include "views/status_bar.h"

#include <imgui.h>

#include "lab_controller.h"
#include "views/style.h"

namespace sockscope::app {

float status_bar_height() { return ImGui::GetFrameHeight() + ImGui::GetStyle().WindowPadding.y * 2.0f; }

void draw_status_bar(FrameContext& ctx) {
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  const float h = status_bar_height();
  ImGui::SetNextWindowPos(ImVec2(vp->Pos.x, vp->Pos.y + vp->Size.y - h));
  ImGui::SetNextWindowSize(ImVec2(vp->Size.x, h));
  const ImGuiWindowFlags flags = ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                                 ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoFocusOnAppearing |
                                 ImGuiWindowFlags_NoNav | ImGuiWindowFlags_NoBringToFrontOnFocus;
  const auto& pal = style::palette();
  const auto& meta = ctx.session.meta();
  if (ImGui::Begin("##status_bar", nullptr, flags)) {
    if (ctx.lab != nullptr) {
      if (ctx.lab->running()) {
        style::text_colored(pal.ok, "%s server on 127.0.0.1:%u, pid %d", ctx.lab->spec().arch.c_str(),
                            ctx.lab->port(), ctx.lab->server_pid());
      } else {
        ImGui::TextDisabled("server stopped (%s, port %u)", ctx.lab->spec().arch.c_str(), ctx.lab->port());
      }
    } else {
      ImGui::Text("recording: %s on port %u", meta.architecture.empty() ? "-" : meta.architecture.c_str(),
                  meta.port);
    }
    ImGui::SameLine(0, ImGui::GetFontSize() * 2.0f);
    ImGui::Text("events %zu", ctx.session.events().size());
    if (ctx.lab != nullptr) {
      ImGui::SameLine(0, ImGui::GetFontSize() * 2.0f);
      ImGui::Text("%.0f events/s", ctx.lab->lab().ingest_rate());
    }
    ImGui::SameLine(0, ImGui::GetFontSize() * 2.0f);
    std::uint64_t drops = ctx.session.drops();
    if (ctx.lab != nullptr) drops = std::max<std::uint64_t>(drops, ctx.lab->lab().ring_drops());
    if (drops > 0) {
      style::text_colored(pal.bad, "ring drops %llu", static_cast<unsigned long long>(drops));
      if (ImGui::IsItemHovered()) {
        ImGui::SetTooltip("The trace ring was full: servers never wait for the UI, so these events were "
                          "counted and dropped. The picture is missing them.");
      }
    } else {
      ImGui::TextDisabled("ring drops 0");
    }
    ImGui::SameLine(0, ImGui::GetFontSize() * 2.0f);
    ImGui::TextDisabled("%.0f fps", ctx.fps);
  }
  ImGui::End();
}

}  // namespace sockscope::app
