#include "views/controls_view.h"

#include <imgui.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include <sstream>

#include "clients/scenario.h"
#include "lab_controller.h"
#include "servers/architecture.h"
#include "views/style.h"

namespace sockscope::app {
namespace {

void draw_recorded(const FrameContext& ctx) {
  const auto& meta = ctx.session.meta();
  ImGui::TextDisabled("A recorded session (no live lab).");
  ImGui::Text("architecture: %s", meta.architecture.empty() ? "-" : meta.architecture.c_str());
  ImGui::Text("protocol: %s   port: %u", meta.protocol.empty() ? "-" : meta.protocol.c_str(), meta.port);
  for (const auto& [k, v] : meta.options) ImGui::BulletText("%s = %s", k.c_str(), v.c_str());
}

// The width of a field whose label (and "(?)") sits at its right: 8
// characters' worth, less when the column is narrow (large text, a
// projector), so the longest label of the settings table still fits beside it.
float field_width() {
  static std::string longest = [] {
    std::string l = "architecture";
    for (const auto& s : servers::settings_table())
      if (s.label.size() > l.size()) l = std::string(s.label);
    return l;
  }();
  const float fs = ImGui::GetFontSize();
  // The label, then its "(?)" help marker on the same line.
  const float room = ImGui::GetContentRegionAvail().x - ImGui::CalcTextSize(longest.c_str()).x -
                     ImGui::GetStyle().ItemInnerSpacing.x - ImGui::GetStyle().ItemSpacing.x -
                     ImGui::CalcTextSize("(?)").x;
  return std::clamp(room, fs * 4.0f, fs * 8.0f);
}

// The running architecture's settings, from the settings table. They stay
// editable while a server runs: a change applies on the next Start (and says
// so), except turning reaping on, which the running server obeys at once.
void draw_settings(LabController& lab) {
  auto& spec = lab.spec();
  const servers::Architecture* a = servers::find_architecture(spec.arch);
  if (a == nullptr) return;
  const float field = field_width();
  for (servers::SettingId id : a->settings) {
    const servers::Setting& s = servers::setting(id);
    ImGui::PushID(static_cast<int>(id));
    const std::string label(s.label);
    int v = spec.settings.get(id);
    switch (s.kind) {
      case servers::SettingKind::toggle: {
        bool on = v != 0;
        if (ImGui::Checkbox(label.c_str(), &on)) lab.set_setting(id, on ? 1 : 0);
        break;
      }
      case servers::SettingKind::choice: {
        ImGui::SetNextItemWidth(field);
        if (ImGui::BeginCombo(label.c_str(), std::string(s.choices[static_cast<std::size_t>(v)]).c_str())) {
          for (int i = 0; i < 2; ++i) {
            if (ImGui::Selectable(std::string(s.choices[static_cast<std::size_t>(i)]).c_str(), v == i))
              lab.set_setting(id, i);
          }
          ImGui::EndCombo();
        }
        break;
      }
      case servers::SettingKind::number:
        ImGui::SetNextItemWidth(field);
        if (ImGui::InputInt(label.c_str(), &v, 0, 0, ImGuiInputTextFlags_EnterReturnsTrue) ||
            ImGui::IsItemDeactivatedAfterEdit())
          lab.set_setting(id, std::clamp(v, s.min, s.max));
        break;
    }
    ImGui::SameLine();
    style::help_marker(std::string(s.help).c_str());
    ImGui::PopID();
  }
  const auto pending = lab.pending_settings();
  if (!pending.empty()) {
    std::string names;
    for (auto id : pending) names += (names.empty() ? "" : ", ") + std::string(servers::setting(id).label);
    ImGui::PushTextWrapPos(0.0f);
    style::text_colored(style::palette().warn, "%s: applies on the next Start.", names.c_str());
    ImGui::PopTextWrapPos();
  }
}

void draw_server(LabController& lab) {
  auto& spec = lab.spec();
  const bool running = lab.running();
  ImGui::BeginDisabled(running);
  const float field = field_width();
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
    ImGui::PushTextWrapPos(0.0f);
    ImGui::TextDisabled("%s", std::string(a->summary).c_str());
    ImGui::PopTextWrapPos();
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
  ImGui::EndDisabled();

  draw_settings(lab);

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
  auto request = [&](int n, std::string_view preset) {
    ClientRequest r{n, std::string(preset), view.hold_ms > 0 ? view.hold_ms : -1, view.work_ms, {}};
    if (preset == "custom") {
      std::istringstream in(view.lines);
      for (std::string line; std::getline(in, line);) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) r.lines.push_back(line);
      }
    }
    return r;
  };
  ImGui::BeginDisabled(!running);
  if (ImGui::Button("Add 1")) lab.add_clients(request(1, "steady"));
  ImGui::SameLine();
  char label[32];
  std::snprintf(label, sizeof label, "Add %d", view.clients_n);
  if (ImGui::Button(label)) lab.add_clients(request(view.clients_n, "steady"));
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
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 6.0f);
  ImGui::InputInt("work ms", &view.work_ms, 50);
  view.work_ms = std::clamp(view.work_ms, 0, protocol::kTeachingCapMs);
  ImGui::SameLine();
  style::help_marker("How long each heavy client's SITE WORK (HTTP: /work?ms=) burns the server's CPU. "
                     "0 = the preset's own (200 ms).");
  // One button per preset, wrapping at the column's edge.
  const float right = ImGui::GetWindowPos().x + ImGui::GetWindowContentRegionMax().x;
  bool first = true;
  for (const auto& preset : clients::presets()) {
    const std::string name(preset.name);
    const float w = ImGui::CalcTextSize(name.c_str()).x + ImGui::GetStyle().FramePadding.x * 2.0f;
    if (!first && ImGui::GetItemRectMax().x + ImGui::GetStyle().ItemSpacing.x + w < right) ImGui::SameLine();
    first = false;
    if (ImGui::Button(name.c_str())) lab.add_clients(request(view.clients_n, preset.name));
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
      ImGui::SetTooltip("%s: %s", name.c_str(), std::string(preset.help).c_str());
  }
  ImGui::EndDisabled();
  // The custom preset's lines, started from the default script.
  const std::string& proto = lab.running() ? lab.lab().server_spec().protocol : lab.spec().protocol;
  if (!view.lines_filled || view.lines_protocol != proto) {
    protocol::Protocol p = proto == "http" ? protocol::Protocol::http : protocol::Protocol::ftp;
    std::string text;
    for (const auto& line : clients::default_script(p)) text += line + "\n";
    std::snprintf(view.lines, sizeof view.lines, "%s", text.c_str());
    view.lines_filled = true;
    view.lines_protocol = proto;
  }
  if (ImGui::TreeNode("custom lines")) {
    ImGui::InputTextMultiline("##lines", view.lines, sizeof view.lines,
                              ImVec2(-1.0f, ImGui::GetTextLineHeight() * 6.0f));
    ImGui::TextDisabled(proto == "http" ? "one request a line: GET /path" : "one FTP command a line");
    ImGui::TreePop();
  }
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
    if (c.execs > 0) row("exec'd", c.execs);
    row("exited", c.exited);
    row("reaped", c.reaped);
    row("zombies now", c.zombies_now, c.zombies_now > 0 ? &pal.bad : nullptr);
    row("refused", c.refused, c.refused > 0 ? &pal.warn : nullptr);
    row("errors", c.errors, c.errors > 0 ? &pal.bad : nullptr);
    if (c.visitor_counts > 0) {
      // Each ask adds one visit; a highest count below the asks means lost
      // updates (threads) or separate copies (processes).
      row("counts asked", c.visitor_counts);
      row("highest count", c.visitor_count_max, c.visitor_count_max < c.visitor_counts ? &pal.warn : nullptr);
    }
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
