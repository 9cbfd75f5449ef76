#include "app_ui.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>

#include "lab_controller.h"
#include "views/status_bar.h"

namespace sockscope::app {

void AppUi::change_font(float delta) { set_font(font_px + delta); }

void AppUi::set_font(float px) {
  px = std::clamp(std::round(px), kMinFontPx, kMaxFontPx);
  if (px != font_px) {
    font_px = px;
    font_changed = true;
  }
}

void AppUi::set_theme(style::Theme t) {
  if (t != theme) {
    theme = t;
    theme_changed = true;
  }
}

void AppUi::draw_menu(FrameContext& ctx) {
  if (!ImGui::BeginMainMenuBar()) return;
  if (ImGui::BeginMenu("File")) {
    if (ImGui::MenuItem("Open session...")) open_dialog_.request_open();
    if (can_return_to_lab && ImGui::MenuItem("Back to the live lab")) return_to_lab_requested = true;
    if (ImGui::MenuItem("Export session...", nullptr, false, !export_.busy())) export_.request_open();
    ImGui::Separator();
    if (ImGui::MenuItem("Quit", "Ctrl+Q")) quit_requested = true;
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("View")) {
    if (ImGui::MenuItem("Larger text", "Ctrl+=")) change_font(2.0f);
    if (ImGui::MenuItem("Smaller text", "Ctrl+-")) change_font(-2.0f);
    if (ImGui::MenuItem("Default text size", "Ctrl+0")) set_font(kDefaultFontPx);
    ImGui::Text("text size: %.0f px", font_px);
    ImGui::Separator();
    if (ImGui::MenuItem("Dark theme", nullptr, theme == style::Theme::dark)) set_theme(style::Theme::dark);
    if (ImGui::MenuItem("Light theme", nullptr, theme == style::Theme::light)) set_theme(style::Theme::light);
    ImGui::Separator();
    ImGui::MenuItem("Timeline", nullptr, &show_timeline_);
    ImGui::MenuItem("Event loop", nullptr, &show_loop_);
    ImGui::MenuItem("Threads", nullptr, &show_threads_);
    ImGui::MenuItem("Stepping", nullptr, &show_step_);
    ImGui::MenuItem("Code", nullptr, &show_code_);
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Debug")) {
    ImGui::MenuItem("ImGui demo", nullptr, &show_demo_);
    ImGui::MenuItem("ImGui metrics", nullptr, &show_metrics_);
    ImGui::EndMenu();
  }
  ImGui::EndMainMenuBar();
}

// First-use layout, in proportion to the window: controls on the left, the
// tree big in the middle, connections and events below it. After the first
// run imgui.ini (in the config dir) remembers what the user moved.
void AppUi::draw_windows(FrameContext& ctx, FrameContext& live) {
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  const float fs = ImGui::GetFontSize();
  // Below the menu bar and above the status bar. Computed from the viewport
  // itself: on the very first frame WorkPos does not yet know the menu bar.
  const float menu = ImGui::GetFrameHeight();
  const ImVec2 o(vp->Pos.x, vp->Pos.y + menu);
  const float w = vp->Size.x;
  const float h = vp->Size.y - menu - ImGui::GetFrameHeight() - ImGui::GetStyle().WindowPadding.y * 2.0f;
  const float left = std::min(std::max(fs * 21.0f, w * 0.24f), w * 0.45f);
  // The timeline is a strip along the bottom, right of the controls.
  const float tl_h = show_timeline_ ? std::round(h * 0.3f) : 0.0f;
  const float top = std::round((h - tl_h) * 0.58f);
  const float mid = std::round((w - left) * 0.5f);
  ImGui::SetNextWindowPos(o, ImGuiCond_FirstUseEver);
  ImGui::SetNextWindowSize(ImVec2(left, h), ImGuiCond_FirstUseEver);
  controls_.draw(ctx);
  // An architecture-specific window (event loop) shares the tree's area: when
  // one opens or closes, the two are laid out side by side once; after that
  // the user may move them as they like.
  const std::string& arch = ctx.session.meta().architecture;
  if (arch != auto_opened_for_) {
    auto_opened_for_ = arch;
    if (arch == "evloop" || arch == "hybrid" || arch == "prefork") show_loop_ = true;
    if (arch == "thread" || arch == "pool") show_threads_ = true;
  }
  const int sides = (show_loop_ ? 1 : 0) | (show_threads_ ? 2 : 0);
  const bool side = sides != 0;
  const ImGuiCond relayout = sides != side_shown_ ? ImGuiCond_Always : ImGuiCond_FirstUseEver;
  side_shown_ = sides;
  const float tree_w = side ? std::round((w - left) * 0.5f) : w - left;
  // Both side windows open: they split the right half top and bottom.
  const float side_h = sides == 3 ? std::round(top * 0.5f) : top;
  ImGui::SetNextWindowPos(ImVec2(o.x + left, o.y), relayout);
  ImGui::SetNextWindowSize(ImVec2(tree_w, top), relayout);
  tree_.draw(ctx);
  ImGui::SetNextWindowPos(ImVec2(o.x + left, o.y + top), ImGuiCond_FirstUseEver);
  ImGui::SetNextWindowSize(ImVec2(mid, h - tl_h - top), ImGuiCond_FirstUseEver);
  connections_.draw(ctx);
  ImGui::SetNextWindowPos(ImVec2(o.x + left + mid, o.y + top), ImGuiCond_FirstUseEver);
  ImGui::SetNextWindowSize(ImVec2(w - left - mid, h - tl_h - top), ImGuiCond_FirstUseEver);
  events_.draw(ctx);
  if (show_timeline_) {
    // Drawn on the live context: its range runs to the newest data, whatever
    // instant the other views show.
    ImGui::SetNextWindowPos(ImVec2(o.x + left, o.y + h - tl_h), ImGuiCond_FirstUseEver);
    ImGui::SetNextWindowSize(ImVec2(w - left, tl_h), ImGuiCond_FirstUseEver);
    timeline_.draw(live);
  }

  if (show_loop_) {
    ImGui::SetNextWindowPos(ImVec2(o.x + left + tree_w, o.y), relayout);
    ImGui::SetNextWindowSize(ImVec2(w - left - tree_w, side_h), relayout);
    loop_.draw(ctx);
  }
  // Stepping: a small window over the tree's top-right corner at first use;
  // drawn on the live context (the gates are now, whatever instant is shown).
  if (show_step_ && live.lab) {
    ImGui::SetNextWindowPos(ImVec2(o.x + w - fs * 30.0f, o.y + fs * 2.0f), ImGuiCond_FirstUseEver);
    ImGui::SetNextWindowSize(ImVec2(fs * 29.0f, fs * 12.0f), ImGuiCond_FirstUseEver);
    step_.draw(live);
  }
  if (live.lab && !code_auto_opened_ && live.lab->lab().gates().mode() != trace::GateMode::run) {
    code_auto_opened_ = true;
    show_code_ = true;
  }
  if (show_code_) {
    ImGui::SetNextWindowPos(ImVec2(o.x + left + fs * 2.0f, o.y + fs * 2.0f), ImGuiCond_FirstUseEver);
    ImGui::SetNextWindowSize(ImVec2(fs * 44.0f, top), ImGuiCond_FirstUseEver);
    code_.draw(live);
  }
  if (show_threads_) {
    ImGui::SetNextWindowPos(ImVec2(o.x + left + tree_w, o.y + (sides == 3 ? side_h : 0.0f)), relayout);
    ImGui::SetNextWindowSize(ImVec2(w - left - tree_w, sides == 3 ? top - side_h : top), relayout);
    threads_.draw(ctx);
  }
}

const session::Model& AppUi::model_at(const session::Session& s, std::uint64_t t) {
  const std::size_t events = s.lower_bound(t == ~std::uint64_t{0} ? t : t + 1);
  const auto& snaps = s.snapshots();
  const auto snapshots = static_cast<std::size_t>(
      std::partition_point(snaps.begin(), snaps.end(), [&](const session::ProcSnapshot& x) { return x.ts_ns <= t; }) -
      snaps.begin());
  if (&s != instant_session_ || s.generation() != instant_generation_ || events != instant_events_ ||
      snapshots != instant_snapshots_) {
    instant_model_ = s.fold(t);
    instant_session_ = &s;
    instant_generation_ = s.generation();
    instant_events_ = events;
    instant_snapshots_ = snapshots;
  }
  return instant_model_;
}

void AppUi::draw(FrameContext& live) {
  // A selected instant (timeline click, replay scrubber) drives every view:
  // they get the session folded there, and `now` is that instant. No
  // instant: the live model, following the newest data.
  timeline_.tick(live.session, ImGui::GetIO().DeltaTime);
  std::optional<FrameContext> at;
  if (auto t = timeline_.instant())
    at.emplace(FrameContext{live.session, model_at(live.session, *t), *t, live.lab, live.fps});
  FrameContext& ctx = at ? *at : live;
  shown_at_ns_ = ctx.model.at_ns;
  draw_menu(ctx);
  draw_windows(ctx, live);
  draw_status_bar(ctx);
  export_.draw(ctx);
  open_dialog_.draw(opened_session, opened_title);
  if (at) live.wants_redraw = live.wants_redraw || at->wants_redraw;
  if (show_demo_) ImGui::ShowDemoWindow(&show_demo_);
  if (show_metrics_) ImGui::ShowMetricsWindow(&show_metrics_);
}

}  // namespace sockscope::app
