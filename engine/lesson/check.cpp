// The headless lesson runner behind `lesson --check` (see check.h): the same
// Player the app's lesson panel drives, with a lab of its own.
#include "lesson/check.h"

#include <chrono>
#include <ostream>
#include <thread>

#include "lab/controller.h"
#include "lab/lab.h"
#include "lesson/player.h"
#include "trace/ring.h"

namespace sockscope::lesson {
namespace {

using Clock = std::chrono::steady_clock;

// Runs one batch of verbs to its end. Compare runs here, on the lesson's lab.
bool run_batch(const std::vector<ScriptCommand>& batch, lab::Controller& live,
               std::optional<compare::Result>& last_compare, std::string& error) {
  LabCommandRunner runner;
  for (const ScriptCommand& c : batch) {
    if (is_window_op(c.op)) continue;
    if (c.op == ScriptCommand::Op::compare) {
      live.stop();
      compare::CompareOptions options = c.compare;
      if (c.references_if_installed) options.drop_unavailable_references();
      try {
        last_compare = compare::run(live.lab(), options);
      } catch (const std::exception& e) {
        error = "line " + std::to_string(c.line) + ": compare: " + e.what();
        return false;
      }
      if (last_compare->rows.empty()) {
        error = "line " + std::to_string(c.line) + ": compare: no row was measured";
        return false;
      }
      continue;
    }
    if (c.op == ScriptCommand::Op::compare_export) continue;  // nothing to keep headless
    runner.begin();
    for (;;) {
      auto status = runner.tick(c, &live, trace::now_ns());
      if (status == LabCommandRunner::Status::done) break;
      if (status == LabCommandRunner::Status::failed) {
        error = "line " + std::to_string(c.line) + " (" + c.source + "): " + runner.error();
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return true;
}

}  // namespace

int check_lesson(const Lesson& lesson, std::ostream& out, const CheckOptions& options) {
  lab::LabOptions lab_options;
  lab::Lab lab(lab_options);
  lab::Controller live(lab);
  live.spec().port = 0;  // any free port: checks run beside each other
  std::optional<compare::Result> last_compare;
  Player player(lesson);
  Evaluator eval = [&](const QueryRef& q) {
    lab.flush();
    return evaluate(q, lab, last_compare ? &*last_compare : nullptr);
  };
  auto where = [&](std::size_t i) {
    const Step& s = lesson.steps[i];
    return lesson.path.string() + ":" + std::to_string(s.line) + ": step " + std::to_string(i + 1) + " '" + s.title +
           "'";
  };
  int status = 0;
  while (!player.finished()) {
    const std::size_t i = player.current();
    const Step& step = lesson.steps[i];
    if (const auto* batch = player.batch()) {
      std::string error;
      const bool ok = run_batch(*batch, live, last_compare, error);
      player.batch_done(ok, error, eval, trace::now_ns());
      if (!ok) {
        out << where(i) << ": " << player.error() << "\n";
        status = 1;
        break;
      }
      continue;
    }
    switch (player.phase()) {
      case Phase::ask:
        if (!step.predict->choices.empty()) player.answer_choice(0);
        else player.answer_number(0);
        break;
      case Phase::goal: {
        // A goal that holds before the student does anything teaches nothing.
        if (Value before = eval(step.goal->query); step.goal->met_by(before)) {
          out << where(i) << ": goal " << step.goal->text() << " already holds before the solution runs ("
              << before.shown() << ")\n";
          return 1;
        }
        // The student's part: the lesson's own solution, then the goal's time.
        player.show_me();
        std::string error;
        const bool ok = run_batch(*player.batch(), live, last_compare, error);
        player.batch_done(ok, error, eval, trace::now_ns());
        if (!ok) {
          out << where(i) << ": " << player.error() << "\n";
          return 1;
        }
        const auto deadline = Clock::now() + std::chrono::seconds(step.goal->within_s);
        while (player.phase() == Phase::goal && Clock::now() < deadline) {
          player.tick(eval, trace::now_ns());
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        const StepRecord& r = player.records()[i];
        if (!r.goal_met) {
          out << where(i) << ": goal " << step.goal->text() << " not met within " << step.goal->within_s
              << " s after the solution ran (last value: " << r.goal_value.shown() << ")\n";
          return 1;
        }
        if (options.verbose)
          out << where(i) << ": goal " << step.goal->text() << " met (" << r.goal_value.shown() << ")\n";
        break;
      }
      case Phase::done: {
        // A reveal not known yet is measured again for a while (Player::tick).
        while (player.measuring()) {
          player.tick(eval, trace::now_ns());
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        const StepRecord& r = player.records()[i];
        if (step.predict) {
          if (!r.measured.known) {
            out << where(i) << ": the reveal cannot be computed: " << step.predict->answer.text() << " is "
                << r.measured.shown() << "\n";
            return 1;
          }
          if (!step.predict->choices.empty() && r.measured_choice < 0) {
            out << where(i) << ": measured " << r.measured.shown() << " (" << step.predict->answer.text()
                << "), which no choice covers\n";
            return 1;
          }
          if (options.verbose)
            out << where(i) << ": " << step.predict->answer.text() << " = " << r.measured.shown() << "\n";
        } else if (options.verbose && !step.goal) {
          out << where(i) << ": ok\n";
        }
        player.next();
        break;
      }
      default:
        out << where(i) << ": stuck in phase " << phase_name(player.phase()) << "\n";
        return 1;
    }
  }
  live.stop();
  if (status == 0 && options.verbose)
    out << lesson.path.string() << ": passed\n"
        << "(--check answers every prediction with its first choice; the values are this run's)\n\n"
        << player.summary();
  return status;
}

}  // namespace sockscope::lesson
