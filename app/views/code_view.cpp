#include "views/code_view.h"

#include <imgui.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

#include "lab_controller.h"
#include "servers/architecture.h"
#include "session/flow.h"
#include "views/step_view.h"
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
  // The architecture table names them; a recording of an architecture this
  // build does not know shows the fork server's, the first one taught.
  const servers::Architecture* a = servers::find_architecture(arch);
  if (a == nullptr) a = servers::find_architecture("fork");
  return {a->sources.begin(), a->sources.end()};
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

CodeLocation locate_gate(const std::vector<std::string_view>& files, GateKind kind, trace::GateSite site) {
  // The gate call's own file and line, when the waiter told us and it is a
  // gate of that kind in one of the architecture's files: exact even where a
  // kind appears twice (shotgun forks per connection and per request).
  if (site.file != 0 && site.line != 0) {
    for (std::string_view name : files) {
      if (trace::gate_file_hash(name) != site.file) continue;
      const SourceFile* f = find_source(name);
      if (!f) break;
      for (const GateLine& g : find_gate_lines(f->text))
        if (g.kind == kind && g.line == static_cast<int>(site.line)) return {f->name, g.line};
      break;
    }
  }
  return locate_gate(files, kind);
}

const std::vector<trace::GateWaiter>& CodeView::waiters_at(const FrameContext& ctx) {
  // Now, on the live lab: its gate table is the truth.
  if (ctx.lab && !ctx.at_instant) {
    waiters_ = ctx.lab->lab().gates().waiters();
    return waiters_;
  }
  // A recording, or a past instant: who the log says was parked then.
  const std::uint64_t at = ctx.model.at_ns;
  if (&ctx.session != parked_session_ || ctx.session.generation() != parked_generation_ || at != parked_at_ns_) {
    parked_session_ = &ctx.session;
    parked_generation_ = ctx.session.generation();
    parked_at_ns_ = at;
    waiters_.clear();
    for (const session::Parked& p : session::parked_at(ctx.session, ctx.model, at)) {
      trace::GateWaiter w;
      w.pid = p.pid;
      w.tid = p.tid;
      w.kind = p.gate;
      w.conn = p.conn;
      w.since_ns = p.since_ns;
      w.seq = p.since_ns;  // arrival order, as the table's seq would give it
      w.site = p.site;
      waiters_.push_back(w);
    }
  }
  return waiters_;
}

void CodeView::draw(FrameContext& ctx) {
  if (!ImGui::Begin("Code###code_view")) {
    ImGui::End();
    return;
  }
  const std::string& arch = ctx.session.meta().architecture;
  const auto files = files_for_architecture(arch);
  const std::vector<trace::GateWaiter>& waiters = waiters_at(ctx);
  // Cursors by file and line.
  CursorMap cursors;
  cursors_.clear();
  for (const auto& w : waiters) {
    CodeLocation loc = locate_gate(files, w.kind, w.site);
    if (!loc.line) continue;
    cursors[{loc.file, loc.line}].push_back(&w);
    cursors_.push_back({std::string(loc.file), loc.line, w});
  }
  // Follow the newest arrival: show its file and scroll to its line.
  if (!waiters.empty()) {
    const auto& newest = *std::max_element(waiters.begin(), waiters.end(),
                                           [](const auto& a, const auto& b) { return a.seq < b.seq; });
    if (newest.seq != last_seq_) {
      last_seq_ = newest.seq;
      CodeLocation loc = locate_gate(files, newest.kind, newest.site);
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
  // Everyone parked, as tags in their colours: a click shows that one's line.
  if (cursors_.empty()) {
    style::text_colored(style::palette().dim, ctx.lab && !ctx.at_instant
                                                  ? "Nobody is parked at a gate: Pause (P) stops everyone at the next one."
                                                  : "Nobody was parked at a gate at this instant.");
  }
  float last_tag_end = 0.0f;
  for (std::size_t i = 0; i < cursors_.size(); ++i) {
    const CodeCursor& c = cursors_[i];
    const trace::GateWaiter& w = c.waiter;
    char tag[96];
    std::snprintf(tag, sizeof tag, "%s %d: %s, line %d###cursor%zu", w.tid == w.pid ? "pid" : "tid",
                  static_cast<int>(w.tid == w.pid ? w.pid : w.tid), std::string(trace::gate_name(w.kind)).c_str(), c.line, i);
    const ImU32 colour = style::identity_colour(ctx.model, w.pid, w.tid);
    ImGui::PushStyleColor(ImGuiCol_Button, colour);
    ImGui::PushStyleColor(ImGuiCol_ButtonHovered, colour);
    ImGui::PushStyleColor(ImGuiCol_Text, IM_COL32(10, 10, 10, 255));
    // Tags flow left to right and wrap at the window's edge.
    const float width = ImGui::CalcTextSize(tag, nullptr, true).x + ImGui::GetStyle().FramePadding.x * 2.0f;
    if (i > 0 && last_tag_end + ImGui::GetStyle().ItemSpacing.x + width <
                     ImGui::GetWindowPos().x + ImGui::GetWindowContentRegionMax().x)
      ImGui::SameLine();
    if (ImGui::SmallButton(tag)) {
      shown_file_ = c.file;
      scroll_to_line_ = c.line;
    }
    last_tag_end = ImGui::GetItemRectMax().x;
    ImGui::PopStyleColor(3);
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("%s, connection %u: %s", c.file.c_str(), w.conn, std::string(gate_explanation(w.kind)).c_str());
  }
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
  draw_lines(ctx.model, file->name, lines, gate_at, cursors);
  ImGui::EndChild();
  ImGui::End();
}

void CodeView::draw_lines(const session::Model& model, std::string_view file_name, const std::vector<std::string_view>& lines,
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
        ImU32 c = style::identity_colour(model, cur->second.front()->pid, cur->second.front()->tid);
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
        // Who stands here: a tag per waiter in its own colour, against the
        // right edge of the view so long lines never push it out of sight.
        float right = ImGui::GetWindowPos().x + ImGui::GetWindowContentRegionMax().x;
        const float pad = ImGui::GetFontSize() * 0.3f;
        for (const auto* w : cur->second) {
          char tag[64];
          if (w->tid == w->pid) std::snprintf(tag, sizeof tag, "pid %d, conn %u", static_cast<int>(w->pid), w->conn);
          else std::snprintf(tag, sizeof tag, "tid %d, conn %u", static_cast<int>(w->tid), w->conn);
          const ImVec2 ts = ImGui::CalcTextSize(tag);
          const ImVec2 a(right - ts.x - pad * 2.0f, p.y);
          dl->AddRectFilled(a, ImVec2(right, p.y + line_h), style::identity_colour(model, w->pid, w->tid), pad);
          dl->AddText(ImVec2(a.x + pad, p.y + (line_h - ts.y) * 0.5f), IM_COL32(10, 10, 10, 255), tag);
          right = a.x - pad;
        }
      }
    }
  }
}

}  // namespace sockscope::app
