// The frame function: the menu bar and a flat list of windows, each one view's
// draw(). Knows nothing about GLFW or OpenGL, so the headless frame test and
// the benchmark draw exactly what the window draws.
#pragma once

#include <string>

#include "frame.h"
#include "views/connections_view.h"
#include "views/controls_view.h"
#include "views/event_log_view.h"
#include "views/event_loop_view.h"
#include "views/export_view.h"
#include "views/process_tree_view.h"
#include "views/style.h"

namespace sockscope::app {

inline constexpr float kDefaultFontPx = 19.0f;
inline constexpr float kMinFontPx = 10.0f;
inline constexpr float kMaxFontPx = 48.0f;

class AppUi {
 public:
  // Draws one frame's windows; call between ImGui::NewFrame() and
  // ImGui::Render(), inside the session's read lock (ctx holds references).
  void draw(FrameContext& ctx);

  // Requests the shell acts on between frames.
  float font_px = kDefaultFontPx;
  bool font_changed = false;  // the shell rebuilds the font atlas and clears this
  style::Theme theme = style::Theme::dark;
  bool theme_changed = false;  // the shell re-applies the theme and clears this
  bool quit_requested = false;

  void change_font(float delta);
  void set_font(float px);
  void set_theme(style::Theme t);

 private:
  void draw_menu(FrameContext& ctx);
  void draw_windows(FrameContext& ctx);

  ControlsView controls_;
  ProcessTreeView tree_;
  ConnectionsView connections_;
  EventLogView events_;
  ExportView export_;
  EventLoopView loop_;
  // Architecture-specific windows open by themselves when a session of that
  // architecture appears, and stay under the user's control afterwards.
  bool show_loop_ = false;
  bool side_shown_ = false;  // whether the last layout gave the tree's right half away
  std::string auto_opened_for_;
  bool show_demo_ = false;
  bool show_metrics_ = false;
};

}  // namespace sockscope::app
