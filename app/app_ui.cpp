#include "app_ui.h"

#include <imgui.h>
#include <imgui_internal.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "compare/report.h"
#include "compare_run.h"
#include "lab_controller.h"
#include "servers/architecture.h"
#include "views/status_bar.h"

namespace sockscope::app {

AppUi::AppUi() {
  auto row = [&](WindowId id, bool shown, bool live_ctx, std::function<void(FrameContext&)> draw) {
    windows_[index_of(id)] = WindowRow{shown, live_ctx, std::move(draw)};
  };
  row(WindowId::controls, true, false, [this](FrameContext& c) { controls_.draw(c); });
  // The gates are now, whatever instant is shown.
  row(WindowId::stepping, true, true, [this](FrameContext& c) { step_.draw(c); });
  row(WindowId::tree, true, false, [this](FrameContext& c) { tree_.draw(c); });
  row(WindowId::event_loop, false, false, [this](FrameContext& c) { loop_.draw(c); });
  row(WindowId::threads, false, false, [this](FrameContext& c) { threads_.draw(c); });
  row(WindowId::code, false, false, [this](FrameContext& c) { code_.draw(c); });
  row(WindowId::connections, true, false, [this](FrameContext& c) { connections_.draw(c); });
  row(WindowId::events, true, false, [this](FrameContext& c) { events_.draw(c); });
  row(WindowId::totals, true, false, [this](FrameContext& c) { totals_.draw(c); });
  row(WindowId::flow, false, false, [this](FrameContext& c) { flow_.draw(c); });
  // Its range runs to the newest data, whatever instant the others show.
  row(WindowId::timeline, true, true, [this](FrameContext& c) { timeline_.draw(c); });
  // A comparison runs on the live lab, whatever instant is shown.
  row(WindowId::compare, false, true, [this](FrameContext& c) { compare_.draw(c, c.lab ? compare_run_ : nullptr); });
  // A lesson runs on the live lab, whatever instant is shown.
  row(WindowId::lesson, false, true, [this](FrameContext& c) { lesson_.draw(c); });
  // Every export carries the lesson's summary while one is open.
  export_.set_attachment([this] { return lesson_.player() != nullptr ? lesson_.player()->summary() : std::string(); });
}

bool AppUi::open_lesson(const std::filesystem::path& path, std::string& error) {
  if (!lesson_.open(path, error)) return false;
  show(WindowId::lesson, true);
  // The lesson's column takes room: the lists (connections, the event log,
  // the timeline) make way for the picture; the View menu brings them back.
  for (WindowId id : {WindowId::connections, WindowId::events, WindowId::timeline}) show(id, false);
  return true;
}

void AppUi::close_lesson() {
  lesson_.close();
  show(WindowId::lesson, false);
}

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
    if (ImGui::MenuItem("Present", "F5")) present(presented_);
    if (ImGui::MenuItem("Full screen", "F11")) fullscreen_requested = true;
    if (ImGui::MenuItem("Hide the controls", "Tab", controls_collapsed_)) controls_collapsed_ = !controls_collapsed_;
    ImGui::Separator();
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
    if (ctx.lab != nullptr && ImGui::MenuItem("Compare layout", nullptr, layout_ == Layout::compare))
      set_layout(Layout::compare);
    ImGui::Separator();
    for (const auto& w : kWindows) {
      if (w.id == WindowId::controls || (w.live_only && ctx.lab == nullptr)) continue;
      ImGui::MenuItem(std::string(w.name).c_str(), nullptr, &windows_[index_of(w.id)].shown);
    }
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Help")) {
    if (ImGui::MenuItem("Lessons...")) start_here_.open();
    if (lesson_.active() && ImGui::MenuItem("Close the lesson")) close_lesson();
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Debug")) {
    ImGui::MenuItem("ImGui demo", nullptr, &show_demo_);
    ImGui::MenuItem("ImGui metrics", nullptr, &show_metrics_);
    ImGui::EndMenu();
  }
  ImGui::EndMainMenuBar();
}

