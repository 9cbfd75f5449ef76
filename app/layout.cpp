#include "layout.h"

#include "views/tree_metrics.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace sockscope::app {

std::optional<WindowId> window_for_key(char key) {
  for (const auto& w : kWindows)
    if (w.present_key != 0 && w.present_key == key) return w.id;
  return std::nullopt;
}

std::optional<WindowId> window_from_key(std::string_view key) {
  for (const auto& w : kWindows)
    if (w.key == key) return w.id;
  return std::nullopt;
}

std::string_view layout_name(LayoutKind k) {
  switch (k) {
    case LayoutKind::overview: return "overview";
    case LayoutKind::stepping: return "stepping";
    case LayoutKind::compare: return "compare";
    case LayoutKind::present: return "present";
  }
  return "overview";
}

std::optional<LayoutKind> layout_from_name(std::string_view name) {
  for (auto k : {LayoutKind::overview, LayoutKind::stepping, LayoutKind::compare, LayoutKind::present})
    if (layout_name(k) == name) return k;
  return std::nullopt;
}

bool Rect::overlaps(const Rect& o) const {
  if (empty() || o.empty()) return false;
  return x < o.x + o.w && o.x < x + w && y < o.y + o.h && o.y < y + h;
}

bool Rect::contains(const Rect& o) const {
  return o.x >= x && o.y >= y && o.x + o.w <= x + w && o.y + o.h <= y + h;
}

float collapsed_strip_width(float font_px) { return std::round(font_px * 2.2f); }

// Wide enough for a question's choices and a sentence of a dozen words at
// this font, never more than a third of the screen: the picture stays larger.
float lesson_column_width(float font_px, float w) { return std::round(std::clamp(font_px * 16.0f, w * 0.24f, w * 0.33f)); }

namespace {

// Whole pixels: windows that share an edge must not overlap by a fraction.
float px(float v) { return std::round(v); }

// Splits `r` among `ids` side by side (horizontal) or stacked.
void split(LayoutResult& out, const std::vector<WindowId>& ids, Rect r, bool horizontal) {
  if (ids.empty() || r.empty()) return;
  const auto n = static_cast<float>(ids.size());
  float at = horizontal ? r.x : r.y;
  const float end = horizontal ? r.x + r.w : r.y + r.h;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const float next = i + 1 == ids.size() ? end : px((horizontal ? r.x : r.y) + (horizontal ? r.w : r.h) * static_cast<float>(i + 1) / n);
    Rect part = horizontal ? Rect{at, r.y, next - at, r.h} : Rect{r.x, at, r.w, next - at};
    out.rects[index_of(ids[i])] = part;
    at = next;
  }
}

}  // namespace

