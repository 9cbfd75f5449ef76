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

std::vector<CodeRow> code_rows(int line_count, const std::vector<int>& gate_lines) {
  std::vector<CodeRow> rows;
  rows.reserve(static_cast<std::size_t>(std::max(line_count, 0)) + gate_lines.size());
  std::size_t g = 0;
  for (int n = 1; n <= line_count; ++n) {
    while (g < gate_lines.size() && gate_lines[g] < n) ++g;
    if (g < gate_lines.size() && gate_lines[g] == n) rows.push_back({n, true});
    rows.push_back({n, false});
  }
  return rows;
}

int row_of_line(const std::vector<CodeRow>& rows, int line) {
  // Rows are in line order: the source row of `line` is the last row with that line.
  auto it = std::lower_bound(rows.begin(), rows.end(), line + 1,
                             [](const CodeRow& r, int n) { return r.line < n; });
  if (it == rows.begin()) return -1;
  --it;
  return it->line == line && !it->lens ? static_cast<int>(it - rows.begin()) : -1;
}

std::vector<TagBox> layout_lens_tags(float x, float y, float row_h, const std::vector<float>& widths, float gap) {
  std::vector<TagBox> out;
  out.reserve(widths.size());
  for (float w : widths) {
    out.push_back({x, y, x + w, y + row_h});
    x += w + gap;
  }
  return out;
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
  drawn_tags_.clear();
  drawn_lines_.clear();
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

  // The files, then the tags, flow left to right and wrap at the window's
  // edge, and take few rows: in a small window (the stepping layout on a
  // projector) the code below must keep most of the height.
  const ImGuiStyle& st = ImGui::GetStyle();
  const float right_edge = ImGui::GetWindowPos().x + ImGui::GetWindowContentRegionMax().x;
  const float row_w = right_edge - ImGui::GetCursorScreenPos().x;
  auto file_label = [&](std::string_view name) {
    int here = 0;
    for (const auto& [key, list] : cursors)
      if (key.first == name) here += static_cast<int>(list.size());
    char label[96];
    std::snprintf(label, sizeof label, "%.*s (%d)###%.*s", static_cast<int>(name.size()), name.data(), here,
                  static_cast<int>(name.size()), name.data());
    return std::string(label);
  };
  float files_w = 0.0f;
  for (std::string_view name : files)
    files_w += ImGui::GetFrameHeight() + st.ItemInnerSpacing.x + ImGui::CalcTextSize(file_label(name).c_str(), nullptr, true).x +
               st.ItemSpacing.x;
  if (files_w <= row_w) {
    for (std::size_t i = 0; i < files.size(); ++i) {
      if (i > 0) ImGui::SameLine();
      if (ImGui::RadioButton(file_label(files[i]).c_str(), shown_file_ == files[i])) {
        shown_file_ = std::string(files[i]);
        followed_line_ = 0;
      }
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("The number of processes or threads parked in this file");
    }
  } else {
    // Too narrow for the radio buttons on one row: one combo.
    ImGui::SetNextItemWidth(std::min(row_w, ImGui::GetFontSize() * 18.0f));
    if (ImGui::BeginCombo("##file", file_label(shown_file_).c_str())) {
      for (std::string_view name : files)
        if (ImGui::Selectable(file_label(name).c_str(), shown_file_ == name)) {
          shown_file_ = std::string(name);
          followed_line_ = 0;
        }
      ImGui::EndCombo();
    }
  }
  // Everyone parked, as tags in their colours: a click shows that one's line.
  if (cursors_.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, style::palette().dim);
    ImGui::TextWrapped("%s", ctx.lab && !ctx.at_instant
                                 ? "Nobody is parked at a gate: Pause (P) stops everyone at the next one."
                                 : "Nobody was parked at a gate at this instant.");
    ImGui::PopStyleColor();
  }
  auto tag_text = [&](std::size_t i) {
    const CodeCursor& c = cursors_[i];
    const trace::GateWaiter& w = c.waiter;
    char tag[96];
    std::snprintf(tag, sizeof tag, "%s %d: %s, line %d###cursor%zu", w.tid == w.pid ? "pid" : "tid",
                  static_cast<int>(w.tid == w.pid ? w.pid : w.tid), std::string(trace::gate_name(w.kind)).c_str(), c.line, i);
    return std::string(tag);
  };
  auto draw_tag = [&](std::size_t i, bool as_item) {
    const CodeCursor& c = cursors_[i];
    const trace::GateWaiter& w = c.waiter;
    const ImU32 colour = style::identity_colour(ctx.model, w.pid, w.tid);
    ImGui::PushStyleColor(ImGuiCol_Button, colour);
    ImGui::PushStyleColor(ImGuiCol_ButtonHovered, colour);
    ImGui::PushStyleColor(ImGuiCol_Text, IM_COL32(10, 10, 10, 255));
    const bool clicked = as_item ? ImGui::Button(tag_text(i).c_str()) : ImGui::SmallButton(tag_text(i).c_str());
    ImGui::PopStyleColor(3);
    if (clicked) {
      shown_file_ = c.file;
      scroll_to_line_ = c.line;
    }
    if (ImGui::IsItemHovered()) {
      ImGui::BeginTooltip();
      ImGui::PushTextWrapPos(ImGui::GetFontSize() * 30.0f);
      ImGui::Text("%s %d is parked at the %s gate, %s line %d, serving connection #%u.",
                  w.tid == w.pid ? "Process" : "Thread", static_cast<int>(w.tid == w.pid ? w.pid : w.tid),
                  std::string(trace::gate_name(w.kind)).c_str(), c.file.c_str(), c.line, w.conn);
      ImGui::TextUnformatted(std::string(gate_explanation(w.kind)).c_str());
      ImGui::TextDisabled("Connection #N is the server's number for a connection, in accept order (not the "
                          "simulated client's number). Click: show the line.");
      ImGui::PopTextWrapPos();
      ImGui::EndTooltip();
    }
  };
  // As many rows of tags as the window can spare; the rest behind "+N".
  const int max_rows = ImGui::GetWindowHeight() > ImGui::GetTextLineHeightWithSpacing() * 24.0f ? 3 : 1;
  std::vector<float> widths;
  for (std::size_t i = 0; i < cursors_.size(); ++i)
    widths.push_back(ImGui::CalcTextSize(tag_text(i).c_str(), nullptr, true).x + st.FramePadding.x * 2.0f);
  const float more_w = ImGui::CalcTextSize("+999").x + st.FramePadding.x * 2.0f + st.ItemSpacing.x;
  std::size_t shown = 0;
  {
    int row = 1;
    float x = 0.0f;
    for (; shown < widths.size(); ++shown) {
      const float need = (x > 0.0f ? st.ItemSpacing.x : 0.0f) + widths[shown];
      const bool last_row = row == max_rows;
      const float reserve = last_row && shown + 1 < widths.size() ? more_w : 0.0f;
      if (x + need + reserve <= row_w || x == 0.0f) {
        x += need;
        continue;
      }
      if (last_row) break;
      ++row;
      x = widths[shown];
    }
  }
  float last_tag_end = 0.0f;
  for (std::size_t i = 0; i < shown; ++i) {
    if (i > 0 && last_tag_end + st.ItemSpacing.x + widths[i] <= right_edge) ImGui::SameLine();
    draw_tag(i, false);
    last_tag_end = ImGui::GetItemRectMax().x;
  }
  if (shown < cursors_.size()) {
    if (shown > 0) ImGui::SameLine();
    char more[32];
    std::snprintf(more, sizeof more, "+%zu", cursors_.size() - shown);
    if (ImGui::SmallButton(more)) ImGui::OpenPopup("##more_cursors");
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%zu more parked: click for the list", cursors_.size() - shown);
    if (ImGui::BeginPopup("##more_cursors")) {
      for (std::size_t i = shown; i < cursors_.size(); ++i) draw_tag(i, true);
      ImGui::EndPopup();
    }
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
  std::vector<int> gate_lines;
  for (const GateLine& g : find_gate_lines(file->text)) {
    gate_at[g.line] = g.kind;
    gate_lines.push_back(g.line);
  }
  const std::vector<CodeRow> rows = code_rows(static_cast<int>(lines.size()), gate_lines);

  ImGui::BeginChild("##code", ImVec2(0, 0), false, ImGuiWindowFlags_HorizontalScrollbar);
  draw_lines(ctx.model, file->name, lines, rows, gate_at, cursors);
  ImGui::EndChild();
  ImGui::End();
}

