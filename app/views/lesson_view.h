// The lesson panel and the Start-here list.
//
// The panel draws one step of a lesson::Player: its text, the prediction
// (choices or a number, committed before anything runs), the measured value
// revealed beside what the student said, the goal with its live value, Hint,
// Show me and Skip, and Back / Next (keys B / N). The step's script verbs run
// through a ScriptRunner, the same code path as --script and the buttons.
// After the last step it shows what this run measured; File > Export then
// writes that summary beside the session (FILE.lesson.md).
//
// The Start-here list shows every lesson file (lesson::list_lessons: the one
// table of lessons) with its one-line summary and the student's progress,
// remembered in the settings.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "frame.h"
#include "lesson/player.h"
#include "script.h"
#include "settings.h"

namespace sockscope::app {

class AppUi;

class LessonView {
 public:
  // Loads a lesson file and starts it at its first step. False (and
  // `error`: "FILE:LINE: reason") when it does not parse.
  bool open(const std::filesystem::path& path, std::string& error);
  void close();
  bool active() const { return player_.has_value(); }
  const lesson::Player* player() const { return player_ ? &*player_ : nullptr; }

  // Every frame, outside the session's lock (the queries take it): runs the
  // step's verbs and checks its goal. `live` is null on a recording.
  void update(LabController* live, AppUi& ui, LessonProgressMap& progress);
  void draw(FrameContext& ctx);

  // The buttons, for the keys and the script.
  void next();
  void back();
  bool answer(int choice);          // a choice's index (0-based)
  bool answer_number(double value);
  void skip();                      // the question, or the goal
  void hint();
  void show_me();

  // The summary page's "Other lessons" / "Close the lesson" buttons, for
  // AppUi (which owns the list and the column): true once per press.
  bool take_list_request() { return std::exchange(list_requested_, false); }
  bool take_close_request() { return std::exchange(close_requested_, false); }
  // The summary of what was measured (empty before the lesson ends).
  std::string summary() const;

 private:
  void draw_prose(const std::string& paragraph);
  void draw_prediction(const lesson::Step& step, const lesson::StepRecord& r);
  void draw_goal(const lesson::Step& step, const lesson::StepRecord& r);
  void draw_summary();

  std::optional<lesson::Player> player_;
  std::optional<ScriptRunner> runner_;  // the batch running now
  std::uint64_t now_ns_ = 0;
  char number_[32] = "";
  bool fresh_ = false;  // opened, and the controls' form not reset yet
  bool list_requested_ = false;
  bool close_requested_ = false;
  std::size_t scrolled_for_ = ~std::size_t{0};
  // The phase last drawn: a new one scrolls its part (the question, the
  // reveal, the goal) to the top of the panel.
  lesson::Phase drawn_phase_ = lesson::Phase::finished;
  bool drawn_revealed_ = false;
};

// Help > Lessons, and the first launch.
class StartHereView {
 public:
  void open() {
    open_ = true;
    loaded_ = false;  // read the files again: a teacher may have edited one
  }
  bool is_open() const { return open_; }
  // Draws the list over the other windows; returns the lesson chosen.
  std::optional<std::filesystem::path> draw(const LessonProgressMap& progress, bool live);
  // Where it was last drawn (x, y, w, h), for dump-model.
  const std::array<float, 4>& rect() const { return rect_; }

 private:
  std::array<float, 4> rect_{};
  bool open_ = false;
  bool loaded_ = false;
  std::vector<lesson::LessonEntry> lessons_;
};

}  // namespace sockscope::app
