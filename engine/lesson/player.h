// The lesson player: where a student is in a lesson and what runs next. No
// I/O and no lab: the host (the app's lesson panel, or `lesson --check`) runs
// the script verbs the player hands out, and evaluates queries for it.
//
// A step goes through these phases:
//   setup   its `setup:` verbs run
//   ask     the prediction waits for the student's answer (or Skip)
//   act     its `do:` verbs run; then the answer's query is evaluated (reveal)
//   goal    the goal's query is checked every quarter second until it holds;
//           Hint shows the next hint, Show me runs the solution, Skip gives up
//   done    Next goes on
// After the last step the lesson is finished and summary() tells what was
// measured. Back shows an earlier step as it ended, without running it again.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lesson/lesson.h"

namespace sockscope::lesson {

using Evaluator = std::function<Value(const QueryRef&)>;

enum class Phase { setup, ask, act, goal, done, finished };
std::string_view phase_name(Phase p);

// What one step left behind, for Back and the summary.
struct StepRecord {
  bool entered = false;
  // The prediction: the student's answer (a choice, a number, or skipped) and the measured value.
  int choice = -1;
  std::optional<double> number;
  bool answered = false;
  bool revealed = false;
  Value measured;
  int measured_choice = -1;  // the choice the value fell in
  // The goal.
  bool goal_met = false;
  bool goal_skipped = false;
  bool shown = false;        // met after Show me ran the solution
  Value goal_value;          // the last value checked
  double goal_seconds = 0;   // from the goal's start to met
  int hints_shown = 0;
  std::string error;         // a verb that failed
  bool correct() const;      // the answer matched the measured value
  // What the student said: the choice's label, the number, or "skipped".
  std::string said(const Prediction& p) const;
};

class Player {
 public:
  explicit Player(Lesson lesson);

  const Lesson& lesson() const { return lesson_; }
  // The step being run, and the one shown (Back: an earlier one).
  std::size_t current() const { return current_; }
  std::size_t shown() const { return shown_; }
  const Step& step() const { return lesson_.steps[shown_]; }
  const StepRecord& record() const { return records_[shown_]; }
  const std::vector<StepRecord>& records() const { return records_; }
  Phase phase() const { return phase_; }
  bool reviewing() const { return shown_ != current_; }

  // Script verbs the host should run now, or null. The same batch is handed
  // out until batch_done().
  const std::vector<ScriptCommand>* batch() const;
  std::string_view batch_name() const;  // "setup", "do", "solution"
  void batch_done(bool ok, const std::string& error, const Evaluator& eval, std::uint64_t now_ns);

  // The prediction's answer; only in the ask phase.
  void answer_choice(int index);
  void answer_number(double value);
  void skip_question();

  // Every frame: checks the goal (at most every 250 ms). A reveal whose value
  // was not known yet when the `do:` verbs finished (no client had read a
  // reply on a slow machine) is measured again, as often, for up to 10 s.
  void tick(const Evaluator& eval, std::uint64_t now_ns);
  // True while a reveal is still waiting for its value (see tick()).
  bool measuring() const { return remeasure_until_ns_ != 0; }

  void hint();               // shows the next hint
  bool can_show_me(std::uint64_t now_ns) const;  // after the hints, or 20 s into the goal
  void show_me();            // runs the solution (a batch)
  void skip_goal();

  bool can_next() const;     // not while verbs run, nor while a question waits
  void next();
  bool can_back() const { return shown_ > 0; }
  void back();
  bool finished() const { return phase_ == Phase::finished; }
  // The lesson's failure (a verb failed), shown instead of the step.
  const std::string& error() const { return records_[current_].error; }

  // What this run measured, one line per prediction and goal (markdown).
  std::string summary() const;

 private:
  void enter(std::size_t index);
  void after_setup();
  void after_act(const Evaluator& eval, std::uint64_t now_ns);
  void start_goal(std::uint64_t now_ns);
  enum class Batch { none, setup, act, solution };
  static std::string_view batch_name_of(Batch b);

  Lesson lesson_;
  std::vector<StepRecord> records_;
  std::size_t current_ = 0;
  std::size_t shown_ = 0;
  Phase phase_ = Phase::setup;
  Batch batch_ = Batch::none;
  std::uint64_t goal_start_ns_ = 0;
  std::uint64_t next_check_ns_ = 0;
  std::uint64_t remeasure_until_ns_ = 0;  // 0: the current reveal's value is settled
};

}  // namespace sockscope::lesson
