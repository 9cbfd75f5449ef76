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

struct CodeView {
  void draw(FrameContext& ctx);
  // The cursors of the last frame drawn (tests, the model dump).
  const std::vector<CodeCursor>& cursors() const { return cursors_; }

 private:
  // Who is parked where: the live gate table, or (a recording, a past
  // instant) the gate events folded up to the instant, cached per instant.
  const std::vector<trace::GateWaiter>& waiters_at(const FrameContext& ctx);
  // (file, line) -> the waiters standing there.
  using CursorMap = std::map<std::pair<std::string_view, int>, std::vector<const trace::GateWaiter*>>;
  void draw_lines(const session::Model& model, std::string_view file_name, const std::vector<std::string_view>& lines,
                  const std::map<int, trace::GateKind>& gate_at, const CursorMap& cursors);
  std::vector<trace::GateWaiter> waiters_;
  const session::Session* parked_session_ = nullptr;
  std::uint64_t parked_generation_ = ~std::uint64_t{0};
  std::uint64_t parked_at_ns_ = 0;
  std::vector<CodeCursor> cursors_;
  std::string shown_file_;
  std::uint64_t last_seq_ = 0;  // the newest arrival scrolled to
  int scroll_to_line_ = 0;
};

}  // namespace sockscope::app
