#include "views/step_view.h"

#include <imgui.h>
#include <imgui_internal.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string>

#include "lab_controller.h"
#include "servers/architecture.h"
#include "trace/ring.h"
#include "views/code_view.h"
#include "views/style.h"

namespace sockscope::app {

using trace::GateKind;
using trace::GateMode;

std::string_view gate_explanation(GateKind kind) {
  switch (kind) {
    case GateKind::accept: return "accept() takes the next finished handshake off the listen queue: a new socket for one client.";
    case GateKind::fork: return "fork() copies the whole process; parent and child both return from it.";
    case GateKind::child_start: return "The new child runs its first line: fork() returned 0 and it holds a copy of the client's socket.";
    case GateKind::spawn: return "pthread_create() starts a new thread in the same process, sharing all memory and sockets.";
    case GateKind::enqueue: return "The connection goes onto the pool's queue; one idle worker is woken.";
    case GateKind::dequeue: return "A worker took a connection off the queue and is about to serve it.";
    case GateKind::read: return "recv() copies the client's bytes from the kernel's receive buffer into the process.";
    case GateKind::reply: return "send() copies the reply into the socket's send buffer; the kernel delivers it.";
    case GateKind::close: return "close() releases the socket and the kernel sends the client a FIN (a client still sending gets a short linger first).";
    case GateKind::exit: return "The process (or thread) ends; the kernel closes its files and tells the parent (SIGCHLD).";
    case GateKind::reap: return "waitpid() / join() collects the finished child's status and frees its slot: no more zombie.";
    case GateKind::lock: return "pthread_mutex_lock() takes the mutex, or sleeps until its holder lets go.";
    case GateKind::unlock: return "pthread_mutex_unlock() releases the mutex and wakes one waiting thread.";
    case GateKind::counter_read: return "A plain load of the shared visitor counter into this thread's register.";
    case GateKind::counter_write: return "A plain store of (the value read + 1), whatever the counter holds by now.";
    case GateKind::handler_begin: return "The event loop runs the next ready handler; everyone else waits for it to return.";
    case GateKind::exec: return "execve() replaces the child's program with the handler's: same pid, new code, the socket kept as stdin/stdout.";
    case GateKind::count_: break;
  }
  return "";
}

void apply_step_stage(trace::GateTable& gates, StageStepper& stepper, std::uint32_t conn, StagePlan plan) {
  // Like Step: from run or slow motion the first press pauses everyone.
  if (gates.mode() != GateMode::step) {
    stepper.cancel("paused");
    gates.set_mode(GateMode::step);
    return;
  }
  if (stepper.running()) return;
  stepper.start(gates, conn, plan, trace::now_ns());
}

std::optional<trace::RunTarget> parse_run_to(GateKind kind, std::string_view conn_text) {
  while (!conn_text.empty() && conn_text.front() == ' ') conn_text.remove_prefix(1);
  while (!conn_text.empty() && conn_text.back() == ' ') conn_text.remove_suffix(1);
  std::uint32_t conn = 0;
  if (!conn_text.empty()) {
    auto [end, ec] = std::from_chars(conn_text.data(), conn_text.data() + conn_text.size(), conn);
    if (ec != std::errc() || end != conn_text.data() + conn_text.size()) return std::nullopt;
  }
  return trace::RunTarget{kind, conn};
}


std::string step_mode_text(GateMode mode, std::optional<trace::RunTarget> target) {
  if (mode != GateMode::run_to || !target) return "mode: " + std::string(trace::gate_mode_name(mode));
  const std::string gate(trace::gate_name(target->kind));
  if (target->conn == 0) return "running until the next " + gate + " (any connection)";
  return "running until connection " + std::to_string(target->conn) + " reaches " + gate;
}

namespace {
}  // namespace

void StepView::command(trace::GateTable& gates, StepCommand cmd) {
  stage_.cancel(cmd == StepCommand::step ? "stage run stopped by Step" : "stage run stopped");
  apply_step_command(gates, cmd, static_cast<std::uint32_t>(slow_ms));
}

void StepView::step_stage(FrameContext& ctx, trace::GateTable& gates) {
  apply_step_stage(gates, stage_, chosen_conn, stage_plan(ctx.session.meta()));
}

void StepView::handle_keys(FrameContext& ctx, trace::GateTable& gates) {
  const ImGuiIO& io = ImGui::GetIO();
  if (io.WantTextInput || io.KeyCtrl || io.KeyAlt || io.KeySuper) return;
  // The timeline has keys of its own (Space plays a recording) while it has
  // focus; everywhere else Space, Shift+Space, R and P step the servers.
  const ImGuiWindow* focused = GImGui->NavWindow;
  if (focused && focused->RootWindow && std::string_view(focused->RootWindow->Name).ends_with("###timeline")) return;
  // Typed characters, not key codes: imgui 1.86 has no portable letter keys.
  for (ImWchar c : io.InputQueueCharacters) {
    if (c == ' ' && io.KeyShift) step_stage(ctx, gates);
    else if (c == ' ') command(gates, StepCommand::step);
    if (c == 'r' || c == 'R') command(gates, StepCommand::run);
    if (c == 'p' || c == 'P') command(gates, StepCommand::pause);
    if (c == 'u' || c == 'U')
      if (auto target = parse_run_to(run_to_kind, run_to_conn)) {
        stage_.cancel("stage run stopped by Run to");
        apply_run_to(gates, *target);
      }
  }
}

void StepView::draw_toolbar(FrameContext& ctx, trace::GateTable& gates) {
  const GateMode mode = gates.mode();
  auto mode_button = [&](const char* label, bool active, StepCommand cmd, const char* tip) {
    if (active) ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetStyleColorVec4(ImGuiCol_ButtonActive));
    if (ImGui::Button(label)) command(gates, cmd);
    if (active) ImGui::PopStyleColor();
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", tip);
  };
  mode_button("Run", mode == GateMode::run, StepCommand::run, "Run at full speed; releases everyone waiting (R)");
  ImGui::SameLine();
  mode_button("Step", false, StepCommand::step,
              "Let the earliest arrival take one step to its next gate; pauses first when running (Space)");
  style::same_line_if_fits(ImGui::CalcTextSize("Step stage").x + ImGui::GetStyle().FramePadding.x * 2.0f);
  {
    const bool running = stage_.running();
    if (running) ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetStyleColorVec4(ImGuiCol_ButtonActive));
    if (ImGui::Button("Step stage")) step_stage(ctx, gates);
    if (running) ImGui::PopStyleColor();
    if (ImGui::IsItemHovered()) {
      const std::string who = chosen_conn ? "connection " + std::to_string(chosen_conn) + " (chosen in Waiting at gates)"
                                          : std::string("the earliest arrival's connection");
      ImGui::SetTooltip(
          "Move %s to its next stage (Shift+Space):\n"
          "accept, fork / spawn / enqueue (or exec), each request (read to reply),\n"
          "close, exit, reap. Only that connection's processes and threads move;\n"
          "everyone else stays where they are. Pauses first when running.",
          who.c_str());
    }
  }
  style::same_line_if_fits(ImGui::CalcTextSize("Pause").x + ImGui::GetStyle().FramePadding.x * 2.0f);
  mode_button("Pause", mode == GateMode::step, StepCommand::pause,
              "Stop every process and thread at its next gate (P)");
  style::same_line_if_fits(ImGui::CalcTextSize("Slow").x + ImGui::GetStyle().FramePadding.x * 2.0f);
  mode_button("Slow", mode == GateMode::slow, StepCommand::slow, "Slow motion: every gate waits the delay on the right");
  style::same_line_if_fits(ImGui::GetFontSize() * 9.0f);
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 9.0f);
  if (ImGui::SliderInt("##slow", &slow_ms, 20, 2000, "%d ms per gate") && mode == GateMode::slow)
    gates.set_mode(GateMode::slow, static_cast<std::uint32_t>(slow_ms));
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Slow-motion delay at every gate");
}

