#include "app_ui.h"

#include <imgui.h>

#include <algorithm>
#include <cmath>

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
    ImGui::MenuItem("Event loop", nullptr, &show_loop_);
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
void AppUi::draw_windows(FrameContext& ctx) {
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  const float fs = ImGui::GetFontSize();
  // Below the menu bar and above the status bar. Computed from the viewport
  // itself: on the very first frame WorkPos does not yet know the menu bar.
  const float menu = ImGui::GetFrameHeight();
  const ImVec2 o(vp->Pos.x, vp->Pos.y + menu);
  const float w = vp->Size.x;
  const float h = vp->Size.y - menu - ImGui::GetFrameHeight() - ImGui::GetStyle().WindowPadding.y * 2.0f;
  const float left = std::min(std::max(fs * 21.0f, w * 0.24f), w * 0.45f);
  const float top = std::round(h * 0.58f);
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
  }
  const bool side = show_loop_;
  const ImGuiCond relayout = side != side_shown_ ? ImGuiCond_Always : ImGuiCond_FirstUseEver;
  side_shown_ = side;
  const float tree_w = side ? std::round((w - left) * 0.5f) : w - left;
  ImGui::SetNextWindowPos(ImVec2(o.x + left, o.y), relayout);
  ImGui::SetNextWindowSize(ImVec2(tree_w, top), relayout);
  tree_.draw(ctx);
  ImGui::SetNextWindowPos(ImVec2(o.x + left, o.y + top), ImGuiCond_FirstUseEver);
  ImGui::SetNextWindowSize(ImVec2(mid, h - top), ImGuiCond_FirstUseEver);
  connections_.draw(ctx);
  ImGui::SetNextWindowPos(ImVec2(o.x + left + mid, o.y + top), ImGuiCond_FirstUseEver);
  ImGui::SetNextWindowSize(ImVec2(w - left - mid, h - top), ImGuiCond_FirstUseEver);
  events_.draw(ctx);

  if (show_loop_) {
    ImGui::SetNextWindowPos(ImVec2(o.x + left + tree_w, o.y), relayout);
    ImGui::SetNextWindowSize(ImVec2(w - left - tree_w, top), relayout);
    loop_.draw(ctx);
  }
}

void AppUi::draw(FrameContext& ctx) {
  draw_menu(ctx);
  draw_windows(ctx);
  draw_status_bar(ctx);
  export_.draw(ctx);
  if (show_demo_) ImGui::ShowDemoWindow(&show_demo_);
  if (show_metrics_) ImGui::ShowMetricsWindow(&show_metrics_);
}

}  // namespace sockscope::app
