#include "views/controls_view.h"

#include <imgui.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "lab_controller.h"
#include "servers/server.h"
#include "views/style.h"

namespace sockscope::app {
namespace {

constexpr const char* kPresetHelp[] = {
    "steady: clients arrive one after another at an even pace",
    "burst: all clients connect at once",
    "slow: clients that think between commands and hold their connection",
    "heavy: clients that ask the server to burn CPU (SITE WORK)",
};

void draw_recorded(const FrameContext& ctx) {
  const auto& meta = ctx.session.meta();
  ImGui::TextDisabled("A recorded session (no live lab).");
  ImGui::Text("architecture: %s", meta.architecture.empty() ? "-" : meta.architecture.c_str());
  ImGui::Text("protocol: %s   port: %u", meta.protocol.empty() ? "-" : meta.protocol.c_str(), meta.port);
  for (const auto& [k, v] : meta.options) ImGui::BulletText("%s = %s", k.c_str(), v.c_str());
}

void draw_server(LabController& lab) {
  auto& spec = lab.spec();
  const bool running = lab.running();
  ImGui::BeginDisabled(running);
  const float field = ImGui::GetFontSize() * 8.0f;
  ImGui::SetNextItemWidth(field);
  if (ImGui::BeginCombo("architecture", spec.arch.c_str())) {
    for (const auto& a : servers::architectures()) {
      std::string name(a.name);
      if (ImGui::Selectable(name.c_str(), spec.arch == name)) spec.arch = name;
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", std::string(a.summary).c_str());
    }
    ImGui::EndCombo();
  }
  if (const auto* a = servers::find_architecture(spec.arch)) {
    ImGui::TextDisabled("%s", std::string(a->summary).c_str());
  }
  ImGui::SetNextItemWidth(field);
  if (ImGui::BeginCombo("protocol", spec.protocol.c_str())) {
    for (const char* p : {"ftp", "http"}) {
      if (ImGui::Selectable(p, spec.protocol == p)) spec.protocol = p;
    }
    ImGui::EndCombo();
  }
  int port = spec.port;
  ImGui::SetNextItemWidth(field);
  if (ImGui::InputInt("port", &port, 0)) spec.port = static_cast<std::uint16_t>(std::clamp(port, 0, 65535));
  if (spec.arch == "fork") {
    ImGui::Checkbox("reap children", &spec.reap);
    ImGui::SameLine();
    style::help_marker("Off starts the server with --no-reap: children that exit stay as zombies, "
                       "because nobody calls waitpid() for them.");
    ImGui::SetNextItemWidth(field);
    ImGui::InputInt("max children", &spec.max_children);
    spec.max_children = std::clamp(spec.max_children, 1, 4096);
  }
  ImGui::EndDisabled();

  const ImVec2 big(ImGui::GetFontSize() * 7.0f, ImGui::GetFontSize() * 2.0f);
  if (!running) {
    if (ImGui::Button("Start", big)) lab.start();
  } else {
    if (ImGui::Button("Stop", big)) lab.stop();
  }
  ImGui::SameLine();
  if (running) {
    style::text_colored(style::palette().ok, "running\npid %d", lab.server_pid());
  } else {
    ImGui::TextDisabled("stopped");
  }
  if (!lab.last_error().empty()) {
    ImGui::PushTextWrapPos(0.0f);
    style::text_colored(style::palette().bad, "%s", lab.last_error().c_str());
    ImGui::PopTextWrapPos();
    if (ImGui::SmallButton("Dismiss")) lab.clear_error();
  }
}

void draw_clients(ControlsView& view, LabController& lab) {
  const bool running = lab.running();
  ImGui::BeginDisabled(!running);
  if (ImGui::Button("Add 1")) lab.add_clients({1, "steady", view.hold_ms > 0 ? view.hold_ms : -1});
  ImGui::SameLine();
  char label[32];
  std::snprintf(label, sizeof label, "Add %d", view.clients_n);
  if (ImGui::Button(label)) lab.add_clients({view.clients_n, "steady", view.hold_ms > 0 ? view.hold_ms : -1});
  ImGui::SameLine();
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 6.0f);
  ImGui::InputInt("N", &view.clients_n);
  view.clients_n = std::clamp(view.clients_n, 1, 500);
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 6.0f);
  ImGui::InputInt("hold ms", &view.hold_ms, 500);
  view.hold_ms = std::clamp(view.hold_ms, 0, 600000);
  ImGui::SameLine();
  style::help_marker("Each client keeps its connection open this long after its commands, so "
                     "the children serving them stay visible. 0 = the preset's own timing.");
  int i = 0;
  for (std::string_view preset : kClientPresets) {
    std::string name(preset);
    if (i > 0) ImGui::SameLine();
    if (ImGui::Button(name.c_str())) lab.add_clients({view.clients_n, name, view.hold_ms > 0 ? view.hold_ms : -1});
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", kPresetHelp[i]);
    ++i;
  }
  ImGui::EndDisabled();
  int sims = lab.running_clients();
  if (sims > 0) ImGui::TextDisabled("%d simulator process%s running", sims, sims == 1 ? "" : "es");
}