void StepView::draw_mode(trace::GateTable& gates) {
  const GateMode mode = gates.mode();
  const std::string text = step_mode_text(mode, gates.run_target());
  // Running to a target is the state to notice: nothing moves by hand until it stops.
  ImGui::PushTextWrapPos(0.0f);
  style::text_colored(mode == GateMode::run_to ? style::palette().warn : style::palette().dim, "%s", text.c_str());
  ImGui::PopTextWrapPos();
  // Step stage: what the run is doing, or how the last one ended.
  if (const std::string stage = stage_.status_text(); !stage.empty()) {
    style::same_line_if_fits(ImGui::CalcTextSize(stage.c_str()).x);
    ImGui::PushTextWrapPos(0.0f);
    style::text_colored(stage_.running()      ? style::palette().warn
                        : stage_.succeeded() ? style::palette().dim
                                             : style::palette().bad,
                        "%s", stage.c_str());
    ImGui::PopTextWrapPos();
  }
  if (mode != GateMode::step) return;
  const std::uint64_t breakpoint = gates.breakpoint_seq();
  for (const auto& w : waiters_) {
    if (w.seq != breakpoint) continue;
    std::string who = w.tid == w.pid ? "pid " + std::to_string(w.pid) : "tid " + std::to_string(w.tid);
    std::string sentence = "stopped where " + who + " reached " + std::string(trace::gate_name(w.kind));
    if (w.conn) sentence += " (connection " + std::to_string(w.conn) + ")";
    style::same_line_if_fits(ImGui::CalcTextSize(sentence.c_str()).x);
    ImGui::PushTextWrapPos(0.0f);
    style::text_colored(style::palette().warn, "%s", sentence.c_str());
    ImGui::PopTextWrapPos();
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("The Run-to target: it stopped there first, and everyone else stopped at their next gate.");
  }
}