void AppUi::set_layout(Layout layout) {
  if (layout == Layout::present) {
    present(presented_);
    return;
  }
  if (layout_ == Layout::present) leave_present();
  layout_ = layout;
  // Each layout shows its own windows: in the stepping layout the flow
  // diagram (the newest connections call by call) takes the place of the
  // connections list, the log and the timeline; the View menu brings any of
  // them back.
  for (const auto& w : kWindows) {
    const Slot slot = layout == Layout::stepping ? w.stepping : layout == Layout::compare ? w.compare : w.overview;
    bool& on = windows_[index_of(w.id)].shown;
    if (layout == Layout::compare) {
      // The comparison beside the server it is measuring, nothing else (and
      // the lesson that asked for it).
      on = slot != Slot::none || (w.id == WindowId::lesson && lesson_.active());
      continue;
    }
    switch (w.id) {
      case WindowId::lesson: break;  // open while a lesson is
      case WindowId::controls: case WindowId::stepping: case WindowId::tree: on = true; break;
      case WindowId::compare: on = false; break;
      case WindowId::code: case WindowId::flow: on = layout == Layout::stepping; break;
      case WindowId::totals: on = layout == Layout::overview; break;
      case WindowId::connections: case WindowId::events: case WindowId::timeline:
        // A lesson's column takes their room.
        on = layout == Layout::overview && !lesson_.active();
        break;
      default: on = on && slot != Slot::none; break;  // event loop, threads: as the architecture chose
    }
  }
}

void AppUi::present(WindowId shown) {
  if (window_spec(shown).present_key == 0) shown = WindowId::tree;
  presented_ = shown;
  show_legend_a_while();
  if (layout_ != Layout::present) {
    before_present_ = layout_;
    font_before_present_ = font_px;
    layout_ = Layout::present;
    // The back row: at least 26 px, a third larger than the desk's text.
    set_font(std::max(font_px * 1.35f, 26.0f));
  }
}

void AppUi::leave_present() {
  if (layout_ != Layout::present) return;
  layout_ = before_present_;
  set_font(font_before_present_);
}

void AppUi::toggle_present() {
  if (layout_ == Layout::present) leave_present();
  else present(presented_);
}

// Keys that work wherever the focus is (no text field taking them): Tab
// collapses the controls; in presentation mode Esc leaves and the number
// keys switch the view; the stepping keys are the Stepping panel's, drawn or
// not.
void AppUi::handle_keys(FrameContext& live) {
  // Space, Shift+Space, R, P and U step the servers whether or not the
  // Stepping panel is on screen; a Step stage run moves on every frame.
  if (live.lab != nullptr) step_.update(live);
  const ImGuiIO& io = ImGui::GetIO();
  if (io.WantTextInput || io.KeyCtrl || io.KeyAlt || io.KeySuper) return;
  const bool presenting = layout_ == Layout::present;
  if (presenting && ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Escape), false)) {
    leave_present();
    return;
  }
  if (!presenting && ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Tab), false)) {
    controls_collapsed_ = !controls_collapsed_;
  }
  for (ImWchar c : io.InputQueueCharacters) {
    if (presenting && c < 128) {
      if (auto id = window_for_key(static_cast<char>(c))) {
        presented_ = *id;
        show_legend_a_while();
      }
    }
    // A lesson's Next and Back.
    if (lesson_.active() && (c == 'n' || c == 'N')) lesson_.next();
    if (lesson_.active() && (c == 'b' || c == 'B')) lesson_.back();
  }
}

void AppUi::draw_strip() {
  const Rect& r = placed_.strip;
  ImGui::SetNextWindowPos(ImVec2(r.x, r.y));
  ImGui::SetNextWindowSize(ImVec2(r.w, r.h));
  const ImGuiWindowFlags flags = ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                                 ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoFocusOnAppearing;
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(ImGui::GetFontSize() * 0.25f, ImGui::GetFontSize() * 0.4f));
  if (ImGui::Begin("##controls_strip", nullptr, flags)) {
    if (ImGui::Button(">", ImVec2(-1.0f, 0.0f))) controls_collapsed_ = false;
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("Show the controls and the Stepping panel (Tab)");
  }
  ImGui::End();
  ImGui::PopStyleVar();
}

// The legend is for the one at the keyboard, and it lies over the picture
// (at 1280x720 with large text it wraps to six lines, over the event loop's
// counts): it shows for a few seconds when presentation starts or the view
// changes, and again whenever the pointer is on its corner.
void AppUi::show_legend_a_while() { legend_until_ = ImGui::GetTime() + kLegendSeconds; }