LayoutResult compute_layout(const LayoutInput& in) {
  LayoutResult out;
  Rect a{px(in.area.x), px(in.area.y), px(in.area.w), px(in.area.h)};
  const float fs = in.font_px;
  if (a.empty()) return out;
  if (in.shown[index_of(WindowId::lesson)]) {
    const float lw = lesson_column_width(fs, a.w);
    out.rects[index_of(WindowId::lesson)] = Rect{a.x + a.w - lw, a.y, lw, a.h};
    a.w -= lw;
  }

  if (in.kind == LayoutKind::present) {
    out.rects[index_of(in.presented)] = a;
    const float lw = std::min(a.w * 0.6f, px(fs * 24.0f));
    const float lh = px(fs * 1.9f);
    out.legend = Rect{a.x + a.w - lw, a.y + a.h - lh, lw, lh};
    return out;
  }

  const bool stepping = in.kind == LayoutKind::stepping;
  std::array<std::vector<WindowId>, 8> slots;
  for (const auto& w : kWindows) {
    if (!in.shown[index_of(w.id)]) continue;
    const Slot slot = in.kind == LayoutKind::compare ? w.compare : stepping ? w.stepping : w.overview;
    slots[static_cast<std::size_t>(slot)].push_back(w.id);
  }
  auto in_slot = [&](Slot s) -> std::vector<WindowId>& { return slots[static_cast<std::size_t>(s)]; };

  if (in.kind == LayoutKind::compare) {
    // The live column (the tree over the totals) as wide as the tree needs
    // for the server and a child or two, at most a third; the Compare
    // window, which holds the results, gets the rest.
    const bool column = !in_slot(Slot::left).empty() || !in_slot(Slot::left_lower).empty();
    const float col_w =
        column ? px(std::clamp(tree_window_min_width(fs, TreeDetail::compact, 2), a.w * 0.26f, a.w * 0.34f)) : 0.0f;
    const bool both = !in_slot(Slot::left).empty() && !in_slot(Slot::left_lower).empty();
    const float top_h = both ? px(a.h * 0.55f) : a.h;
    split(out, in_slot(Slot::left), Rect{a.x, a.y, col_w, top_h}, false);
    split(out, in_slot(Slot::left_lower), Rect{a.x, a.y + (both ? top_h : 0.0f), col_w, both ? a.h - top_h : a.h},
          false);
    split(out, in_slot(Slot::main), Rect{a.x + col_w, a.y, a.w - col_w, a.h}, true);
    return out;
  }

  // The controls column: a quarter of the width at most, enough for its
  // widgets at this font at least, or a strip when collapsed.
  const bool has_left = !in_slot(Slot::left).empty() || !in_slot(Slot::left_lower).empty();
  float left_w = 0.0f;
  if (in.controls_collapsed) {
    left_w = collapsed_strip_width(fs);
    out.strip = Rect{a.x, a.y, left_w, a.h};
  } else if (has_left) {
    left_w = px(std::clamp(fs * 14.0f, a.w * 0.18f, a.w * 0.25f));
    const bool both = !in_slot(Slot::left).empty() && !in_slot(Slot::left_lower).empty();
    const float top_h = both ? px(a.h * (stepping ? 0.42f : 0.56f)) : a.h;
    split(out, in_slot(Slot::left), Rect{a.x, a.y, left_w, top_h}, false);
    split(out, in_slot(Slot::left_lower), Rect{a.x, a.y + (both ? top_h : 0.0f), left_w, both ? a.h - top_h : a.h},
          false);
  }
  const Rect r{a.x + left_w, a.y, a.w - left_w, a.h};

  if (!stepping) {
    // The tree first: room for the server and (up to) four of its children
    // at the least detail, whatever else is open. The side column takes what is left of
    // a third of the width; too little, and its windows join the lower row.
    const float tree_min_w = tree_window_min_width(fs, TreeDetail::compact, std::clamp(in.tree_children, 1, 4));
    const float tree_min_h = tree_window_min_height(fs, TreeDetail::compact);
    float side_w = in_slot(Slot::side).empty() ? 0.0f : std::min(px(r.w * 0.34f), px(r.w - tree_min_w));
    if (side_w < fs * 12.0f) {  // too narrow, or no room at all beside the tree
      auto& lower = in_slot(Slot::lower);
      lower.insert(lower.begin(), in_slot(Slot::side).begin(), in_slot(Slot::side).end());
      in_slot(Slot::side).clear();
    }
    if (in_slot(Slot::side).empty()) side_w = 0.0f;
    // Bottom strip, then the lower row; each yields to the tree's minimum.
    float bottom_h = in_slot(Slot::bottom).empty() ? 0.0f : px(std::clamp(a.h * 0.22f, fs * 7.5f, a.h * 0.3f));
    bottom_h = std::max(0.0f, std::min(bottom_h, px(r.h - tree_min_h - (in_slot(Slot::lower).empty() ? 0.0f : fs * 4.0f))));
    const float upper_h = r.h - bottom_h;
    float lower_h = in_slot(Slot::lower).empty() ? 0.0f : px(upper_h * 0.3f);
    lower_h = std::max(0.0f, std::min(lower_h, px(upper_h - tree_min_h)));
    const float top_h = upper_h - lower_h;
    split(out, in_slot(Slot::main), Rect{r.x, r.y, r.w - side_w, top_h}, true);
    split(out, in_slot(Slot::side), Rect{r.x + r.w - side_w, r.y, side_w, top_h}, false);
    split(out, in_slot(Slot::lower), Rect{r.x, r.y + top_h, r.w, lower_h}, true);
    split(out, in_slot(Slot::bottom), Rect{r.x, r.y + upper_h, r.w, bottom_h}, true);
    return out;
  }

  // Stepping: the top row (the tree | code, event loop, threads, lists),
  // the flow under it, across the whole width.
  const bool top_row = !in_slot(Slot::side).empty() || !in_slot(Slot::right).empty();
  // As tall as the tree needs at the least detail (large text, small
  // screen), short enough that the flow stays the largest.
  const float top_h =
      top_row ? px(std::min(std::max(r.h * 0.44f, tree_window_min_height(fs, TreeDetail::compact)), r.h * 0.6f)) : 0.0f;
  // Half each, but the tree keeps room for the server and the child being
  // stepped (a lesson's column can leave little), the code at least a dozen
  // characters.
  const float tree_w = std::max(r.w * 0.5f, std::min(tree_window_min_width(fs, TreeDetail::compact, 2), r.w - fs * 12.0f));
  const float left_half = in_slot(Slot::right).empty() ? r.w : (in_slot(Slot::side).empty() ? 0.0f : std::ceil(tree_w));
  split(out, in_slot(Slot::side), Rect{r.x, r.y, left_half, top_h}, false);
  split(out, in_slot(Slot::right), Rect{r.x + left_half, r.y, r.w - left_half, top_h}, false);
  split(out, in_slot(Slot::main), Rect{r.x, r.y + top_h, r.w, r.h - top_h}, true);
  return out;
}

}  // namespace sockscope::app