void StepView::draw_run_to(FrameContext& ctx, trace::GateTable& gates) {
  if (auto target = gates.run_target(); target && target != seen_target_) {
    run_to_kind = target->kind;
    std::string conn = target->conn ? std::to_string(target->conn) : "";
    std::snprintf(run_to_conn, sizeof(run_to_conn), "%s", conn.c_str());
    seen_target_ = target;
  } else if (!target) {
    seen_target_.reset();
  }
  // Gates the running server's source never reaches: running to one would
  // only stop when the server changes, so the combo says so.
  const std::string& arch = ctx.session.meta().architecture;
  const servers::Architecture* described = servers::find_architecture(arch);
  auto in_server = [&](GateKind k) { return described == nullptr || described->passes(k); };
  const std::optional<trace::RunTarget> chosen = parse_run_to(run_to_kind, run_to_conn);
  const std::string kind_name(trace::gate_name(run_to_kind));

  const bool active = gates.mode() == GateMode::run_to;
  if (active) ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetStyleColorVec4(ImGuiCol_ButtonActive));
  ImGui::BeginDisabled(!chosen.has_value());
  if (ImGui::Button("Run to") && chosen) {
    stage_.cancel("stage run stopped by Run to");
    apply_run_to(gates, *chosen);
  }
  ImGui::EndDisabled();
  if (active) ImGui::PopStyleColor();
  if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled)) {
    const std::string who = chosen && chosen->conn ? "connection " + std::to_string(chosen->conn) : "any connection";
    ImGui::SetTooltip(
        "Run until %s reaches a %s gate (U)\n"
        "A breakpoint: releases everyone and runs at full speed, then stops there,\n"
        "and everyone else at their next gate, as Pause does.\n"
        "Whoever already stands at a %s gate goes on past it first.",
        who.c_str(), kind_name.c_str(), kind_name.c_str());
  }
  style::same_line_if_fits(ImGui::GetFontSize() * 7.5f);
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 7.5f);
  if (ImGui::BeginCombo("##run_to_gate", kind_name.c_str())) {
    for (std::size_t i = 0; i < trace::kGateNames.size(); ++i) {
      const auto k = static_cast<GateKind>(i);
      const bool have = in_server(k);
      if (!have) ImGui::PushStyleColor(ImGuiCol_Text, style::palette().dim);
      if (ImGui::Selectable(std::string(trace::kGateNames[i]).c_str(), k == run_to_kind)) run_to_kind = k;
      if (!have) ImGui::PopStyleColor();
      if (ImGui::IsItemHovered())
        ImGui::SetTooltip("%s%s", std::string(gate_explanation(k)).c_str(),
                          have ? "" : "\nThis server has no such gate: running to it would not stop.");
      if (k == run_to_kind) ImGui::SetItemDefaultFocus();
    }
    ImGui::EndCombo();
  }
  style::same_line_if_fits(ImGui::CalcTextSize("conn").x + ImGui::GetFontSize() * 4.5f);
  ImGui::TextUnformatted("conn");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 4.0f);
  ImGui::InputTextWithHint("##run_to_conn", "any", run_to_conn, sizeof(run_to_conn), ImGuiInputTextFlags_CharsDecimal);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Connection number, in the order the server accepted them; blank or 0 = any connection");
  if (!chosen) {
    style::text_colored(style::palette().bad, "not a connection number");
  } else if (!in_server(run_to_kind)) {
    style::text_colored(style::palette().warn, "this server has no %s gate", kind_name.c_str());
  }
}

