#include "script.h"

#include "lab/lab.h"
#include "lab_controller.h"

#include "app_ui.h"
#include "compare_run.h"
#include "model_dump.h"
#include "clients/scenario.h"
#include "servers/architecture.h"
#include "trace/ring.h"

namespace sockscope::app {
namespace {

std::uint64_t now_ns() { return trace::now_ns(); }

}  // namespace

ScriptRunner::ScriptRunner(std::vector<ScriptCommand> commands, std::string name, std::string default_screenshot)
    : commands_(std::move(commands)), name_(std::move(name)), default_screenshot_(std::move(default_screenshot)) {}

void ScriptRunner::fail(const ScriptCommand& c, const std::string& reason) {
  error_ = name_ + ":" + std::to_string(c.line) + ": " + reason;
  exit_code_ = 1;
  finished_ = true;
}

void ScriptRunner::next() {
  ++pc_;
  started_current_ = false;
}

bool ScriptRunner::waiting() const {
  if (finished_ || pc_ >= commands_.size() || !started_current_) return false;
  using Op = ScriptCommand::Op;
  const ScriptCommand& c = commands_[pc_];
  switch (c.op) {
    case Op::wait_ms: case Op::wait_children: case Op::wait_connections: case Op::compare:
    case Op::compare_export: case Op::export_session:
      return true;
    case Op::step: return c.text == "stage";
    case Op::lesson: return c.text == "wait-step";
    default: return false;
  }
}

void ScriptRunner::screenshot_done(bool ok, const std::string& error) {
  capture_path_.clear();
  if (!ok) {
    fail(commands_[pc_], error);
    return;
  }
  next();
}

void ScriptRunner::step(LabController* live, AppUi& ui) {
  using Op = ScriptCommand::Op;
  // Instant commands run back to back in one frame; waits and screenshots
  // return and let frames be drawn.
  while (!finished_) {
    if (pc_ >= commands_.size()) {
      finished_ = true;
      return;
    }
    const ScriptCommand& c = commands_[pc_];
    if (lesson::LabCommandRunner::runs(c.op)) {
      if (!started_current_) {
        started_current_ = true;
        lab_.begin();
      }
      switch (lab_.tick(c, live, now_ns())) {
        case lesson::LabCommandRunner::Status::running:
          return;
        case lesson::LabCommandRunner::Status::failed:
          return fail(c, lab_.error());
        case lesson::LabCommandRunner::Status::done:
          next();
          continue;
      }
    }
    const bool needs_lab = c.op == Op::compare || c.op == Op::compare_export || c.op == Op::dump_model;
    if (needs_lab && live == nullptr) return fail(c, "this command needs a live lab, not a recording");
    switch (c.op) {
      case Op::compare: {
        CompareRun* run = ui.compare_run();
        if (run == nullptr) return fail(c, "compare needs the live lab");
        if (!started_current_) {
          started_current_ = true;
          deadline_ns_ = now_ns() + static_cast<std::uint64_t>(c.timeout_ms) * 1'000'000;
          compare_mark_ = run->finished();
          if (ui.layout() != AppUi::Layout::present) ui.set_layout(AppUi::Layout::compare);
          std::string error;
          compare::CompareOptions options = c.compare;
          if (c.references_if_installed) options.drop_unavailable_references();
          if (!ui.compare_view().start(*run, options, error)) return fail(c, "compare: " + error);
        }
        // The window's own poll() collects the result; look at what it kept.
        if (run->finished() > compare_mark_) {
          const compare::Result& r = run->results().back();
          if (r.rows.empty()) return fail(c, "compare: no row was measured");
          next();
          break;
        }
        if (now_ns() >= deadline_ns_) {
          run->cancel();
          return fail(c, "compare: still running after " + std::to_string(c.timeout_ms / 1000) + " s");
        }
        return;
      }
      case Op::compare_export: {
        CompareRun* run = ui.compare_run();
        if (run == nullptr) return fail(c, "compare export needs the live lab");
        CompareView& view = ui.compare_view();
        if (!started_current_) {
          started_current_ = true;
          deadline_ns_ = now_ns() + static_cast<std::uint64_t>(c.timeout_ms) * 1'000'000;
          compare_mark_ = view.exports_done();
          std::string error;
          if (!view.request_export(*run, c.text, error)) return fail(c, "compare export: " + error);
        }
        if (view.exports_done() > compare_mark_) {
          if (view.export_message().rfind("exported ", 0) != 0) return fail(c, "compare export: " + view.export_message());
          next();
          break;
        }
        if (now_ns() >= deadline_ns_) return fail(c, "compare export: nothing written within the timeout");
        return;
      }
      case Op::theme: {
        style::Theme t;
        style::theme_from_name(c.text, t);
        ui.set_theme(t);
        next();
        return;  // let the shell apply it before the next command
      }
      case Op::layout:
        if (c.text == "layout") ui.set_layout(*layout_from_name(c.arg));
        else if (c.text == "controls") ui.set_controls_collapsed(c.arg == "hide");
        else if (c.arg == "off") ui.leave_present();
        else ui.present(*window_from_key(c.arg));
        next();
        return;  // the shell applies a font change before the next command
      case Op::font_size:
        ui.set_font(static_cast<float>(c.number));
        next();
        return;
      case Op::dump_model: {
        live->lab().flush();
        // And what the views drew in the last frame: the layout, each
        // window's rectangle, the tree's folded nodes and the code view's
        // cursors (file and line of each parked process).
        nlohmann::json drawn = ui.drawn_json();
        drawn["code_cursors"] = nlohmann::json::array();
        for (const CodeCursor& cur : ui.code_view().cursors())
          drawn["code_cursors"].push_back({{"file", cur.file},
                                           {"line", cur.line},
                                           {"pid", cur.waiter.pid},
                                           {"tid", cur.waiter.tid},
                                           {"gate", std::string(trace::gate_name(cur.waiter.kind))},
                                           {"conn", cur.waiter.conn}});
        std::string error;
        bool ok = live->lab().session().read(
            [&](const session::Session& s) { return write_model_json(s, c.text, error, drawn); });
        if (!ok) return fail(c, "dump-model: " + error);
        next();
        break;
      }
      case Op::screenshot: {
        std::string path = c.text.empty() ? default_screenshot_ : c.text;
        if (path.empty()) return fail(c, "screenshot needs a FILE or --screenshot FILE");
        // A few frames first: windows size themselves on their first frames.
        if (!started_current_) {
          started_current_ = true;
          settle_frames_ = 3;
        }
        if (settle_frames_-- > 0) return;
        capture_path_ = path;
        return;  // the shell writes it after this frame and calls screenshot_done()
      }
      case Op::export_session: {
        // The Export button's call; the export runs in the frames that follow
        // (a worker, or the shell writing the PNG), and we wait for its outcome.
        if (!started_current_) {
          std::string error;
          export_ticket_ = ui.request_export(static_cast<ExportFormat>(c.number), c.text, error);
          if (export_ticket_ == 0) return fail(c, "export " + c.text + ": " + error);
          started_current_ = true;
          deadline_ns_ = now_ns() + static_cast<std::uint64_t>(c.timeout_ms) * 1'000'000;
          return;
        }
        if (auto done = ui.export_outcome(export_ticket_)) {
          if (!done->ok) return fail(c, "export failed: " + done->message);
          next();
          break;
        }
        if (now_ns() >= deadline_ns_)
          return fail(c, "export " + c.text + ": not finished after " + std::to_string(c.timeout_ms / 1000) + " s");
        return;
      }
      case Op::lesson: {
        LessonView& view = ui.lesson_view();
        if (c.text == "start-here") {
          if (c.arg == "open") ui.open_start_here();
          next();
          return;  // drawn in the next frame
        }
        if (c.text == "open") {
          std::string error;
          if (!ui.open_lesson(c.arg, error)) return fail(c, error);
          next();
          return;
        }
        if (!view.active()) return fail(c, "no lesson is open (lesson open LESSON first)");
        if (c.text == "wait-step") {
          if (!started_current_) {
            started_current_ = true;
            deadline_ns_ = now_ns() + static_cast<std::uint64_t>(c.timeout_ms) * 1'000'000;
          }
          const lesson::Player& p = *view.player();
          const bool there = p.current() + 1 > static_cast<std::size_t>(c.number) ||
                             (p.current() + 1 == static_cast<std::size_t>(c.number) && p.batch() == nullptr);
          if (!p.error().empty()) return fail(c, "lesson: " + p.error());
          if (there) {
            next();
            break;
          }
          if (now_ns() >= deadline_ns_) return fail(c, "lesson: step " + std::to_string(c.number) + " not reached");
          return;
        }
        if (c.text == "next") view.next();
        else if (c.text == "back") view.back();
        else if (c.text == "skip") view.skip();
        else if (c.text == "hint") view.hint();
        else if (c.text == "show-me") view.show_me();
        else if (c.text == "close") ui.close_lesson();
        else if (c.text == "answer") {
          const lesson::Player& p = *view.player();
          const double v = std::stod(c.arg);
          const bool ok = p.step().predict && !p.step().predict->choices.empty() ? view.answer(static_cast<int>(v) - 1)
                                                                                 : view.answer_number(v);
          if (!ok) return fail(c, "lesson answer: no question waits for an answer (or no choice " + c.arg + ")");
        }
        next();
        return;  // let a frame show it
      }
      case Op::quit:
        if (live != nullptr) live->stop();
        finished_ = true;
        return;
      default:
        return fail(c, "no runner for '" + c.source + "'");
    }
  }
}

}  // namespace sockscope::app
