#include "views/status_bar.h"

#include <imgui.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "lab_controller.h"
#include "session/totals.h"
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
      // What really runs: the session names it (a comparison's server, a
      // reference nginx), not the controls' form.
      const std::string& arch = meta.architecture.empty() ? ctx.lab->spec().arch : meta.architecture;
      const bool reference = meta.option("reference") == "true";
      if (!ctx.lab->busy().empty() && ctx.lab->lab().server_pid() > 0) {
        style::text_colored(pal.warn, "comparing: %s%s on 127.0.0.1:%u, pid %d", arch.c_str(),
                            reference ? " (reference)" : "", meta.port, ctx.lab->lab().server_pid());
      } else if (ctx.lab->running()) {
        style::text_colored(pal.ok, "%s server on 127.0.0.1:%u, pid %d", arch.c_str(), ctx.lab->port(),
                            ctx.lab->server_pid());
      } else {
        ImGui::TextDisabled("server stopped (%s, port %u)", ctx.lab->spec().arch.c_str(), ctx.lab->port());
      }
    } else {
      ImGui::Text("recording: %s on port %u", meta.architecture.empty() ? "-" : meta.architecture.c_str(),
                  meta.port);
    }
    // The server's tree at its latest /proc sample: what this run costs now.
    const auto& snaps = ctx.session.snapshots();
    // Only while it runs (or in a recording): a stopped server costs nothing.
    const bool live_run = ctx.lab == nullptr || ctx.lab->lab().server_pid() > 0;
    for (auto it = snaps.rbegin(); live_run && it != snaps.rend() && meta.server_pid != 0; ++it) {
      if (it->root != meta.server_pid) continue;
      if (it->ts_ns > ctx.now_ns) continue;  // a past instant shows that instant's totals
      const session::TotalsPoint t = session::totals_of(*it, meta.port);
      if (t.processes == 0) break;
      ImGui::SameLine(0, ImGui::GetFontSize() * 2.0f);
      ImGui::Text("%s, %s, %s PSS", style::count_of(t.processes, "process", "processes").c_str(),
                  style::count_of(t.threads, "thread", "threads").c_str(), style::format_kb(t.pss_kb).c_str());
      if (ImGui::IsItemHovered())
        ImGui::SetTooltip("The server's whole process tree at the latest /proc sample: processes (zombies "
                          "included), their threads, and the sum of their PSS.");
      break;
    }
    // The rest in order of importance; whatever would run off the right
    // edge (large text, a narrow window) is left out, dropped events never.
    const float gap = ImGui::GetFontSize() * 2.0f;
    const float right = ImGui::GetWindowPos().x + ImGui::GetWindowContentRegionMax().x;
    auto fits = [&](const std::string& t) {
      return ImGui::GetItemRectMax().x + gap + ImGui::CalcTextSize(t.c_str()).x <= right;
    };
    std::uint64_t drops = ctx.session.drops();
    if (ctx.lab != nullptr) drops = std::max<std::uint64_t>(drops, ctx.lab->lab().ring_drops());
    if (drops > 0) {
      ImGui::SameLine(0, gap);
      style::text_colored(pal.bad, "ring drops %llu", static_cast<unsigned long long>(drops));
      if (ImGui::IsItemHovered()) {
        ImGui::SetTooltip("The trace ring was full: servers never wait for the UI, so these events were "
                          "counted and dropped. The picture is missing them.");
      }
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "events %zu", ctx.session.events().size());
    if (fits(buf)) {
      ImGui::SameLine(0, gap);
      ImGui::TextUnformatted(buf);
    }
    if (ctx.lab != nullptr) {
      std::snprintf(buf, sizeof buf, "%.0f events/s", ctx.lab->lab().ingest_rate());
      if (fits(buf)) {
        ImGui::SameLine(0, gap);
        ImGui::TextUnformatted(buf);
      }
    }
    if (ctx.lab != nullptr && ctx.lab->lab().server_pid() > 0) {
      std::snprintf(buf, sizeof buf, "/proc every %.0f ms", ctx.lab->lab().sample_interval_ms());
      if (fits(buf)) {
        ImGui::SameLine(0, gap);
        ImGui::TextUnformatted(buf);
        if (ImGui::IsItemHovered())
          ImGui::SetTooltip("How often the process tree, memory, descriptors and sockets are read from /proc. "
                            "A large tree costs more to read, so the interval grows with it: the sampler takes "
                            "at most a tenth of one core.");
      }
    }
    if (drops == 0 && fits("ring drops 0")) {
      ImGui::SameLine(0, gap);
      ImGui::TextDisabled("ring drops 0");
    }
    std::snprintf(buf, sizeof buf, "%.0f fps", ctx.fps);
    if (fits(buf)) {
      ImGui::SameLine(0, gap);
      ImGui::TextDisabled("%s", buf);
    }
  }
  ImGui::End();
}

}  // namespace sockscope::app