void StepView::draw_waiters(FrameContext& ctx, trace::GateTable& gates) {
  ImGui::Separator();
  ImGui::TextUnformatted("Waiting at gates");
  if (waiters_.empty()) {
    const GateMode mode = gates.mode();
    ImGui::PushTextWrapPos(0.0f);
    style::text_colored(style::palette().dim,
                        mode == GateMode::step     ? "Nobody is waiting: every process is blocked elsewhere or idle."
                        : mode == GateMode::run_to ? "Running: everyone stops when the target gate is reached."
                                                   : "Pause (P) or Step (Space) to stop processes at their gates.");
    ImGui::PopTextWrapPos();
    return;
  }
  if (ImGui::Button("Release all")) {
    stage_.cancel("stage run stopped by Release all");
    gates.release_all();
  }
  ImGui::SameLine();
  ImGui::Text("%zu waiting", waiters_.size());
  if (chosen_conn != 0) {
    const std::string chosen = "Step stage moves connection " + std::to_string(chosen_conn);
    style::same_line_if_fits(ImGui::CalcTextSize(chosen.c_str()).x);
    style::text_colored(style::palette().warn, "%s", chosen.c_str());
    style::same_line_if_fits(ImGui::CalcTextSize("any").x + ImGui::GetStyle().FramePadding.x * 2.0f);
    if (ImGui::SmallButton("any")) chosen_conn = 0;
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("Step stage moves the earliest arrival's connection again");
  }
  // ScrollX: in a narrow window the columns keep their width and the table
  // scrolls, rather than squeezing the gate's name to two letters.
  const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY |
                                ImGuiTableFlags_ScrollX |
                                ImGuiTableFlags_SizingFixedFit;
  // At least a few rows tall: in a short window the window scrolls to the
  // table, instead of the table shrinking to its header.
  const float row_h = ImGui::GetTextLineHeightWithSpacing() + ImGui::GetStyle().CellPadding.y * 2.0f;
  const float rows = static_cast<float>(std::min<std::size_t>(waiters_.size(), 4) + 1);
  const float height = std::max(ImGui::GetContentRegionAvail().y, rows * row_h + ImGui::GetStyle().ScrollbarSize);
  if (!ImGui::BeginTable("##waiters", 6, flags, ImVec2(0.0f, height))) return;
  ImGui::TableSetupScrollFreeze(0, 1);
  ImGui::TableSetupColumn("#");
  ImGui::TableSetupColumn("gate");
  ImGui::TableSetupColumn("conn");
  ImGui::TableSetupColumn("who");
  ImGui::TableSetupColumn("for");
  ImGui::TableSetupColumn("");
  ImGui::TableHeadersRow();
  int row = 0;
  const std::uint64_t breakpoint = gates.breakpoint_seq();
  for (const auto& w : waiters_) {
    ImGui::PushID(static_cast<int>(w.seq));
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    {
      // Clicking a row chooses its connection for Step stage (again: any).
      char label[16];
      std::snprintf(label, sizeof label, "%d", ++row);
      const bool chosen = w.conn != 0 && w.conn == chosen_conn;
      if (ImGui::Selectable(label, chosen, ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowItemOverlap))
        chosen_conn = chosen ? 0 : w.conn;
      if (ImGui::IsItemHovered())
        ImGui::SetTooltip(w.conn ? "Click: Step stage moves connection %u" : "No connection yet (click: any)", w.conn);
    }
    ImGui::TableNextColumn();
    if (w.seq == breakpoint) {
      // The one that reached the "Run to" target; everyone else stopped at
      // whatever gate came next for them.
      style::text_colored(style::palette().warn, "%s (target)", std::string(trace::gate_name(w.kind)).c_str());
      if (ImGui::IsItemHovered())
        ImGui::SetTooltip("Reached the Run-to target first and stopped everyone.\n%s",
                          std::string(gate_explanation(w.kind)).c_str());
    } else {
      ImGui::TextUnformatted(std::string(trace::gate_name(w.kind)).c_str());
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", std::string(gate_explanation(w.kind)).c_str());
    }
    ImGui::TableNextColumn();
    if (w.conn) ImGui::Text("%u", w.conn);
    else style::text_colored(style::palette().dim, "-");
    ImGui::TableNextColumn();
    {
      // In its colour: its node's stripe in the tree, its cursor in the code.
      style::MonoFont mono;
      ImGui::PushStyleColor(ImGuiCol_Text, style::identity_colour(ctx.model, w.pid, w.tid));
      if (w.tid == w.pid) ImGui::Text("pid %d", static_cast<int>(w.pid));
      else ImGui::Text("tid %d", static_cast<int>(w.tid));
      ImGui::PopStyleColor();
      if (w.tid != w.pid && ImGui::IsItemHovered()) ImGui::SetTooltip("thread %d of pid %d", static_cast<int>(w.tid), static_cast<int>(w.pid));
    }
    ImGui::TableNextColumn();
    std::uint64_t age = ctx.now_ns > w.since_ns ? ctx.now_ns - w.since_ns : 0;
    ImGui::TextUnformatted(style::format_duration_ns(age).c_str());
    ImGui::TableNextColumn();
    if (ImGui::SmallButton("Release")) gates.release(w);
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("Let this one take its step: %s", std::string(gate_explanation(w.kind)).c_str());
    ImGui::PopID();
  }
  ImGui::EndTable();
}

void StepView::update(FrameContext& ctx) {
  if (ctx.lab == nullptr) return;
  trace::GateTable& gates = ctx.lab->lab().gates();
  handle_keys(ctx, gates);
  // A Step stage run moves on by at most one release per frame.
  stage_.tick(gates, &ctx.session, trace::now_ns());
  if (stage_.running()) ctx.wants_redraw = true;
}

void StepView::draw(FrameContext& ctx) {
  if (!ImGui::Begin("Stepping###stepping")) {
    ImGui::End();
    return;
  }
  if (ctx.lab == nullptr) {
    style::text_colored(style::palette().dim, "Stepping works on the live lab, not on a recording.");
    ImGui::End();
    return;
  }
  trace::GateTable& gates = ctx.lab->lab().gates();
  waiters_ = gates.waiters();
  draw_toolbar(ctx, gates);
  draw_run_to(ctx, gates);
  draw_mode(gates);
  draw_waiters(ctx, gates);
  // "waiting for 3.2 s" keeps counting while someone is parked.
  if (!waiters_.empty() || gates.mode() != GateMode::run || stage_.running()) ctx.wants_redraw = true;
  ImGui::End();
}

}  // namespace sockscope::app
