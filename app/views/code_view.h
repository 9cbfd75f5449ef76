// Code view: the running architecture's real source (embedded at build time
// from engine/servers by app/embed_sources.cmake), every gate line marked,
// and a cursor for each process/thread parked at a gate, on the line where it
// stands now.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <utility>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "frame.h"
#include "trace/gate.h"

namespace sockscope::app {

struct SourceFile {
  std::string_view name;  // file name, e.g. "fork_server.cpp"
  std::string_view text;
};
// Every embedded source file (generated code).
std::span<const SourceFile> embedded_sources();
const SourceFile* find_source(std::string_view name);

// A `trace::gate(GateKind::X, ...)` call in a source file. Lines count from 1.
struct GateLine {
  int line = 0;
  trace::GateKind kind = trace::GateKind::accept;
};
std::vector<GateLine> find_gate_lines(std::string_view text);

// The files an architecture's connections run through, its own file first.
std::vector<std::string_view> files_for_architecture(std::string_view arch);

// Where a waiter at `kind` stands: the first file of `files` with a gate of
// that kind, and the line. line == 0 when none has one.
struct CodeLocation {
  std::string_view file;
  int line = 0;
};
CodeLocation locate_gate(const std::vector<std::string_view>& files, trace::GateKind kind);
// Where a waiter stands: its gate call's own line (GateSite) when that is a
// gate of `kind` in `files`, else the first gate of that kind as above.
CodeLocation locate_gate(const std::vector<std::string_view>& files, trace::GateKind kind, trace::GateSite site);

// A cursor the code view drew: who stands on which line.
struct CodeCursor {
  std::string file;
  int line = 0;
  trace::GateWaiter waiter;
};

// One row of the listing: a source line, or the lens row just above a gate
// line, where the tags of whoever is parked at that gate go. A tag drawn on
// the line itself covers the code it points at (on a projector, or in a
// narrow window, the line is as wide as the view); on a row of its own it
// hides nothing. Every gate line has its lens row, empty or not, so the code
// does not move when someone arrives at a gate or leaves it.
struct CodeRow {
  int line = 0;       // the source line, counting from 1; a lens row: the gate line below it
  bool lens = false;
  bool operator==(const CodeRow&) const = default;
};
// The rows for a file of `line_count` lines with gate calls on `gate_lines`.
std::vector<CodeRow> code_rows(int line_count, const std::vector<int>& gate_lines);
// The index of source line `line` among `rows` (-1 = none).
int row_of_line(const std::vector<CodeRow>& rows, int line);

// Where a lens row's tags go: left to right from `x` (the code's first
// column, so the tags stand over the call they point at), each `widths[i]`
// wide, `gap` apart, the row's full height. Pure: tested without a window.
struct TagBox {
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool overlaps(const TagBox& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};
std::vector<TagBox> layout_lens_tags(float x, float y, float row_h, const std::vector<float>& widths, float gap);

struct CodeView {
  void draw(FrameContext& ctx);
  // The cursors of the last frame drawn (tests, the model dump).
  const std::vector<CodeCursor>& cursors() const { return cursors_; }
  // What the last frame drew on screen, for the test that no tag covers code:
  // each tag and the line it points at, and the text of each visible line.
  struct DrawnBox {
    int line = 0;
    TagBox box;
  };
  const std::vector<DrawnBox>& drawn_tags() const { return drawn_tags_; }
  const std::vector<DrawnBox>& drawn_lines() const { return drawn_lines_; }

 private:
  // Who is parked where: the live gate table, or (a recording, a past
  // instant) the gate events folded up to the instant, cached per instant.
  const std::vector<trace::GateWaiter>& waiters_at(const FrameContext& ctx);
  // (file, line) -> the waiters standing there.
  using CursorMap = std::map<std::pair<std::string_view, int>, std::vector<const trace::GateWaiter*>>;
  void draw_lines(const session::Model& model, std::string_view file_name, const std::vector<std::string_view>& lines,
                  const std::vector<CodeRow>& rows, const std::map<int, trace::GateKind>& gate_at,
                  const CursorMap& cursors);
  void draw_lens(const session::Model& model, std::string_view line_text, trace::GateKind gate,
                 const std::vector<const trace::GateWaiter*>* waiters, int line, float code_x);
  std::vector<trace::GateWaiter> waiters_;
  const session::Session* parked_session_ = nullptr;
  std::uint64_t parked_generation_ = ~std::uint64_t{0};
  std::uint64_t parked_at_ns_ = 0;
  std::vector<CodeCursor> cursors_;
  std::vector<DrawnBox> drawn_tags_;
  std::vector<DrawnBox> drawn_lines_;
  std::string shown_file_;
  std::uint64_t last_seq_ = 0;  // the newest arrival scrolled to
  int scroll_to_line_ = 0;
  int followed_line_ = 0;         // the line last scrolled to
  float scrolled_height_ = 0.0f;  // the view's height then
};

}  // namespace sockscope::app
