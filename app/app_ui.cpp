#include "app_ui.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>

#include "lab_controller.h"
#include "servers/architecture.h"
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
    if (ImGui::MenuItem("Overview layout", nullptr, layout_ == Layout::overview)) set_layout(Layout::overview);
    if (ImGui::MenuItem("Stepping layout", nullptr, layout_ == Layout::stepping)) set_layout(Layout::stepping);
    ImGui::Separator();
    ImGui::MenuItem("Connections", nullptr, &show_connections_);
    ImGui::MenuItem("Event log", nullptr, &show_events_);
    ImGui::MenuItem("Timeline", nullptr, &show_timeline_);
    ImGui::MenuItem("Event loop", nullptr, &show_loop_);
    ImGui::MenuItem("Threads", nullptr, &show_threads_);
    ImGui::MenuItem("Stepping", nullptr, &show_step_);
    ImGui::MenuItem("Code", nullptr, &show_code_);
    ImGui::MenuItem("Connection flow", nullptr, &show_flow_);
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Debug")) {
    ImGui::MenuItem("ImGui demo", nullptr, &show_demo_);
    ImGui::MenuItem("ImGui metrics", nullptr, &show_metrics_);
    ImGui::EndMenu();
  }
  ImGui::EndMainMenuBar();
}

// Two layouts, in proportion to the window; each is applied once when chosen
// (after that imgui.ini, in the config dir, remembers what the user moved):
//  - overview: controls on the left, the tree big in the middle, connections
//    and events below it, the timeline along the bottom;
//  - stepping: the tree and the code side by side on top, the connection flow
//    below them, the Stepping panel under the controls; the connections list,
//    the event log and the timeline make room (the View menu brings them
//    back). Chosen by itself the first time the gates leave run mode.
void AppUi::draw_windows(FrameContext& ctx, FrameContext& live) {
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  // Below the menu bar and above the status bar. Computed from the viewport
  // itself: on the very first frame WorkPos does not yet know the menu bar.
  const float menu = ImGui::GetFrameHeight();
  const ImVec2 o(vp->Pos.x, vp->Pos.y + menu);
  const float w = vp->Size.x;
  const float h = vp->Size.y - menu - ImGui::GetFrameHeight() - ImGui::GetStyle().WindowPadding.y * 2.0f;
  const float fs = ImGui::GetFontSize();
  const float left = std::min(std::max(fs * 21.0f, w * 0.24f), w * 0.45f);

  if (live.lab && !stepping_auto_ && live.lab->lab().gates().mode() != trace::GateMode::run) {
    stepping_auto_ = true;
    set_layout(Layout::stepping);
  }
  const bool relayout_all = layout_ != laid_out_;
  laid_out_ = layout_;
  const ImGuiCond all = relayout_all ? ImGuiCond_Always : ImGuiCond_FirstUseEver;
  const bool stepping = layout_ == Layout::stepping;

  // The left column: controls, and under them the Stepping panel (live lab only).
  const float controls_h = live.lab && show_step_ ? std::round(h * 0.56f) : h;
  ImGui::SetNextWindowPos(o, all);
  ImGui::SetNextWindowSize(ImVec2(left, controls_h), all);
  controls_.draw(ctx);
  if (show_step_ && live.lab) {
    // Drawn on the live context: the gates are now, whatever instant is shown.
    ImGui::SetNextWindowPos(ImVec2(o.x, o.y + controls_h), all);
    ImGui::SetNextWindowSize(ImVec2(left, h - controls_h), all);
    step_.draw(live);
  }

  // The timeline is a strip along the bottom, right of the controls. Drawn on
  // the live context: its range runs to the newest data, whatever instant the
  // other views show.
  const float tl_h = show_timeline_ ? std::round(h * 0.3f) : 0.0f;
  if (show_timeline_) {
    ImGui::SetNextWindowPos(ImVec2(o.x + left, o.y + h - tl_h), all);
    ImGui::SetNextWindowSize(ImVec2(w - left, tl_h), all);
    timeline_.draw(live);
  }

  // An architecture-specific window (event loop, threads) shares the tree's
  // area: when one opens or closes, the two are laid out again once.
  const std::string& arch = ctx.session.meta().architecture;
  if (arch != auto_opened_for_) {
    auto_opened_for_ = arch;
    if (const servers::Architecture* a = servers::find_architecture(arch)) {
      if (a->opens(servers::kViewEventLoop)) show_loop_ = true;
      if (a->opens(servers::kViewThreads)) show_threads_ = true;
    }
  }
  const int sides = (show_loop_ ? 1 : 0) | (show_threads_ ? 2 : 0);
  const ImGuiCond relayout = relayout_all || sides != side_shown_ ? ImGuiCond_Always : ImGuiCond_FirstUseEver;
  side_shown_ = sides;
  const float area_w = w - left;
  const float area_h = h - tl_h;
  const float top = std::round(area_h * (stepping ? 0.55f : 0.58f));
  const float half = std::round(area_w * 0.5f);

  // Where the tree and the side windows go: the whole top row (overview), or
  // its left half, tree above the side windows (stepping; the code takes the
  // right half).
  ImVec2 tree_pos(o.x + left, o.y), tree_size;
  ImVec2 side_pos, side_size;
  if (!stepping) {
    tree_size = ImVec2(sides ? half : area_w, top);
    side_pos = ImVec2(o.x + left + half, o.y);
    side_size = ImVec2(area_w - half, top);
  } else {
    const float tree_h = sides ? std::round(top * 0.4f) : top;
    tree_size = ImVec2(half, tree_h);
    side_pos = ImVec2(o.x + left, o.y + tree_h);
    side_size = ImVec2(half, top - tree_h);
  }
  ImGui::SetNextWindowPos(tree_pos, relayout);
  ImGui::SetNextWindowSize(tree_size, relayout);
  tree_.draw(ctx);
  // Both side windows open: they split their area top and bottom.
  const float side_h1 = sides == 3 ? std::round(side_size.y * 0.5f) : side_size.y;
  if (show_loop_) {
    ImGui::SetNextWindowPos(side_pos, relayout);
    ImGui::SetNextWindowSize(ImVec2(side_size.x, side_h1), relayout);
    loop_.draw(ctx);
  }
  if (show_threads_) {
    ImGui::SetNextWindowPos(ImVec2(side_pos.x, side_pos.y + (sides == 3 ? side_h1 : 0.0f)), relayout);
    ImGui::SetNextWindowSize(ImVec2(side_size.x, sides == 3 ? side_size.y - side_h1 : side_size.y), relayout);
    threads_.draw(ctx);
  }

  const float mid = std::round(area_w * 0.5f);
  if (show_connections_) {
    ImGui::SetNextWindowPos(ImVec2(o.x + left, o.y + top), all);
    ImGui::SetNextWindowSize(ImVec2(mid, area_h - top), all);
    connections_.draw(ctx);
  }
  if (show_events_) {
    ImGui::SetNextWindowPos(ImVec2(o.x + left + mid, o.y + top), all);
    ImGui::SetNextWindowSize(ImVec2(area_w - mid, area_h - top), all);
    events_.draw(ctx);
  }
  if (show_code_) {
    ImGui::SetNextWindowPos(stepping ? ImVec2(o.x + left + half, o.y) : ImVec2(o.x + left + fs * 2.0f, o.y + fs * 2.0f), all);
    ImGui::SetNextWindowSize(ImVec2(stepping ? area_w - half : fs * 44.0f, top), all);
    code_.draw(ctx);
  }
  if (show_flow_) {
    ImGui::SetNextWindowPos(stepping ? ImVec2(o.x + left, o.y + top) : ImVec2(o.x + left + fs * 3.0f, o.y + top - fs * 6.0f), all);
    ImGui::SetNextWindowSize(ImVec2(stepping ? area_w : area_w * 0.7f, area_h - top), all);
    flow_.draw(ctx);
  }
}

void AppUi::restore_layout(Layout layout) {
  set_layout(layout);
  laid_out_ = layout;
  // A teacher who left in the stepping layout is not moved again by the
  // first Pause.
  stepping_auto_ = layout == Layout::stepping;
}

void AppUi::set_layout(Layout layout) {
  layout_ = layout;
  const bool stepping = layout == Layout::stepping;
  // The flow diagram shows the newest connections call by call, so in the
  // stepping layout it takes the place of the connections list and the log.
  show_code_ = stepping || show_code_;
  show_flow_ = stepping;
  show_connections_ = !stepping;
  show_events_ = !stepping;
  show_timeline_ = !stepping;
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
  if (auto t = timeline_.instant()) {
    at.emplace(FrameContext{live.session, model_at(live.session, *t), *t, live.lab, live.fps});
    at->at_instant = true;
  }
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
