// The process tree's node sizes per level of detail, in units of the font
// size: shared by the tree view (which picks the most detailed level that
// fits) and the layout (which gives the tree at least room for the server
// and four children at the least detailed level).
#pragma once

namespace sockscope::app {

enum class TreeDetail { full, medium, compact };

struct TreeMetrics {
  float node_w = 260.0f;
  float node_h = 100.0f;
  float pill_h = 28.0f;  // a client pill under the process that serves it
  float h_gap = 24.0f;
  float v_gap = 48.0f;
  float width = 1000.0f;  // available width: leaf rows wrap to it
};

constexpr TreeMetrics tree_metrics(float fs, TreeDetail d, float width) {
  switch (d) {
    case TreeDetail::full: return {fs * 13.5f, fs * 5.4f, fs * 1.35f, fs * 1.2f, fs * 2.4f, width};
    case TreeDetail::medium: return {fs * 9.5f, fs * 4.0f, fs * 1.35f, fs * 1.0f, fs * 1.8f, width};
    case TreeDetail::compact: return {fs * 6.0f, fs * 2.7f, fs * 1.35f, fs * 0.8f, fs * 1.4f, width};
  }
  return {};
}

// The tree window's own lines above its canvas (title bar, the toolbar
// row, padding), in font sizes.
inline constexpr float kTreeChromeLines = 4.2f;

// The window size that shows the server and `children` leaf children in one
// row, each serving one connection (a pill under it), at detail `d`.
constexpr float tree_window_min_width(float fs, TreeDetail d, int children) {
  const TreeMetrics m = tree_metrics(fs, d, 0.0f);
  return static_cast<float>(children) * (m.node_w + m.h_gap) - m.h_gap + fs * 1.6f;
}
constexpr float tree_window_min_height(float fs, TreeDetail d) {
  const TreeMetrics m = tree_metrics(fs, d, 0.0f);
  return fs * kTreeChromeLines + m.node_h + m.v_gap + m.node_h + 6.0f + m.pill_h + 4.0f + fs * 0.6f;
}

}  // namespace sockscope::app
