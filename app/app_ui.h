// The frame function: the menu bar and a flat list of windows, each one view's
// draw(). Knows nothing about GLFW or OpenGL, so the headless frame test and
// the benchmark draw exactly what the window draws.
#pragma once

#include <optional>
#include <string>

#include "frame.h"
#include "views/connections_view.h"
#include "views/controls_view.h"
#include "views/event_log_view.h"
#include "views/event_loop_view.h"
#include "views/export_view.h"
#include "views/process_tree_view.h"
#include "views/threads_view.h"
#include "views/timeline_view.h"
#include "views/step_view.h"
#include "views/code_view.h"
#include "views/flow_view.h"
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
  // File → Open produced a session to show (the shell takes it, clears this).
  std::optional<session::Session> opened_session;
  std::string opened_title;
  // Set by the shell while a recording is shown in a live window: File offers
  // "Back to the live lab", which sets return_to_lab_requested.
  bool can_return_to_lab = false;
  bool return_to_lab_requested = false;

  TimelineView& timeline() { return timeline_; }
  // The fold instant (Model::at_ns) every view was given in the last frame.
  std::uint64_t shown_at_ns() const { return shown_at_ns_; }

  // File > Export > PNG: the path to write now (empty when none is due), and
  // the shell's report after writing it.
  std::string due_png() { return export_.due_png(); }
  void png_written(bool ok, const std::string& message) { export_.png_written(ok, message); }
  // File > Export's Export button, for --script: see ExportView::request_export.
  std::uint64_t request_export(ExportFormat format, const std::string& path, std::string& error) {
    return export_.request_export(format, path, error);
  }
  std::optional<ExportOutcome> export_outcome(std::uint64_t ticket) const { return export_.outcome(ticket); }

  // Window arrangements (View menu); each is applied once when chosen.
  enum class Layout { overview, stepping };
  void set_layout(Layout layout);
  // At start-up: the layout imgui.ini's window positions were saved in,
  // taken as already laid out (the positions stay as the user left them).
  void restore_layout(Layout layout);
  Layout layout() const { return layout_; }
  const CodeView& code_view() const { return code_; }
  const FlowView& flow_view() const { return flow_; }

  void change_font(float delta);
  void set_font(float px);
  void set_theme(style::Theme t);

 private:
  void draw_menu(FrameContext& ctx);
  void draw_windows(FrameContext& ctx, FrameContext& live);
  // The session folded at the selected instant, cached until the instant
  // crosses an event or snapshot, or the store changes.
  const session::Model& model_at(const session::Session& s, std::uint64_t t);

  ControlsView controls_;
  ProcessTreeView tree_;
  ConnectionsView connections_;
  EventLogView events_;
  ExportView export_;
  EventLoopView loop_;
  // Architecture-specific windows open by themselves when a session of that
  // architecture appears, and stay under the user's control afterwards.
  ThreadsView threads_;
  // Step controls and the waiting-at-gates panel (live lab only).
  StepView step_;
  bool show_step_ = true;
  // The server source with a cursor per parked process, and the connection
  // flow: both open, in the stepping layout, the first time the gates leave
  // run mode.
  CodeView code_;
  bool show_code_ = false;
  FlowView flow_;
  bool show_flow_ = false;
  bool stepping_auto_ = false;
  Layout layout_ = Layout::overview;
  Layout laid_out_ = Layout::overview;
  bool show_connections_ = true;
  bool show_events_ = true;
  bool show_loop_ = false;
  bool show_threads_ = false;
  int side_shown_ = 0;  // which side windows (bit 0 loop, bit 1 threads) the last layout made room for
  std::string auto_opened_for_;
  TimelineView timeline_;
  OpenSessionDialog open_dialog_;
  bool show_timeline_ = true;
  std::uint64_t shown_at_ns_ = 0;
  session::Model instant_model_;
  const session::Session* instant_session_ = nullptr;
  std::uint64_t instant_generation_ = ~std::uint64_t{0};
  std::size_t instant_events_ = 0, instant_snapshots_ = 0;
  bool show_demo_ = false;
  bool show_metrics_ = false;
};

}  // namespace sockscope::app