void AppUi::draw_legend(const Rect& where, FrameContext& ctx) {
  // It grows up to this many times the height planned for it (wrapped
  // lines); the pointer anywhere in that corner brings it back.
  constexpr float kMostHeights = 4.0f;
  const float tallest = where.h * kMostHeights;
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  const bool pointed_at = mouse.x >= where.x && mouse.x <= where.x + where.w &&
                          mouse.y >= where.y + where.h - tallest && mouse.y <= where.y + where.h;
  const bool fresh = ImGui::GetTime() < legend_until_;
  if (!fresh && !pointed_at) return;
  if (fresh) ctx.wants_redraw = true;  // a frame when its time is up, to take it away
  ImGui::SetNextWindowPos(ImVec2(where.x + where.w, where.y + where.h), ImGuiCond_Always, ImVec2(1.0f, 1.0f));
  ImGui::SetNextWindowBgAlpha(0.8f);
  ImGui::SetNextWindowSizeConstraints(ImVec2(0, 0), ImVec2(where.w, tallest));
  const ImGuiWindowFlags flags = ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                                 ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoFocusOnAppearing |
                                 ImGuiWindowFlags_AlwaysAutoResize | ImGuiWindowFlags_NoNav;
  if (ImGui::Begin("##present_legend", nullptr, flags)) {
    std::string views;
    for (char key = '1'; key <= '9'; ++key) {
      const auto id = window_for_key(key);
      if (!id) continue;
      if (!views.empty()) views += "  ";
      views += std::string(1, key) + " " + std::string(window_spec(*id).name);
    }
    ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + where.w - ImGui::GetStyle().WindowPadding.x * 2.0f);
    ImGui::TextDisabled("Space step  Shift+Space stage  R run  P pause  Esc leave%s",
                        lesson_.active() ? "  N next  B back" : "");
    ImGui::TextDisabled("%s", views.c_str());
    ImGui::PopTextWrapPos();
  }
  ImGui::End();
}

void AppUi::draw_windows(FrameContext& ctx, FrameContext& live) {
  if (live.lab && !stepping_auto_ && live.lab->lab().gates().mode() != trace::GateMode::run) {
    stepping_auto_ = true;
    if (layout_ != Layout::present) set_layout(Layout::stepping);
  }
  // The architecture's own windows open by themselves when its session
  // appears (the table says which have something to show), and stay under
  // the user's control afterwards.
  const std::string& arch = ctx.session.meta().architecture;
  if (arch != auto_opened_for_ && layout_ != Layout::compare) {
    auto_opened_for_ = arch;
    if (const servers::Architecture* a = servers::find_architecture(arch)) {
      show(WindowId::event_loop, a->opens(servers::kViewEventLoop));
      show(WindowId::threads, a->opens(servers::kViewThreads));
    }
  }

  const ImGuiViewport* vp = ImGui::GetMainViewport();
  const bool presenting = layout_ == Layout::present;
  LayoutInput in;
  if (presenting) {
    in.area = Rect{vp->Pos.x, vp->Pos.y, vp->Size.x, vp->Size.y};
  } else {
    // Below the menu bar and above the status bar. Computed from the
    // viewport itself: on the very first frame WorkPos does not yet know
    // the menu bar.
    const float menu = ImGui::GetFrameHeight();
    in.area = Rect{vp->Pos.x, vp->Pos.y + menu, vp->Size.x, vp->Size.y - menu - status_bar_height()};
  }
  in.font_px = ImGui::GetFontSize();
  in.kind = layout_;
  in.controls_collapsed = controls_collapsed_ && !presenting;
  in.presented = presented_;
  // The tree needs room for four children side by side where the
  // architecture makes processes; one box where it is one process.
  if (const servers::Architecture* a = servers::find_architecture(arch)) {
    const bool processes = a->has(servers::kForksPerConnection) ||
                           (a->has(servers::kPrestartedWorkers) && !a->has(servers::kThreads));
    in.tree_children = processes ? 4 : 1;
  }
  for (const auto& w : kWindows) {
    const WindowRow& row = windows_[index_of(w.id)];
    // Presenting: the one window, whether or not it was open.
    in.shown[index_of(w.id)] =
        presenting ? w.id == presented_ || (w.id == WindowId::lesson && row.shown && live.lab != nullptr)
                   : row.shown && !(w.live_only && live.lab == nullptr) &&
                         !(in.controls_collapsed && (w.id == WindowId::controls || w.id == WindowId::stepping));
  }
  // A new input (window size, font, layout, a window opened or closed) lays
  // everything out again; in between, what the user moves stays moved.
  const bool relayout = !applied_ || !(*applied_ == in);
  if (relayout) {
    placed_ = compute_layout(in);
    applied_ = in;
  }

  if (in.controls_collapsed) draw_strip();
  drawn_.fill(std::nullopt);
  for (const auto& w : kWindows) {
    const std::size_t i = index_of(w.id);
    const Rect& r = placed_.rects[i];
    if (!in.shown[i]) continue;
    if (relayout && !r.empty()) {
      ImGui::SetNextWindowPos(ImVec2(r.x, r.y));
      ImGui::SetNextWindowSize(ImVec2(r.w, r.h));
    }
    windows_[i].draw(windows_[i].live_ctx ? live : ctx);
    if (const ImGuiWindow* win = ImGui::FindWindowByName(std::string(w.imgui_id).c_str()); win && win->Active)
      drawn_[i] = Rect{win->Pos.x, win->Pos.y, win->Size.x, win->Size.y};
  }
  if (presenting) draw_legend(placed_.legend, ctx);
}