void CodeView::draw_lines(const session::Model& model, std::string_view file_name, const std::vector<std::string_view>& lines,
                          const std::vector<CodeRow>& rows, const std::map<int, trace::GateKind>& gate_at,
                          const CursorMap& cursors) {
  style::MonoFont mono;  // popped before EndChild: the font stack must balance per window
  const float line_h = ImGui::GetTextLineHeightWithSpacing();
  // The line followed comes back into sight when the view's height changes
  // (a layout switch, presentation mode), as when it was first shown.
  if (scroll_to_line_ == 0 && followed_line_ > 0 && ImGui::GetWindowHeight() != scrolled_height_)
    scroll_to_line_ = followed_line_;
  if (scroll_to_line_ > 0) {
    followed_line_ = scroll_to_line_;
    scrolled_height_ = ImGui::GetWindowHeight();
    // The lens row above a gate line scrolls into view with it.
    int row = row_of_line(rows, scroll_to_line_);
    if (row > 0 && rows[static_cast<std::size_t>(row - 1)].lens) --row;
    // 40% down the view, or higher when the view is short: the lens row and its line both in sight.
    const float at = std::clamp(ImGui::GetWindowHeight() * 0.4f, 0.0f,
                                std::max(0.0f, ImGui::GetWindowHeight() - 2.0f * line_h - ImGui::GetStyle().ScrollbarSize));
    ImGui::SetScrollY(std::max(0.0f, static_cast<float>(std::max(row, 0)) * line_h - at));
    scroll_to_line_ = 0;
  }
  // The code's first column: after "%4d" and the gate mark, as the source rows lay them out.
  const float spacing = ImGui::GetStyle().ItemSpacing.x;
  const float code_dx = ImGui::CalcTextSize("0000").x + spacing + ImGui::CalcTextSize("G").x + spacing;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  ImGuiListClipper clipper;
  clipper.Begin(static_cast<int>(rows.size()), line_h);
  while (clipper.Step()) {
    for (int r = clipper.DisplayStart; r < clipper.DisplayEnd; ++r) {
      const CodeRow& row = rows[static_cast<std::size_t>(r)];
      const int n = row.line;
      const std::string_view text = lines[static_cast<std::size_t>(n - 1)];
      ImVec2 p = ImGui::GetCursorScreenPos();
      auto cur = cursors.find({file_name, n});
      auto g = gate_at.find(n);
      if (row.lens) {
        draw_lens(model, text, g != gate_at.end() ? g->second : GateKind::accept,
                  cur != cursors.end() ? &cur->second : nullptr, n, p.x + code_dx);
        continue;
      }
      if (cur != cursors.end()) {
        ImU32 c = style::identity_colour(model, cur->second.front()->pid, cur->second.front()->tid);
        dl->AddRectFilled(p, ImVec2(p.x + ImGui::GetContentRegionAvail().x + ImGui::GetScrollMaxX() + 2000.0f, p.y + line_h),
                          (c & 0x00FFFFFF) | 0x40000000);
      }
      ImGui::TextDisabled("%4d", n);
      ImGui::SameLine();
      if (g != gate_at.end()) style::text_colored(style::palette().warn, "G");
      else ImGui::TextUnformatted(" ");
      ImGui::SameLine();
      ImGui::TextUnformatted(text.data(), text.data() + text.size());
      const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
      drawn_lines_.push_back({n, {a.x, a.y, b.x, b.y}});
      if (g != gate_at.end() && ImGui::IsItemHovered())
        ImGui::SetTooltip("gate %s: %s", std::string(trace::gate_name(g->second)).c_str(),
                          std::string(gate_explanation(g->second)).c_str());
    }
  }
}

