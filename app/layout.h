// The window table and the layouts computed from it.
//
// Every window the app lays out is one row of kWindows: its id, the name the
// View menu shows, the ImGui window id, where each layout places it, and the
// key that shows it in presentation mode. compute_layout() turns the window
// size, the font size and which windows are shown into one rectangle per
// window. It is pure (no ImGui, no state), so the tests can walk every screen
// and font a lecture hall has, and AppUi applies its result as is.
//
// The layouts:
//  - overview: controls on the left; the process tree big in the middle, the
//    side windows (event loop, threads, code) in a column to its right (or,
//    when the tree would get too narrow for the server and four children,
//    in the row below it), the connections list, event log, totals chart and
//    flow in that row below the tree, the timeline along the bottom;
//  - stepping: controls over the Stepping panel on the left; the tree and
//    the code (with the event loop, threads and any list the user turned on
//    under it) side by side on top; the connection flow, the largest, across
//    the whole width below them;
//  - compare: the Compare window takes everything right of a column that
//    holds the process tree over the totals chart (the server being
//    measured, live);
//  - present: one window fills everything; nothing else is placed.
// A lesson's panel, when open, takes a column along the right edge in every
// layout (presentation mode included: the lesson beside the picture), and the
// layout fills what is left.
// The controls column can be collapsed to a narrow strip (Tab); the Stepping
// panel goes with it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sockscope::app {

enum class WindowId : std::uint8_t {
  controls, stepping, tree, event_loop, threads, code, connections, events, totals, flow, timeline, compare,
  lesson, count_
};
inline constexpr std::size_t kWindowCount = static_cast<std::size_t>(WindowId::count_);
constexpr std::size_t index_of(WindowId id) { return static_cast<std::size_t>(id); }

// Where a layout puts a window. Windows sharing a slot split it evenly, in
// table order (side and right: stacked; lower: side by side).
enum class Slot : std::uint8_t {
  none,        // not placed by this layout (hidden when the layout is chosen)
  left,        // the controls column, top
  left_lower,  // the controls column, under the controls
  main,        // the biggest area: the tree (overview), the flow (stepping)
  side,        // overview: right of the tree; stepping: top left (the tree)
  right,       // stepping: top right (the code, event loop, threads, lists)
  lower,       // overview: under the tree
  bottom,      // overview: the strip along the bottom (timeline)
};

struct WindowSpec {
  WindowId id;
  std::string_view key;       // the script's name for it (`present tree`)
  std::string_view name;      // the View menu's item and presentation legend
  std::string_view imgui_id;  // "###..." (titles change, ids do not)
  Slot overview;
  Slot stepping;
  Slot compare;      // the compare layout: left (the live column) or main
  char present_key;  // '1'... : shows it in presentation mode; 0 = never presented
  bool live_only;    // only with a live lab (nothing to show on a recording)
};

inline constexpr std::array<WindowSpec, kWindowCount> kWindows = {{
    {WindowId::controls, "controls", "Controls", "###controls", Slot::left, Slot::left, Slot::none, 0, false},
    {WindowId::stepping, "stepping", "Stepping", "###stepping", Slot::left_lower, Slot::left_lower, Slot::none, 0, true},
    {WindowId::tree, "tree", "Process tree", "###process_tree", Slot::main, Slot::side, Slot::left, '1', false},
    {WindowId::event_loop, "event_loop", "Event loop", "###event_loop", Slot::side, Slot::right, Slot::none, '3', false},
    {WindowId::threads, "threads", "Threads", "###threads", Slot::side, Slot::right, Slot::none, '4', false},
    {WindowId::code, "code", "Code", "###code_view", Slot::side, Slot::right, Slot::none, '5', false},
    {WindowId::connections, "connections", "Connections", "###connections", Slot::lower, Slot::right, Slot::none, 0, false},
    {WindowId::events, "events", "Event log", "###event_log", Slot::lower, Slot::right, Slot::none, 0, false},
    {WindowId::totals, "totals", "Totals over time", "###totals", Slot::lower, Slot::right, Slot::left_lower, '7', false},
    {WindowId::flow, "flow", "Connection flow", "###flow", Slot::lower, Slot::main, Slot::none, '2', false},
    {WindowId::timeline, "timeline", "Timeline", "###timeline", Slot::bottom, Slot::right, Slot::none, '6', false},
    {WindowId::compare, "compare", "Compare", "###compare", Slot::none, Slot::none, Slot::main, '8', true},
    // Placed apart from the slots: the right-hand column (see above).
    {WindowId::lesson, "lesson", "Lesson", "###lesson", Slot::none, Slot::none, Slot::none, 0, true},
}};

constexpr const WindowSpec& window_spec(WindowId id) { return kWindows[index_of(id)]; }
// The window presentation mode shows for `key` ('1'...), if any.
std::optional<WindowId> window_for_key(char key);
// The window the script calls `key` ("tree", "flow", ...), if any.
std::optional<WindowId> window_from_key(std::string_view key);

enum class LayoutKind : std::uint8_t { overview, stepping, compare, present };
std::string_view layout_name(LayoutKind k);
std::optional<LayoutKind> layout_from_name(std::string_view name);

struct Rect {
  float x = 0, y = 0, w = 0, h = 0;
  bool empty() const { return w <= 0.0f || h <= 0.0f; }
  float area() const { return empty() ? 0.0f : w * h; }
  // Interiors intersect (touching edges do not count).
  bool overlaps(const Rect& o) const;
  bool contains(const Rect& o) const;
  bool operator==(const Rect&) const = default;
};

struct LayoutInput {
  Rect area;  // the window below the menu bar and above the status bar
  float font_px = 19.0f;
  LayoutKind kind = LayoutKind::overview;
  bool controls_collapsed = false;
  std::array<bool, kWindowCount> shown{};  // which windows are open
  WindowId presented = WindowId::tree;     // present: the one window shown
  // The children the tree must show side by side (the server's, up to 4): an
  // event loop's single process leaves the side windows more room.
  int tree_children = 4;
  bool operator==(const LayoutInput&) const = default;
};

struct LayoutResult {
  std::array<Rect, kWindowCount> rects{};  // empty = not placed (hidden)
  Rect strip;   // the collapsed controls' strip (empty when expanded or presenting)
  Rect legend;  // present: the key legend in the bottom-right corner
  const Rect& operator[](WindowId id) const { return rects[index_of(id)]; }
};

// The width of the lesson's column at this font in an area `w` wide.
float lesson_column_width(float font_px, float w);
// The width of the collapsed controls strip at this font.
float collapsed_strip_width(float font_px);
LayoutResult compute_layout(const LayoutInput& in);

}  // namespace sockscope::app
