#include "views/lesson_view.h"

#include <imgui.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "app_ui.h"
#include "compare_run.h"
#include "lab/stage_step.h"
#include "lab_controller.h"
#include "trace/ring.h"
#include "views/style.h"

namespace sockscope::app {
namespace {

// Buttons as wide as the panel allows, tall enough to hit from a lectern.
bool wide_button(const char* label, bool enabled = true) {
  if (!enabled) ImGui::BeginDisabled();
  const bool pressed = ImGui::Button(label, ImVec2(-1.0f, ImGui::GetFrameHeight() * 1.25f));
  if (!enabled) ImGui::EndDisabled();
  return pressed;
}

void heading(const std::string& text) {
  ImFont* bold = style::fonts().bold;
  if (bold != nullptr) ImGui::PushFont(bold);
  ImGui::PushTextWrapPos(0.0f);
  ImGui::TextUnformatted(text.c_str());
  ImGui::PopTextWrapPos();
  if (bold != nullptr) ImGui::PopFont();
}

}  // namespace

bool LessonView::open(const std::filesystem::path& path, std::string& error) {
  auto lesson = lesson::load_lesson(path, error, parse_window_verb);
  if (!lesson) return false;
  close();
  player_.emplace(std::move(*lesson));
  fresh_ = true;
  return true;
}

void LessonView::close() {
  player_.reset();
  runner_.reset();
  number_[0] = '\0';
  scrolled_for_ = ~std::size_t{0};
}

void LessonView::update(LabController* live, AppUi& ui, LessonProgressMap& progress) {
  if (!player_) return;
  now_ns_ = trace::now_ns();
  if (fresh_ && live != nullptr) {
    live->reset_form();  // the lesson's `start` lines name only what they change
    // Stepping left paused by the last lesson (or the user) would park the
    // first server at its first gate.
    lab::apply_step_command(live->lab().gates(), lab::StepCommand::run, 0);
    fresh_ = false;
  }
  const compare::Result* last = nullptr;
  if (CompareRun* run = ui.compare_run(); run != nullptr && !run->results().empty()) last = &run->results().back();
  lesson::Evaluator eval = [live, last](const lesson::QueryRef& q) {
    if (live == nullptr) {
      lesson::Value v;
      v.why = "a recording has no live lab";
      return v;
    }
    return lesson::evaluate(q, live->lab(), last);
  };
  // The step's verbs: one batch at a time, each frame doing what it can.
  if (const auto* batch = player_->batch()) {
    if (!runner_) runner_.emplace(*batch, player_->lesson().path.string(), "");
    runner_->step(live, ui);
    if (runner_->finished()) {
      const bool ok = runner_->exit_code() == 0;
      player_->batch_done(ok, runner_->error(), eval, now_ns_);
      runner_.reset();
    }
  }
  player_->tick(eval, now_ns_);
  // Remember how far the student got.
  const lesson::Lesson& l = player_->lesson();
  LessonProgress& p = progress[l.name];
  p.steps = static_cast<int>(l.steps.size());
  p.reached = std::max(p.reached, static_cast<int>(player_->current()) + 1);
  p.finished = p.finished || player_->finished();
}

void LessonView::next() {
  if (!player_) return;
  player_->next();
  number_[0] = '\0';
}

void LessonView::back() {
  if (player_) player_->back();
}

bool LessonView::answer(int choice) {
  if (!player_ || player_->phase() != lesson::Phase::ask || player_->reviewing()) return false;
  const auto& p = player_->step().predict;
  if (!p || choice < 0 || static_cast<std::size_t>(choice) >= p->choices.size()) return false;
  player_->answer_choice(choice);
  return true;
}

bool LessonView::answer_number(double value) {
  if (!player_ || player_->phase() != lesson::Phase::ask || player_->reviewing()) return false;
  if (!player_->step().predict->choices.empty()) return false;
  player_->answer_number(value);
  return true;
}

void LessonView::skip() {
  if (!player_) return;
  if (player_->phase() == lesson::Phase::ask) player_->skip_question();
  else if (player_->phase() == lesson::Phase::goal) player_->skip_goal();
}

void LessonView::hint() {
  if (player_) player_->hint();
}

void LessonView::show_me() {
  if (player_ && player_->can_show_me(trace::now_ns())) player_->show_me();
}

std::string LessonView::summary() const { return player_ && player_->finished() ? player_->summary() : ""; }

// A paragraph with **bold** and `code` spans, wrapped word by word.
void LessonView::draw_prose(const std::string& paragraph) {
  const float right = ImGui::GetWindowPos().x + ImGui::GetWindowContentRegionMax().x;
  bool first = true;
  const ImVec4 code_colour = style::palette().ok;
  for (const lesson::Span& span : lesson::spans(paragraph)) {
    ImFont* font = span.bold ? style::fonts().bold : span.code ? style::fonts().mono : nullptr;
    if (font != nullptr) ImGui::PushFont(font);
    if (span.code) ImGui::PushStyleColor(ImGuiCol_Text, code_colour);
    std::size_t i = 0;
    while (i < span.text.size()) {
      // One word and the blanks after it.
      std::size_t end = span.text.find(' ', i);
      end = end == std::string::npos ? span.text.size() : span.text.find_first_not_of(' ', end);
      if (end == std::string::npos) end = span.text.size();
      const std::string word = span.text.substr(i, end - i);
      i = end;
      std::string trimmed = word;
      while (!trimmed.empty() && trimmed.back() == ' ') trimmed.pop_back();
      const float w = ImGui::CalcTextSize(trimmed.c_str()).x;
      if (!first) {
        if (ImGui::GetItemRectMax().x + w <= right) ImGui::SameLine(0.0f, 0.0f);
        else if (trimmed.empty()) continue;  // blanks at a line break
      }
      ImGui::TextUnformatted(word.c_str());
      first = false;
    }
    if (span.code) ImGui::PopStyleColor();
    if (font != nullptr) ImGui::PopFont();
  }
  ImGui::Spacing();
}

void LessonView::draw_prediction(const lesson::Step& step, const lesson::StepRecord& r) {
  const lesson::Prediction& p = *step.predict;
  const bool asking = player_->phase() == lesson::Phase::ask && !player_->reviewing();
  // A new reveal moves to the top of the panel; a new question's choices
  // scroll into view at the bottom, keeping as much of the text as fits.
  const bool changed = !player_->reviewing() && (drawn_phase_ != player_->phase() || drawn_revealed_ != r.revealed);
  if (changed && r.revealed) ImGui::SetScrollHereY(0.0f);
  ImGui::Separator();
  style::text_colored(style::palette().warn, "%s", "Predict");
  ImGui::PushTextWrapPos(0.0f);
  heading(p.question);
  ImGui::PopTextWrapPos();
  if (asking) {
    ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
    ImGui::TextWrapped("Commit an answer; then the lab runs and the app measures.");
    ImGui::PopStyleColor();
    if (!p.choices.empty()) {
      for (std::size_t i = 0; i < p.choices.size(); ++i) {
        ImGui::PushID(static_cast<int>(i));
        const std::string label = std::to_string(i + 1) + ")  " + p.choices[i].label;
        if (wide_button(label.c_str())) answer(static_cast<int>(i));
        ImGui::PopID();
      }
    } else {
      ImGui::SetNextItemWidth(ImGui::GetFontSize() * 6.0f);
      const bool enter = ImGui::InputText("##number", number_, sizeof number_,
                                          ImGuiInputTextFlags_CharsDecimal | ImGuiInputTextFlags_EnterReturnsTrue);
      ImGui::SameLine();
      double v = 0;
      auto [end, ec] = std::from_chars(number_, number_ + std::strlen(number_), v);
      const bool valid = ec == std::errc() && end == number_ + std::strlen(number_) && number_[0] != '\0';
      if ((ImGui::Button("Commit") || enter) && valid) answer_number(v);
    }
    if (ImGui::SmallButton("Skip the question")) skip();
    if (changed) ImGui::SetScrollHereY(1.0f);
    return;
  }
  const std::string said = r.said(p);
  if (!r.revealed) {
    ImGui::Text("You said: %s", said.c_str());
    ImGui::TextDisabled("Running the step... (%s)", std::string(player_->batch_name()).c_str());
    return;
  }
  ImFont* bold = style::fonts().bold;
  if (bold != nullptr) ImGui::PushFont(bold);
  style::text_colored(r.measured.known ? style::palette().ok : style::palette().bad, "Measured: %s",
                      r.measured.shown().c_str());
  if (bold != nullptr) ImGui::PopFont();
  ImGui::PushTextWrapPos(0.0f);
  ImGui::TextDisabled("query: %s", p.answer.text().c_str());
  ImGui::PopTextWrapPos();
  if (r.answered) {
    const bool right = r.correct();
    style::text_colored(right ? style::palette().ok : style::palette().warn, "You said %s%s", said.c_str(),
                        right ? ": right." : ".");
  } else {
    ImGui::TextDisabled("You skipped the question.");
  }
  for (const auto& para : p.reveal) draw_prose(para);
}

void LessonView::draw_goal(const lesson::Step& step, const lesson::StepRecord& r) {
  const lesson::Goal& g = *step.goal;
  if (!player_->reviewing() && drawn_phase_ != player_->phase() && player_->phase() == lesson::Phase::goal && !step.predict)
    ImGui::SetScrollHereY(0.0f);
  ImGui::Separator();
  style::text_colored(style::palette().warn, "%s", "Your turn");
  for (const auto& para : g.task) draw_prose(para);
  ImGui::PushTextWrapPos(0.0f);
  ImGui::TextDisabled("goal: %s", g.text().c_str());
  ImGui::PopTextWrapPos();
  if (r.goal_met) {
    ImFont* bold = style::fonts().bold;
    if (bold != nullptr) ImGui::PushFont(bold);
    style::text_colored(style::palette().ok, "Goal met%s: %s", r.shown ? " (shown)" : "", r.goal_value.shown().c_str());
    if (bold != nullptr) ImGui::PopFont();
    return;
  }
  if (r.goal_skipped) {
    ImGui::TextDisabled("Skipped. Last value: %s", r.goal_value.shown().c_str());
    return;
  }
  if (player_->reviewing()) return;
  ImGui::Text("Now: %s", r.goal_value.known || !r.goal_value.why.empty() ? r.goal_value.shown().c_str() : "...");
  for (int i = 0; i < r.hints_shown; ++i) {
    style::text_colored(style::palette().dim, "Hint %d", i + 1);
    draw_prose(step.hints[static_cast<std::size_t>(i)]);
  }
  const bool more_hints = r.hints_shown < static_cast<int>(step.hints.size());
  if (more_hints && ImGui::Button("Hint")) hint();
  if (more_hints) ImGui::SameLine();
  const bool can_show = player_->can_show_me(now_ns_);
  if (!can_show) ImGui::BeginDisabled();
  if (ImGui::Button(r.shown ? "Showing..." : "Show me")) show_me();
  if (!can_show) ImGui::EndDisabled();
  if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
    ImGui::SetTooltip("Runs the lesson's own solution (after the hints, or 20 s)");
  ImGui::SameLine();
  if (ImGui::Button("Skip")) skip();
}

void LessonView::draw_summary() {
  heading("What this run measured");
  for (std::size_t i = 0; i < player_->lesson().steps.size(); ++i) {
    const lesson::Step& s = player_->lesson().steps[i];
    const lesson::StepRecord& r = player_->records()[i];
    if (s.predict && r.revealed) {
      ImGui::Bullet();
      ImGui::PushTextWrapPos(0.0f);
      ImGui::TextWrapped("%s: %s (%s)", s.title.c_str(), r.measured.shown().c_str(), r.correct() ? "you were right" : r.answered ? "you guessed otherwise" : "skipped");
      ImGui::PopTextWrapPos();
    }
    if (s.goal) {
      ImGui::Bullet();
      ImGui::TextWrapped("%s: goal %s (%s)", s.title.c_str(),
                         r.goal_met ? (r.shown ? "met by Show me" : "met") : "skipped", r.goal_value.shown().c_str());
    }
  }
  ImGui::Spacing();
  ImGui::TextWrapped("File > Export writes this summary beside the session (FILE.lesson.md).");
  ImGui::Spacing();
  if (wide_button("Other lessons...")) list_requested_ = true;
  if (wide_button("Close the lesson")) close_requested_ = true;
}

void LessonView::draw(FrameContext& ctx) {
  (void)ctx;
  if (ImGui::Begin("Lesson###lesson", nullptr, ImGuiWindowFlags_NoCollapse) && player_) {
    const lesson::Lesson& l = player_->lesson();
    const bool finished = player_->finished();
    const std::size_t shown = player_->shown();
    // The lesson's name wraps here; a title bar would cut it off.
    ImGui::PushTextWrapPos(0.0f);
    ImGui::TextUnformatted(l.title.c_str());
    ImGui::PopTextWrapPos();
    if (finished && !player_->reviewing()) ImGui::TextDisabled("Summary: %zu steps", l.steps.size());
    else
      ImGui::TextDisabled("Step %zu of %zu%s", std::min(shown + 1, l.steps.size()), l.steps.size(),
                          player_->reviewing() ? " (looking back)" : "");
    // The step's body scrolls; the footer with Back / Next stays put.
    const float footer = ImGui::GetFrameHeightWithSpacing() * 1.6f;
    ImGui::BeginChild("##lesson_body", ImVec2(0.0f, -footer), false);
    if (scrolled_for_ != shown + (finished ? 1000 : 0)) {
      ImGui::SetScrollY(0.0f);
      scrolled_for_ = shown + (finished ? 1000 : 0);
    }
    if (finished && !player_->reviewing()) {
      draw_summary();
    } else {
      const lesson::Step& step = player_->step();
      const lesson::StepRecord& r = player_->record();
      heading(step.title);
      ImGui::Spacing();
      for (const auto& para : step.text) draw_prose(para);
      if (!r.error.empty()) {
        ImGui::PushTextWrapPos(0.0f);
        style::text_colored(style::palette().bad, "This step failed: %s", r.error.c_str());
        ImGui::PopTextWrapPos();
      }
      if (step.predict) draw_prediction(step, r);
      if (step.goal && (player_->phase() == lesson::Phase::goal || r.goal_met || r.goal_skipped)) draw_goal(step, r);
      if (player_->batch() != nullptr && !step.predict)
        ImGui::TextDisabled("Running the step... (%s)", std::string(player_->batch_name()).c_str());
      drawn_revealed_ = r.revealed;
    }
    drawn_phase_ = player_->phase();
    ImGui::EndChild();
    ImGui::Separator();
    const float half = (ImGui::GetContentRegionAvail().x - ImGui::GetStyle().ItemSpacing.x) * 0.5f;
    if (!player_->can_back()) ImGui::BeginDisabled();
    if (ImGui::Button("< Back (B)", ImVec2(half, 0.0f))) back();
    if (!player_->can_back()) ImGui::EndDisabled();
    ImGui::SameLine();
    const bool can_next = player_->can_next() && !(finished && !player_->reviewing());
    if (!can_next) ImGui::BeginDisabled();
    const char* next_label = player_->phase() == lesson::Phase::goal && !player_->reviewing() ? "Skip, next (N) >"
                             : shown + 1 == l.steps.size() && !player_->reviewing()       ? "Finish (N) >"
                                                                                          : "Next (N) >";
    if (ImGui::Button(next_label, ImVec2(half, 0.0f))) next();
    if (!can_next) ImGui::EndDisabled();
  }
  ImGui::End();
}

std::optional<std::filesystem::path> StartHereView::draw(const LessonProgressMap& progress, bool live) {
  if (!open_) return std::nullopt;
  if (!loaded_) {
    lessons_ = lesson::list_lessons(lesson::lessons_dir(), parse_window_verb);
    loaded_ = true;
  }
  std::optional<std::filesystem::path> chosen;
  const ImGuiViewport* vp = ImGui::GetMainViewport();
  const float fs = ImGui::GetFontSize();
  const ImVec2 size(std::min(vp->WorkSize.x * 0.92f, fs * 46.0f), vp->WorkSize.y * 0.9f);
  ImGui::SetNextWindowPos(ImVec2(vp->WorkPos.x + (vp->WorkSize.x - size.x) * 0.5f, vp->WorkPos.y + vp->WorkSize.y * 0.05f),
                          ImGuiCond_Always);
  ImGui::SetNextWindowSize(size, ImGuiCond_Always);
  ImGui::SetNextWindowFocus();
  ImGui::SetNextWindowBgAlpha(1.0f);  // text over text is unreadable from the back row
  if (ImGui::Begin("Start here###start_here", &open_, ImGuiWindowFlags_NoCollapse | ImGuiWindowFlags_NoSavedSettings)) {
    ImGui::PushTextWrapPos(0.0f);
    heading("Watch real servers handle many connections");
    ImGui::TextWrapped(
        "Each lesson starts real servers on this machine, connects clients to them, and asks you to predict "
        "what will happen before it measures it. Pick one; the panel on the right guides you.");
    ImGui::PopTextWrapPos();
    ImGui::Spacing();
    if (!live) ImGui::TextDisabled("A recording is shown: lessons need the live lab (File > Back to the live lab).");
    if (lessons_.empty()) ImGui::TextWrapped("No lessons found in %s.", lesson::lessons_dir().string().c_str());
    for (const auto& e : lessons_) {
      ImGui::PushID(e.name.c_str());
      ImGui::Separator();
      if (!e.error.empty()) {
        ImGui::TextDisabled("%s", e.name.c_str());
        ImGui::PushTextWrapPos(0.0f);
        style::text_colored(style::palette().bad, "%s", e.error.c_str());
        ImGui::PopTextWrapPos();
        ImGui::PopID();
        continue;
      }
      std::string state = "not started";
      if (auto it = progress.find(e.name); it != progress.end()) {
        state = it->second.finished ? "done"
                                    : "step " + std::to_string(it->second.reached) + " of " + std::to_string(e.steps);
      }
      const std::string label = e.title + "  (" + state + ")";
      if (!live) ImGui::BeginDisabled();
      if (ImGui::Selectable(label.c_str(), false, 0, ImVec2(0.0f, 0.0f))) chosen = e.path;
      if (!live) ImGui::EndDisabled();
      ImGui::PushTextWrapPos(0.0f);
      ImGui::TextDisabled("%s", e.summary.c_str());
      ImGui::PopTextWrapPos();
      ImGui::PopID();
    }
    ImGui::Separator();
    ImGui::TextDisabled("Help > Lessons opens this list again. Or press Close and explore on your own.");
    if (ImGui::Button("Close")) open_ = false;
    rect_ = {ImGui::GetWindowPos().x, ImGui::GetWindowPos().y, ImGui::GetWindowSize().x, ImGui::GetWindowSize().y};
  }
  ImGui::End();
  if (chosen) open_ = false;
  return chosen;
}

}  // namespace sockscope::app
