// The event log: every trace event, filtered by kind, pid and connection.
// Long logs draw only the visible rows (ImGuiListClipper) over an index of the
// rows that pass the filter; the index is rebuilt only when the session or the
// filter changed.
//
// The two numbers of each event read by name ("status 226 · bytes 4342967"),
// from the one table in engine/trace/event_fields.h; a row's tooltip says
// what its kind means, and the conn column says whose number it shows.
#pragma once

#include <array>
#include <cstdint>
#include <string>
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

// The conn column's label: "conn #2 · client 3" on a server event whose
// connection the session joined to simulated client 3, "client 3 · conn #2"
// on the simulator's own events, "conn #2" when not joined, "" for conn 0.
std::string conn_label(const trace::Event& e, const session::Model& model);
// Its tooltip: what the two numbers are.
std::string conn_tooltip(const trace::Event& e, const session::Model& model);
// A row's tooltip: what its kind means, then a and b by name ("b = bytes: 20").
std::string row_tooltip(const trace::Event& e);

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
