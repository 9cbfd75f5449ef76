// The frame function: the menu bar and the window table's windows, each one
// view's draw(), placed by the layout (layout.h). Knows nothing about GLFW or
// OpenGL, so the headless frame test and the benchmark draw exactly what the
// window draws.
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "frame.h"
#include "layout.h"
#include "views/code_view.h"
#include "views/compare_view.h"
#include "views/connections_view.h"
#include "views/controls_view.h"
#include "views/event_log_view.h"
#include "views/event_loop_view.h"
#include "views/export_view.h"
#include "views/flow_view.h"
#include "views/lesson_view.h"
#include "views/process_tree_view.h"
#include "views/step_view.h"
#include "views/style.h"
#include "views/threads_view.h"
#include "views/timeline_view.h"
#include "views/totals_view.h"

namespace sockscope::app {

class AppUi {
 public:
  AppUi();
  AppUi(const AppUi&) = delete;
  AppUi& operator=(const AppUi&) = delete;

  // Draws one frame's windows; call between ImGui::NewFrame() and
  // ImGui::Render(), inside the session's read lock (ctx holds references).
  void draw(FrameContext& ctx);

  // Requests the shell acts on between frames.
  float font_px = kDefaultFontPx;
  bool font_changed = false;  // the shell rebuilds the font atlas and clears this
  style::Theme theme = style::Theme::dark;
  bool theme_changed = false;  // the shell re-applies the theme and clears this
  bool quit_requested = false;
  bool fullscreen_requested = false;  // View > Full screen (F11): the shell toggles and clears this
  // File → Open produced a session to show (the shell takes it, clears this).
  std::optional<session::Session> opened_session;
  std::string opened_title;
  // Set by the shell while a recording is shown in a live window: File offers
  // "Back to the live lab", which sets return_to_lab_requested.
  bool can_return_to_lab = false;
  bool return_to_lab_requested = false;

  TimelineView& timeline() { return timeline_; }

  // Lessons. tick() runs before each frame is drawn, outside the session's
  // lock: the lesson's verbs and queries (which take it) run there.
  void tick(LabController* live) { lesson_.update(live, *this, lesson_progress); }
  // Opens a lesson file in the panel (the right-hand column). False, and
  // `error` ("FILE:LINE: reason"), when it does not parse.
  bool open_lesson(const std::filesystem::path& path, std::string& error);
  void close_lesson();
  LessonView& lesson_view() { return lesson_; }
  void open_start_here() { start_here_.open(); }
  bool start_here_open() const { return start_here_.is_open(); }
  // How far the student got in each lesson (remembered in the settings).
  LessonProgressMap lesson_progress;

  // The live lab's comparison runner (owned by the shell, outliving this
  // AppUi's use of it); nullptr on a recording.
  void set_compare_run(CompareRun* run) { compare_run_ = run; }
  CompareRun* compare_run() { return compare_run_; }
  CompareView& compare_view() { return compare_; }
  // The Compare window's PNG of its charts: what to write now (the shell
  // crops the frame to it), and the shell's report.
  std::optional<CompareView::PngRequest> due_compare_png() { return compare_.due_png(); }
  void compare_png_written(bool ok, const std::string& message) { compare_.png_written(ok, message); }
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

  // Window arrangements (View menu). Choosing overview or stepping shows that
  // layout's windows and hides the rest; present shows one window (`shown`)
  // over the whole screen in larger text, until leave_present().
  using Layout = LayoutKind;
  void set_layout(Layout layout);
  Layout layout() const { return layout_; }
  // The layout to come back to from presentation mode (what to remember).
  Layout working_layout() const { return layout_ == Layout::present ? before_present_ : layout_; }
  void present(WindowId shown);
  void leave_present();
  void toggle_present();  // F5 and View > Present
  WindowId presented() const { return presented_; }
  // Collapses the controls column to a strip (Tab) or expands it.
  void set_controls_collapsed(bool collapsed) { controls_collapsed_ = collapsed; }
  bool controls_collapsed() const { return controls_collapsed_; }
  bool shown(WindowId id) const { return windows_[index_of(id)].shown; }
  void show(WindowId id, bool on) { windows_[index_of(id)].shown = on; }
  // The text size to remember: not presentation mode's larger one.
  float saved_font_px() const { return layout_ == Layout::present ? font_before_present_ : font_px; }

  const CodeView& code_view() const { return code_; }
  const FlowView& flow_view() const { return flow_; }
  const ProcessTreeView& tree_view() const { return tree_; }

  // What the last frame drew, for dump-model: the layout, each drawn
  // window's rectangle, the tree's folded nodes.
  nlohmann::json drawn_json() const;
  nlohmann::json lesson_json() const;

  void change_font(float delta);
  void set_font(float px);
  void set_theme(style::Theme t);

 private:
  static constexpr double kLegendSeconds = 6.0;  // presentation's key legend, after it starts or the view changes
  // One row of the window table (kWindows holds the rest of it).
  struct WindowRow {
    bool shown = false;
    bool live_ctx = false;  // drawn on the live context, whatever instant is shown
    std::function<void(FrameContext&)> draw;
  };

  void draw_menu(FrameContext& ctx);
  void draw_windows(FrameContext& ctx, FrameContext& live);
  void draw_strip();
  void draw_legend(const Rect& where, FrameContext& ctx);
  void show_legend_a_while();
  void handle_keys(FrameContext& live);
  // The session folded at the selected instant, cached until the instant
  // crosses an event or snapshot, or the store changes.
  const session::Model& model_at(const session::Session& s, std::uint64_t t);

  ControlsView controls_;
  StepView step_;
  ProcessTreeView tree_;
  EventLoopView loop_;
  ThreadsView threads_;
  CodeView code_;
  ConnectionsView connections_;
  EventLogView events_;
  TotalsView totals_;
  FlowView flow_;
  TimelineView timeline_;
  CompareView compare_;
  CompareRun* compare_run_ = nullptr;
  LessonView lesson_;
  StartHereView start_here_;
  ExportView export_;
  OpenSessionDialog open_dialog_;
  std::array<WindowRow, kWindowCount> windows_;

  Layout layout_ = Layout::overview;
  Layout before_present_ = Layout::overview;
  WindowId presented_ = WindowId::tree;
  float font_before_present_ = kDefaultFontPx;
  // Presentation mode's key legend shows until then (ImGui's clock), and
  // while the pointer is on its corner.
  double legend_until_ = 0.0;
  bool controls_collapsed_ = false;
  bool stepping_auto_ = false;  // the stepping layout was chosen once by itself
  std::optional<LayoutInput> applied_;  // the input of the rectangles last applied
  LayoutResult placed_;
  std::array<std::optional<Rect>, kWindowCount> drawn_{};
  std::string auto_opened_for_;

  std::uint64_t shown_at_ns_ = 0;
  session::Model instant_model_;
  const session::Session* instant_session_ = nullptr;
  std::uint64_t instant_generation_ = ~std::uint64_t{0};
  std::size_t instant_events_ = 0, instant_snapshots_ = 0;
  bool show_demo_ = false;
  bool show_metrics_ = false;
};

}  // namespace sockscope::app