// The lesson's state for dump-model: where the student is, and every value
// measured so far.
nlohmann::json AppUi::lesson_json() const {
  const lesson::Player* p = lesson_.player();
  if (p == nullptr) return nullptr;
  nlohmann::json steps = nlohmann::json::array();
  for (std::size_t i = 0; i < p->lesson().steps.size(); ++i) {
    const lesson::Step& s = p->lesson().steps[i];
    const lesson::StepRecord& r = p->records()[i];
    nlohmann::json j = {{"title", s.title}, {"entered", r.entered}};
    if (s.predict) {
      j["query"] = s.predict->answer.text();
      j["answered"] = r.answered;
      j["choice"] = r.choice;
      j["revealed"] = r.revealed;
      j["known"] = r.measured.known;
      if (r.measured.known) j["value"] = r.measured.is_text ? nlohmann::json(r.measured.text) : nlohmann::json(r.measured.number);
      j["shown"] = r.measured.shown();
    }
    if (s.goal) {
      j["goal"] = s.goal->text();
      j["goal_met"] = r.goal_met;
      j["goal_value"] = r.goal_value.shown();
    }
    if (!r.error.empty()) j["error"] = r.error;
    steps.push_back(j);
  }
  return {{"name", p->lesson().name},
          {"current", p->current()},
          {"shown", p->shown()},
          {"phase", std::string(lesson::phase_name(p->phase()))},
          {"steps", steps}};
}

nlohmann::json AppUi::drawn_json() const {
  nlohmann::json windows = nlohmann::json::object();
  for (const auto& w : kWindows) {
    if (const auto& r = drawn_[index_of(w.id)]) windows[std::string(w.key)] = {r->x, r->y, r->w, r->h};
  }
  // The comparisons of this session: each run's rows as measured.
  nlohmann::json runs = nlohmann::json::array();
  if (compare_run_ != nullptr) {
    for (const auto& r : compare_run_->results()) {
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& row : r.rows) {
        nlohmann::json j = {{"server", row.server}, {"reference", row.reference}, {"clients", row.clients},
                            {"status", row.status}};
        for (const auto& c : compare::columns())
          if (auto v = c.value(row)) j[std::string(c.key)] = *v;
        rows.push_back(j);
      }
      runs.push_back({{"complete", r.complete}, {"rows", rows}});
    }
  }
  return {{"layout", std::string(layout_name(layout_))},
          {"compare_runs", runs},
          {"presented", std::string(window_spec(presented_).key)},
          {"controls_collapsed", controls_collapsed_},
          {"font_px", font_px},
          {"windows", windows},
          {"lesson", lesson_json()},
          {"start_here", start_here_.is_open()},
          {"start_here_rect", start_here_.rect()},
          {"tree", tree_.drawn_json()}};
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
  handle_keys(live);
  if (compare_run_ != nullptr && live.lab != nullptr) compare_.update(*compare_run_);
  const bool presenting = layout_ == Layout::present;
  if (!presenting) draw_menu(ctx);
  draw_windows(ctx, live);
  if (!presenting) draw_status_bar(ctx);
  export_.draw(ctx);
  open_dialog_.draw(opened_session, opened_title);
  if (lesson_.take_list_request()) start_here_.open();
  if (lesson_.take_close_request()) close_lesson();
  if (auto chosen = start_here_.draw(lesson_progress, live.lab != nullptr)) {
    std::string error;
    if (!open_lesson(*chosen, error)) std::cerr << "sockscope: " << error << "\n";
  }
  if (at) live.wants_redraw = live.wants_redraw || at->wants_redraw;
  if (show_demo_) ImGui::ShowDemoWindow(&show_demo_);
  if (show_metrics_) ImGui::ShowMetricsWindow(&show_metrics_);
}

}  // namespace sockscope::app
