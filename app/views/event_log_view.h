// The event log: every trace event, filtered by kind, pid and connection.
// Long logs draw only the visible rows (ImGuiListClipper) over an index of the
// rows that pass the filter; the index is rebuilt only when the session or the
// filter changed.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "frame.h"
#include "trace/event.h"

namespace sockscope::app {

struct EventFilter {
  std::array<bool, static_cast<std::size_t>(trace::Kind::count_)> kinds{};  // all false = every kind
  int pid = 0;   // 0 = any
  int conn = 0;  // 0 = any

  bool active() const;
  bool pass(const trace::Event& e) const;
  bool operator==(const EventFilter&) const = default;
};

struct EventLogView {
  EventFilter filter;
  bool follow = true;
  void draw(FrameContext& ctx);
  // Rows the last draw() listed (after the filter).
  std::size_t rows_shown() const { return rows_shown_; }

 private:
  std::size_t rows_shown_ = 0;
  std::vector<std::uint32_t> index_;  // rows passing the filter (only when filter.active())
  std::uint64_t indexed_generation_ = ~std::uint64_t{0};
  std::size_t indexed_size_ = 0;
  EventFilter indexed_filter_;
  void refresh_index(const session::Session& s);
};

}  // namespace sockscope::app