void draw_by_hand(LabController& lab) {
  const unsigned port = lab.port();
  const std::string p = std::to_string(port);
  if (lab.spec().protocol == "http") {
    style::copyable_command("curl", "curl http://127.0.0.1:" + p + "/");
    style::copyable_command("work", "curl 'http://127.0.0.1:" + p + "/work?ms=500'");
  } else {
    style::copyable_command("curl", "curl ftp://127.0.0.1:" + p + "/");
    style::copyable_command("lftp", "lftp -p " + p + " 127.0.0.1");
  }
  style::copyable_command("nc", "nc 127.0.0.1 " + p);
}

void draw_counts(const FrameContext& ctx) {
  const auto& c = ctx.model.counts;
  if (ImGui::BeginTable("##counts", 2, ImGuiTableFlags_SizingStretchSame)) {
    auto row = [](const char* name, unsigned long long v, const ImVec4* colour = nullptr) {
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(name);
      ImGui::TableNextColumn();
      if (colour != nullptr) {
        style::text_colored(*colour, "%llu", v);
      } else {
        ImGui::Text("%llu", v);
      }
    };
    const auto& pal = style::palette();
    row("connections", c.connections_accepted);
    row("open now", c.connections_open);
    row("forked", c.children_forked);
    row("exited", c.exited);
    row("reaped", c.reaped);
    row("zombies now", c.zombies_now, c.zombies_now > 0 ? &pal.bad : nullptr);
    row("refused", c.refused, c.refused > 0 ? &pal.warn : nullptr);
    row("errors", c.errors, c.errors > 0 ? &pal.bad : nullptr);
    ImGui::EndTable();
  }
  if (ctx.model.latency.count > 0) {
    ImGui::Text("reply latency p50 %.1f ms, p99 %.1f ms", ctx.model.latency.p50_ms(), ctx.model.latency.p99_ms());
  }
}

}  // namespace

void ControlsView::draw(FrameContext& ctx) {
  if (ImGui::Begin("Controls###controls")) {
    if (ctx.lab == nullptr) {
      draw_recorded(ctx);
    } else {
      ImGui::TextDisabled("SERVER");
      draw_server(*ctx.lab);
      ImGui::Separator();
      ImGui::TextDisabled("CLIENTS");
      draw_clients(*this, *ctx.lab);
      ImGui::Separator();
      ImGui::TextDisabled("CONNECT BY HAND");
      draw_by_hand(*ctx.lab);
    }
    ImGui::Separator();
    ImGui::TextDisabled("SO FAR");
    draw_counts(ctx);
  }
  ImGui::End();
}

}  // namespace sockscope::app