void CodeView::draw_lens(const session::Model& model, std::string_view line_text, GateKind gate,
                         const std::vector<const trace::GateWaiter*>* waiters, int line, float code_x) {
  const ImVec2 p = ImGui::GetCursorScreenPos();
  const float text_h = ImGui::GetTextLineHeight();
  // Over the call itself: indented as the gate line is.
  const std::size_t indent = line_text.find_first_not_of(" \t");
  const float x = code_x + ImGui::CalcTextSize(" ").x * static_cast<float>(indent == std::string_view::npos ? 0 : indent);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const std::string gate_name(trace::gate_name(gate));
  float end = x;
  if (waiters != nullptr && !waiters->empty()) {
    // Who stands here: a tag per waiter in its own colour, pointing down at the line.
    const float pad = ImGui::GetFontSize() * 0.3f;
    std::vector<std::string> tags;
    std::vector<float> widths;
    for (const auto* w : *waiters) {
      char tag[64];
      std::snprintf(tag, sizeof tag, "\xe2\x96\xbc %s %d \xc2\xb7 conn #%u", w->tid == w->pid ? "pid" : "tid",
                    static_cast<int>(w->tid == w->pid ? w->pid : w->tid), w->conn);
      tags.emplace_back(tag);
      widths.push_back(ImGui::CalcTextSize(tag).x + pad * 2.0f);
    }
    const std::vector<TagBox> boxes = layout_lens_tags(x, p.y, text_h, widths, pad);
    for (std::size_t i = 0; i < boxes.size(); ++i) {
      const TagBox& b = boxes[i];
      const trace::GateWaiter& w = *(*waiters)[i];
      dl->AddRectFilled(ImVec2(b.x0, b.y0), ImVec2(b.x1, b.y1), style::identity_colour(model, w.pid, w.tid), pad);
      dl->AddText(ImVec2(b.x0 + pad, b.y0), IM_COL32(10, 10, 10, 255), tags[i].c_str());
      drawn_tags_.push_back({line, b});
      if (ImGui::IsMouseHoveringRect(ImVec2(b.x0, b.y0), ImVec2(b.x1, b.y1)) && ImGui::IsWindowHovered()) {
        ImGui::BeginTooltip();
        ImGui::PushTextWrapPos(ImGui::GetFontSize() * 30.0f);
        ImGui::Text("%s %d is parked at the %s gate on the line below, serving connection #%u.",
                    w.tid == w.pid ? "Process" : "Thread", static_cast<int>(w.tid == w.pid ? w.pid : w.tid),
                    gate_name.c_str(), w.conn);
        ImGui::TextUnformatted(std::string(gate_explanation(gate)).c_str());
        ImGui::TextDisabled("Connection #N is the server's number for a connection, in accept order (not the "
                            "simulated client's number).");
        ImGui::PopTextWrapPos();
        ImGui::EndTooltip();
      }
      end = b.x1;
    }
    // "parked at accept" after the tags, when it fits in sight (the tags' tooltips say it too).
    const std::string note = "parked at " + gate_name;
    const float note_w = ImGui::CalcTextSize(note.c_str()).x;
    const float visible_right = ImGui::GetWindowPos().x + ImGui::GetWindowWidth() - ImGui::GetStyle().ScrollbarSize;
    if (end + pad + note_w <= visible_right) {
      dl->AddText(ImVec2(end + pad, p.y), ImGui::GetColorU32(style::palette().warn), note.c_str());
      end += pad + note_w;
    }
  } else {
    // Nobody here: the gate's name, dim, so a cursor's arrival does not move the code.
    const std::string note = "\xe2\x96\xbe " + gate_name + " gate";
    dl->AddText(ImVec2(x, p.y), ImGui::GetColorU32(ImGuiCol_TextDisabled), note.c_str());
    end = x + ImGui::CalcTextSize(note.c_str()).x;
  }
  // The row's height and width, as a source line's (the clipper and the horizontal scrollbar count on it).
  ImGui::Dummy(ImVec2(end - p.x, text_h));
}

}  // namespace sockscope::app
