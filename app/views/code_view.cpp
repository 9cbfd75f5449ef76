#include "views/code_view.h"

#include <imgui.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

#include "lab_controller.h"
#include "views/style.h"

namespace sockscope::app {

using trace::GateKind;

const SourceFile* find_source(std::string_view name) {
  for (const auto& f : embedded_sources())
    if (f.name == name) return &f;
  return nullptr;
}

std::vector<GateLine> find_gate_lines(std::string_view text) {
  std::vector<GateLine> out;
  int line = 1;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(start, end - start);
    // Calls only: "gate(GateKind::read" or "gate(trace::GateKind::accept".
    for (std::string_view prefix : {std::string_view("gate(GateKind::"), std::string_view("gate(trace::GateKind::")}) {
      std::size_t at = l.find(prefix);
      if (at == std::string_view::npos) continue;
      std::size_t b = at + prefix.size();
      std::size_t e = b;
      while (e < l.size() && (std::isalnum(static_cast<unsigned char>(l[e])) || l[e] == '_')) ++e;
      GateKind k;
      if (trace::gate_from_name(l.substr(b, e - b), k)) out.push_back({line, k});
      break;
    }
    if (end == text.size()) break;
    start = end + 1;
    ++line;
  }
  return out;
}

std::vector<std::string_view> files_for_architecture(std::string_view arch) {
  if (arch == "serial") return {"serial_server.cpp", "blocking_connection.cpp", "visitor_counter.cpp"};
  if (arch == "thread") return {"thread_server.cpp", "blocking_connection.cpp", "visitor_counter.cpp"};
  if (arch == "pool") return {"pool_server.cpp", "blocking_connection.cpp", "visitor_counter.cpp"};
  if (arch == "prefork") return {"prefork_server.cpp", "blocking_connection.cpp", "visitor_counter.cpp"};
  if (arch == "evloop") return {"evloop_server.cpp", "asio_tracking.cpp", "visitor_counter.cpp"};
  return {"fork_server.cpp", "blocking_connection.cpp", "visitor_counter.cpp"};
}

CodeLocation locate_gate(const std::vector<std::string_view>& files, GateKind kind) {
  for (std::string_view name : files) {
    const SourceFile* f = find_source(name);
    if (!f) continue;
    for (const GateLine& g : find_gate_lines(f->text))
      if (g.kind == kind) return {f->name, g.line};
  }
  return {};
}

namespace {
// A steady colour per process, so the same process keeps its cursor colour.
ImU32 cursor_colour(pid_t pid) {
  float hue = static_cast<float>((static_cast<unsigned>(pid) * 2654435761u) % 360u) / 360.0f;
  return ImColor::HSV(hue, 0.65f, 0.95f);
}
}  // namespace

