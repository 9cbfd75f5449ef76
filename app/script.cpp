#include "script.h"

#include "lab/lab.h"
#include "lab_controller.h"
#include "views/step_view.h"

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
    const bool needs_lab = c.op != Op::wait_ms && c.op != Op::theme && c.op != Op::font_size &&
                           c.op != Op::screenshot && c.op != Op::export_session && c.op != Op::quit &&
                           c.op != Op::lines;
    if (needs_lab && live == nullptr) return fail(c, "this command needs a live lab, not a recording");
    switch (c.op) {
      case Op::start: {
        lab::ServerSpec spec = c.spec;
        if (!c.port_given) spec.port = live->spec().port;  // the default lesson's free port
        live->spec() = spec;
        if (!live->start()) return fail(c, "start failed: " + live->last_error());
        next();
        break;
      }
      case Op::stop:
        live->stop();
        next();
        break;
      case Op::compare: {
        CompareRun* run = ui.compare_run();
        if (run == nullptr) return fail(c, "compare needs the live lab");
        if (!started_current_) {
          started_current_ = true;
          deadline_ns_ = now_ns() + static_cast<std::uint64_t>(c.timeout_ms) * 1'000'000;
          compare_mark_ = run->finished();
          if (ui.layout() != AppUi::Layout::present) ui.set_layout(AppUi::Layout::compare);
          std::string error;
          if (!ui.compare_view().start(*run, c.compare, error)) return fail(c, "compare: " + error);
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
      case Op::set:
        // The controls' call: a running server gets only what it can take
        // now (reaping on); the rest waits for the next start.
        for (servers::SettingId id : c.settings_given) live->set_setting(id, c.spec.settings.get(id));
        next();
        break;
      case Op::lines:
        next();  // parsed into the clients commands that follow
        break;
      case Op::clients:
        if (!live->add_clients(c.clients)) return fail(c, "clients failed: " + live->last_error());
        next();
        break;
      case Op::wait_ms:
        if (!started_current_) {
          started_current_ = true;
          deadline_ns_ = now_ns() + static_cast<std::uint64_t>(c.number) * 1'000'000;
        }
        if (now_ns() < deadline_ns_) return;
        next();
        break;
      case Op::wait_children:
      case Op::wait_connections: {
        if (!started_current_) {
          started_current_ = true;
          deadline_ns_ = now_ns() + static_cast<std::uint64_t>(c.timeout_ms) * 1'000'000;
        }
        const bool children = c.op == Op::wait_children;
        int seen = live->lab().session().read([&](const session::Session& s) {
          const auto& m = s.model();
          if (!children) return static_cast<int>(m.counts.connections_open);
          pid_t root = s.meta().server_pid;
          int n = 0;
          for (const auto& p : m.processes) {
            if (root != 0 && p.ppid == root && p.alive() && p.in_proc) ++n;
          }
          return n;
        });
        if (seen >= c.number) {
          next();
          break;
        }
        if (now_ns() >= deadline_ns_) {
          return fail(c, "timed out after " + std::to_string(c.timeout_ms / 1000) + " s waiting for " +
                             std::to_string(c.number) + (children ? " live children" : " open connections") +
                             " (saw " + std::to_string(seen) + ")");
        }
        return;
      }
      case Op::step: {
        // The same calls the toolbar's buttons and keys make.
        if (c.text == "until") {
          apply_run_to(live->lab().gates(), c.until);
          next();
          break;
        }
        if (c.text == "stage") {
          // Step stage, then the frames that follow until its run ends.
          trace::GateTable& gates = live->lab().gates();
          if (!started_current_) {
            started_current_ = true;
            stage_started_ = false;
            deadline_ns_ = now_ns() + static_cast<std::uint64_t>(c.timeout_ms) * 1'000'000;
            if (gates.mode() != trace::GateMode::step) gates.set_mode(trace::GateMode::step);
          }
          if (!stage_started_) {
            const StagePlan plan = live->lab().session().read([](const session::Session& s) { return stage_plan(s.meta()); });
            stage_started_ = stage_.start(gates, 0, plan, now_ns());
            if (!stage_started_) {
              if (now_ns() >= deadline_ns_) return fail(c, "step stage: " + stage_.message());
              return;  // nobody at a gate yet
            }
          }
          if (stage_.running())
            live->lab().session().read([&](const session::Session& s) { stage_.tick(gates, &s, now_ns()); });
          if (stage_.running()) return;
          if (!stage_.succeeded()) return fail(c, "step stage: " + stage_.message());
          next();
          break;
        }
        StepCommand cmd = c.text == "run"     ? StepCommand::run
                          : c.text == "step"  ? StepCommand::step
                          : c.text == "pause" ? StepCommand::pause
                                              : StepCommand::slow;
        apply_step_command(live->lab().gates(), cmd, 300);
        next();
        break;
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
          export_ticket_ = ui.request_export(c.format, c.text, error);
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
      case Op::quit:
        if (live != nullptr) live->stop();
        finished_ = true;
        return;
    }
  }
}

}  // namespace sockscope::app
