// The lesson player's phases (see player.h).
#include "lesson/player.h"

#include <cmath>
#include <sstream>

namespace sockscope::lesson {
namespace {

constexpr std::uint64_t kCheckEveryNs = 250'000'000;
constexpr std::uint64_t kShowMeAfterNs = 20'000'000'000;
constexpr std::uint64_t kRemeasureForNs = 10'000'000'000;

const std::vector<ScriptCommand> kNone;

}  // namespace

std::string_view phase_name(Phase p) {
  switch (p) {
    case Phase::setup: return "setup";
    case Phase::ask: return "ask";
    case Phase::act: return "act";
    case Phase::goal: return "goal";
    case Phase::done: return "done";
    case Phase::finished: return "finished";
  }
  return "?";
}

bool StepRecord::correct() const {
  if (!answered || !revealed || !measured.known) return false;
  if (choice >= 0) return choice == measured_choice;
  if (number && !measured.is_text) {
    // A typed number is right when it rounds to what was measured.
    Value v = measured;
    Choice c;
    c.kind = Choice::Kind::exact;
    c.lo = c.hi = std::round(*number * 10.0) / 10.0;
    return c.matches(v);
  }
  return false;
}

std::string StepRecord::said(const Prediction& p) const {
  if (choice >= 0) return p.choices[static_cast<std::size_t>(choice)].label;
  if (number) return Value{true, false, *number, {}, {}, {}}.shown();
  return "skipped";
}

Player::Player(Lesson lesson) : lesson_(std::move(lesson)), records_(lesson_.steps.size()) { enter(0); }

void Player::enter(std::size_t index) {
  current_ = shown_ = index;
  records_[index] = StepRecord{};
  records_[index].entered = true;
  phase_ = Phase::setup;
  batch_ = Batch::setup;
  remeasure_until_ns_ = 0;
}

const std::vector<ScriptCommand>* Player::batch() const {
  const Step& s = lesson_.steps[current_];
  switch (batch_) {
    case Batch::none: return nullptr;
    case Batch::setup: return &s.setup;
    case Batch::act: return &s.actions;
    case Batch::solution: return &s.solution;
  }
  return &kNone;
}

std::string_view Player::batch_name() const { return batch_name_of(batch_); }

void Player::batch_done(bool ok, const std::string& error, const Evaluator& eval, std::uint64_t now_ns) {
  const Batch which = batch_;
  batch_ = Batch::none;
  if (!ok) {
    records_[current_].error = std::string(batch_name_of(which)) + ": " + error;
    phase_ = Phase::done;
    return;
  }
  if (which == Batch::setup) after_setup();
  else if (which == Batch::act) after_act(eval, now_ns);
  // solution: the goal's checks go on; tick() sees it met.
}

std::string_view Player::batch_name_of(Batch b) {
  switch (b) {
    case Batch::none: return "";
    case Batch::setup: return "setup";
    case Batch::act: return "do";
    case Batch::solution: return "solution";
  }
  return "";
}

void Player::after_setup() {
  if (lesson_.steps[current_].predict) {
    phase_ = Phase::ask;
    return;
  }
  phase_ = Phase::act;
  batch_ = Batch::act;
}

void Player::after_act(const Evaluator& eval, std::uint64_t now_ns) {
  const Step& s = lesson_.steps[current_];
  StepRecord& r = records_[current_];
  if (s.predict) {
    r.measured = eval(s.predict->answer);
    r.measured_choice = s.predict->matching_choice(r.measured);
    r.revealed = true;
    if (!r.measured.known) {
      remeasure_until_ns_ = now_ns + kRemeasureForNs;
      next_check_ns_ = now_ns + kCheckEveryNs;
    }
  }
  if (s.goal) start_goal(now_ns);
  else phase_ = Phase::done;
}

void Player::start_goal(std::uint64_t now_ns) {
  phase_ = Phase::goal;
  goal_start_ns_ = now_ns;
  next_check_ns_ = 0;
}

void Player::answer_choice(int index) {
  if (phase_ != Phase::ask || reviewing()) return;
  const Step& s = lesson_.steps[current_];
  if (index < 0 || static_cast<std::size_t>(index) >= s.predict->choices.size()) return;
  records_[current_].choice = index;
  records_[current_].answered = true;
  phase_ = Phase::act;
  batch_ = Batch::act;
}

void Player::answer_number(double value) {
  if (phase_ != Phase::ask || reviewing()) return;
  records_[current_].number = value;
  records_[current_].answered = true;
  phase_ = Phase::act;
  batch_ = Batch::act;
}

void Player::skip_question() {
  if (phase_ != Phase::ask || reviewing()) return;
  phase_ = Phase::act;
  batch_ = Batch::act;
}

void Player::tick(const Evaluator& eval, std::uint64_t now_ns) {
  const bool remeasuring = remeasure_until_ns_ != 0 && !reviewing();
  if ((phase_ != Phase::goal && !remeasuring) || now_ns < next_check_ns_) return;
  next_check_ns_ = now_ns + kCheckEveryNs;
  const Step& s = lesson_.steps[current_];
  StepRecord& r = records_[current_];
  if (remeasuring) {
    if (s.predict) {
      r.measured = eval(s.predict->answer);
      r.measured_choice = s.predict->matching_choice(r.measured);
    }
    if (!s.predict || r.measured.known || now_ns >= remeasure_until_ns_) remeasure_until_ns_ = 0;
  }
  if (phase_ != Phase::goal) return;
  const Goal& g = *s.goal;
  r.goal_value = eval(g.query);
  if (g.met_by(r.goal_value)) {
    r.goal_met = true;
    r.goal_seconds = static_cast<double>(now_ns - goal_start_ns_) / 1e9;
    if (batch_ == Batch::none) phase_ = Phase::done;
    // A solution still running finishes first (batch_done), then Next.
  }
}

void Player::hint() {
  if (phase_ != Phase::goal || reviewing()) return;
  StepRecord& r = records_[current_];
  if (r.hints_shown < static_cast<int>(lesson_.steps[current_].hints.size())) ++r.hints_shown;
}

bool Player::can_show_me(std::uint64_t now_ns) const {
  if (phase_ != Phase::goal || reviewing() || batch_ != Batch::none || records_[current_].shown) return false;
  const StepRecord& r = records_[current_];
  return r.hints_shown >= static_cast<int>(lesson_.steps[current_].hints.size()) ||
         now_ns >= goal_start_ns_ + kShowMeAfterNs;
}

void Player::show_me() {
  if (phase_ != Phase::goal || reviewing() || batch_ != Batch::none) return;
  records_[current_].shown = true;
  batch_ = Batch::solution;
}

void Player::skip_goal() {
  if (phase_ != Phase::goal || reviewing()) return;
  records_[current_].goal_skipped = true;
  phase_ = Phase::done;
}

bool Player::can_next() const {
  if (reviewing()) return true;
  if (batch_ != Batch::none) return false;
  return phase_ == Phase::done || phase_ == Phase::goal;
}

void Player::next() {
  if (!can_next()) return;
  if (reviewing()) {
    ++shown_;
    return;
  }
  if (phase_ == Phase::goal) skip_goal();
  if (current_ + 1 >= lesson_.steps.size()) {
    phase_ = Phase::finished;
    return;
  }
  enter(current_ + 1);
}

void Player::back() {
  if (shown_ > 0) --shown_;
}

std::string Player::summary() const {
  std::ostringstream out;
  out << "# " << lesson_.title << ": what this run measured\n\n";
  int predictions = 0, right = 0, goals = 0, met = 0;
  for (std::size_t i = 0; i < lesson_.steps.size(); ++i) {
    const Step& s = lesson_.steps[i];
    const StepRecord& r = records_[i];
    if (!r.entered) continue;
    if (s.predict && r.revealed) {
      ++predictions;
      if (r.correct()) ++right;
      out << "- " << s.title << ": " << s.predict->question << " Measured: **" << r.measured.shown() << "** ("
          << s.predict->answer.text() << "); you said " << r.said(*s.predict) << (r.correct() ? " (right)" : "") << ".\n";
    }
    if (s.goal && (r.goal_met || r.goal_skipped || r.goal_value.known)) {
      ++goals;
      met += r.goal_met ? 1 : 0;
      out << "- " << s.title << ": goal " << s.goal->text() << " "
          << (r.goal_met ? (r.shown ? "met by Show me" : "met") : r.goal_skipped ? "skipped" : "not met yet")
          << ", last value " << r.goal_value.shown() << ".\n";
    }
    if (!r.error.empty()) out << "- " << s.title << ": failed: " << r.error << "\n";
  }
  out << "\n" << right << " of " << predictions << " predictions right; " << met << " of " << goals << " goals met.\n";
  return out.str();
}

}  // namespace sockscope::lesson