void CodeView::draw(FrameContext& ctx) {
  if (!ImGui::Begin("Code###code_view")) {
    ImGui::End();
    return;
  }
  const std::string& arch = ctx.session.meta().architecture;
  const auto files = files_for_architecture(arch);
  std::vector<trace::GateWaiter> waiters;
  if (ctx.lab) waiters = ctx.lab->lab().gates().waiters();
  // Cursors by file and line.
  CursorMap cursors;
  for (const auto& w : waiters) {
    CodeLocation loc = locate_gate(files, w.kind);
    if (loc.line) cursors[{loc.file, loc.line}].push_back(&w);
  }
  // Follow the newest arrival: show its file and scroll to its line.
  if (!waiters.empty()) {
    const auto& newest = *std::max_element(waiters.begin(), waiters.end(),
                                           [](const auto& a, const auto& b) { return a.seq < b.seq; });
    if (newest.seq != last_seq_) {
      last_seq_ = newest.seq;
      CodeLocation loc = locate_gate(files, newest.kind);
      if (loc.line) {
        shown_file_ = std::string(loc.file);
        scroll_to_line_ = loc.line;
      }
    }
  }
  if (shown_file_.empty() || std::find(files.begin(), files.end(), shown_file_) == files.end())
    shown_file_ = std::string(files.front());

  for (std::string_view name : files) {
    int here = 0;
    for (const auto& [key, list] : cursors)
      if (key.first == name) here += static_cast<int>(list.size());
    char label[96];
    std::snprintf(label, sizeof label, "%.*s (%d)###%.*s", static_cast<int>(name.size()), name.data(), here,
                  static_cast<int>(name.size()), name.data());
    if (ImGui::RadioButton(label, shown_file_ == name)) shown_file_ = std::string(name);
    ImGui::SameLine();
  }
  ImGui::NewLine();
  const SourceFile* file = find_source(shown_file_);
  if (!file) {
    style::text_colored(style::palette().bad, "source %s was not embedded in this build", shown_file_.c_str());
    ImGui::End();
    return;
  }
  std::vector<std::string_view> lines;
  for (std::size_t s = 0; s <= file->text.size();) {
    std::size_t e = file->text.find('\n', s);
    if (e == std::string_view::npos) e = file->text.size();
    lines.push_back(file->text.substr(s, e - s));
    if (e == file->text.size()) break;
    s = e + 1;
  }
  std::map<int, GateKind> gate_at;
  for (const GateLine& g : find_gate_lines(file->text)) gate_at[g.line] = g.kind;

  ImGui::BeginChild("##code", ImVec2(0, 0), false, ImGuiWindowFlags_HorizontalScrollbar);
  draw_lines(file->name, lines, gate_at, cursors);
  ImGui::EndChild();
  ImGui::End();
}

void CodeView::draw_lines(std::string_view file_name, const std::vector<std::string_view>& lines,
                          const std::map<int, trace::GateKind>& gate_at, const CursorMap& cursors) {
  style::MonoFont mono;  // popped before EndChild: the font stack must balance per window
  const float line_h = ImGui::GetTextLineHeightWithSpacing();
  if (scroll_to_line_ > 0) {
    ImGui::SetScrollY(std::max(0.0f, (scroll_to_line_ - 1) * line_h - ImGui::GetWindowHeight() * 0.4f));
    scroll_to_line_ = 0;
  }
  ImDrawList* dl = ImGui::GetWindowDrawList();
  ImGuiListClipper clipper;
  clipper.Begin(static_cast<int>(lines.size()));
  while (clipper.Step()) {
    for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
      const int n = i + 1;
      ImVec2 p = ImGui::GetCursorScreenPos();
      auto cur = cursors.find({file_name, n});
      if (cur != cursors.end()) {
        ImU32 c = cursor_colour(cur->second.front()->pid);
        dl->AddRectFilled(p, ImVec2(p.x + ImGui::GetContentRegionAvail().x + ImGui::GetScrollMaxX() + 2000.0f, p.y + line_h),
                          (c & 0x00FFFFFF) | 0x40000000);
      }
      auto g = gate_at.find(n);
      ImGui::TextDisabled("%4d", n);
      ImGui::SameLine();
      if (g != gate_at.end()) style::text_colored(style::palette().warn, "G");
      else ImGui::TextUnformatted(" ");
      ImGui::SameLine();
      ImGui::TextUnformatted(lines[static_cast<std::size_t>(i)].data(),
                             lines[static_cast<std::size_t>(i)].data() + lines[static_cast<std::size_t>(i)].size());
      if (g != gate_at.end() && ImGui::IsItemHovered())
        ImGui::SetTooltip("gate %s", std::string(trace::gate_name(g->second)).c_str());
      if (cur != cursors.end()) {
        for (const auto* w : cur->second) {
          ImGui::SameLine();
          ImGui::PushStyleColor(ImGuiCol_Text, cursor_colour(w->pid));
          if (w->tid == w->pid) ImGui::Text("<- pid %d conn %u", static_cast<int>(w->pid), w->conn);
          else ImGui::Text("<- tid %d conn %u", static_cast<int>(w->tid), w->conn);
          ImGui::PopStyleColor();
        }
      }
    }
  }
}

}  // namespace sockscope::app
