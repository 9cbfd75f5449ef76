// LabCommandRunner: the lab's script verbs on a lab::Controller, the same
// calls the controls and the stepping toolbar make. Nothing here blocks:
// a wait returns `running` until it is over.
#include "lesson/script.h"

#include "lab/lab.h"

namespace sockscope::lesson {

bool LabCommandRunner::runs(ScriptCommand::Op op) {
  using Op = ScriptCommand::Op;
  switch (op) {
    case Op::start:
    case Op::set:
    case Op::stop:
    case Op::lines:
    case Op::clients:
    case Op::wait_children:
    case Op::wait_connections:
    case Op::wait_ms:
    case Op::step:
      return true;
    default:
      return false;
  }
}

void LabCommandRunner::begin() {
  started_ = false;
  stage_started_ = false;
  error_.clear();
}

LabCommandRunner::Status LabCommandRunner::fail(std::string reason) {
  error_ = std::move(reason);
  return Status::failed;
}

LabCommandRunner::Status LabCommandRunner::tick(const ScriptCommand& c, lab::Controller* live, std::uint64_t now) {
  using Op = ScriptCommand::Op;
  if (c.op != Op::wait_ms && live == nullptr) return fail("this command needs a live lab, not a recording");
  switch (c.op) {
    case Op::start: {
      // The controls' form, with what the line names: the Start button's
      // path after the user changed those fields.
      if (live->running()) live->stop();
      lab::ServerSpec spec = live->spec();
      spec.arch = c.spec.arch;
      if (c.protocol_given) spec.protocol = c.spec.protocol;
      if (c.port_given) spec.port = c.spec.port;
      for (servers::SettingId id : c.settings_given) spec.settings.set(id, c.spec.settings.get(id));
      live->spec() = spec;
      if (!live->start()) return fail("start failed: " + live->last_error());
      return Status::done;
    }
    case Op::stop:
      live->stop();
      return Status::done;
    case Op::set:
      // The controls' call: a running server gets only what it can take
      // now (reaping on); the rest waits for the next start.
      for (servers::SettingId id : c.settings_given) live->set_setting(id, c.spec.settings.get(id));
      return Status::done;
    case Op::lines:
      return Status::done;  // parsed into the clients commands that follow
    case Op::clients:
      if (!live->add_clients(c.clients)) return fail("clients failed: " + live->last_error());
      return Status::done;
    case Op::wait_ms:
      if (!started_) {
        started_ = true;
        deadline_ns_ = now + static_cast<std::uint64_t>(c.number) * 1'000'000;
      }
      return now < deadline_ns_ ? Status::running : Status::done;
    case Op::wait_children:
    case Op::wait_connections: {
      if (!started_) {
        started_ = true;
        deadline_ns_ = now + static_cast<std::uint64_t>(c.timeout_ms) * 1'000'000;
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
      if (seen >= c.number) return Status::done;
      if (now >= deadline_ns_) {
        return fail("timed out after " + std::to_string(c.timeout_ms / 1000) + " s waiting for " +
                    std::to_string(c.number) + (children ? " live children" : " open connections") + " (saw " +
                    std::to_string(seen) + ")");
      }
      return Status::running;
    }
    case Op::step: {
      trace::GateTable& gates = live->lab().gates();
      if (c.text == "until") {
        lab::apply_run_to(gates, c.until);
        return Status::done;
      }
      if (c.text == "stage") {
        // Step stage, then the ticks that follow until its run ends.
        if (!started_) {
          started_ = true;
          stage_started_ = false;
          deadline_ns_ = now + static_cast<std::uint64_t>(c.timeout_ms) * 1'000'000;
          if (gates.mode() != trace::GateMode::step) gates.set_mode(trace::GateMode::step);
        }
        if (!stage_started_) {
          const lab::StagePlan plan =
              live->lab().session().read([](const session::Session& s) { return lab::stage_plan(s.meta()); });
          stage_started_ = stage_.start(gates, 0, plan, now);
          if (!stage_started_) {
            if (now >= deadline_ns_) return fail("step stage: " + stage_.message());
            return Status::running;  // nobody at a gate yet
          }
        }
        if (stage_.running())
          live->lab().session().read([&](const session::Session& s) { stage_.tick(gates, &s, now); });
        if (stage_.running()) return Status::running;
        if (!stage_.succeeded()) return fail("step stage: " + stage_.message());
        return Status::done;
      }
      lab::StepCommand cmd = c.text == "run"     ? lab::StepCommand::run
                             : c.text == "step"  ? lab::StepCommand::step
                             : c.text == "pause" ? lab::StepCommand::pause
                                                 : lab::StepCommand::slow;
      lab::apply_step_command(gates, cmd, 300);
      return Status::done;
    }
    default:
      return fail("not a lab command");
  }
}

}  // namespace sockscope::lesson
