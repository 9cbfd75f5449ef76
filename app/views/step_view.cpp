#include "views/step_view.h"

#include <imgui.h>
#include <imgui_internal.h>

#include <string>

#include "lab_controller.h"
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
    case GateKind::close: return "shutdown() sends the client a FIN, then close() releases the socket.";
    case GateKind::exit: return "The process (or thread) ends; the kernel closes its files and tells the parent (SIGCHLD).";
    case GateKind::reap: return "waitpid() / join() collects the finished child's status and frees its slot: no more zombie.";
    case GateKind::lock: return "pthread_mutex_lock() takes the mutex, or sleeps until its holder lets go.";
    case GateKind::unlock: return "pthread_mutex_unlock() releases the mutex and wakes one waiting thread.";
    case GateKind::counter_read: return "A plain load of the shared visitor counter into this thread's register.";
    case GateKind::counter_write: return "A plain store of (the value read + 1), whatever the counter holds by now.";
    case GateKind::handler_begin: return "The event loop runs the next ready handler; everyone else waits for it to return.";
    case GateKind::count_: break;
  }
  return "";
}

void apply_step_command(trace::GateTable& gates, StepCommand command, std::uint32_t slow_ms) {
  switch (command) {
    case StepCommand::run:
      gates.set_mode(GateMode::run);  // releases everyone parked
      break;
    case StepCommand::pause:
      // Everyone stops at their next gate; nobody is released.
      gates.set_mode(GateMode::step);
      break;
    case StepCommand::step:
      // From run or slow motion, the first Step pauses; after that each Step
      // lets the earliest arrival take one step.
      if (gates.mode() != GateMode::step) gates.set_mode(GateMode::step);
      else gates.release_next();
      break;
    case StepCommand::slow:
      gates.set_mode(GateMode::slow, slow_ms);
      break;
  }
}

void StepView::handle_keys(trace::GateTable& gates) {
  const ImGuiIO& io = ImGui::GetIO();
  if (io.WantTextInput || io.KeyCtrl || io.KeyAlt || io.KeySuper) return;
  // The timeline has keys of its own (Space plays a recording) while it has
  // focus; everywhere else Space, R and P step the servers.
  const ImGuiWindow* focused = GImGui->NavWindow;
  if (focused && focused->RootWindow && std::string_view(focused->RootWindow->Name).ends_with("###timeline")) return;
  // Typed characters, not key codes: imgui 1.86 has no portable letter keys.
  for (ImWchar c : io.InputQueueCharacters) {
    if (c == ' ') apply_step_command(gates, StepCommand::step, static_cast<std::uint32_t>(slow_ms));
    if (c == 'r' || c == 'R') apply_step_command(gates, StepCommand::run, static_cast<std::uint32_t>(slow_ms));
    if (c == 'p' || c == 'P') apply_step_command(gates, StepCommand::pause, static_cast<std::uint32_t>(slow_ms));
  }
}

void StepView::draw_toolbar(trace::GateTable& gates) {
  const GateMode mode = gates.mode();
  auto mode_button = [&](const char* label, bool active, StepCommand cmd, const char* tip) {
    if (active) ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetStyleColorVec4(ImGuiCol_ButtonActive));
    if (ImGui::Button(label)) apply_step_command(gates, cmd, static_cast<std::uint32_t>(slow_ms));
    if (active) ImGui::PopStyleColor();
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", tip);
  };
  mode_button("Run", mode == GateMode::run, StepCommand::run, "Run at full speed; releases everyone waiting (R)");
  ImGui::SameLine();
  mode_button("Step", false, StepCommand::step,
              "Let the earliest arrival take one step to its next gate; pauses first when running (Space)");
  ImGui::SameLine();
  mode_button("Pause", mode == GateMode::step, StepCommand::pause,
              "Stop every process and thread at its next gate (P)");
  ImGui::SameLine();
  mode_button("Slow", mode == GateMode::slow, StepCommand::slow, "Slow motion: every gate waits the delay on the right");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 9.0f);
  if (ImGui::SliderInt("##slow", &slow_ms, 20, 2000, "%d ms per gate") && mode == GateMode::slow)
    gates.set_mode(GateMode::slow, static_cast<std::uint32_t>(slow_ms));
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Slow-motion delay at every gate");
  ImGui::SameLine();
  style::text_colored(style::palette().dim, "mode: %s", std::string(trace::gate_mode_name(mode)).c_str());
}

void StepView::draw_waiters(FrameContext& ctx, trace::GateTable& gates) {
  ImGui::Separator();
  ImGui::TextUnformatted("Waiting at gates");
  if (waiters_.empty()) {
    style::text_colored(style::palette().dim, gates.mode() == GateMode::step
                                                  ? "Nobody is waiting: every process is blocked elsewhere or idle."
                                                  : "Pause (P) or Step (Space) to stop processes at their gates.");
    return;
  }
  if (ImGui::Button("Release all")) gates.release_all();
  ImGui::SameLine();
  ImGui::Text("%zu waiting", waiters_.size());
  const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY |
                                ImGuiTableFlags_SizingFixedFit;
  if (!ImGui::BeginTable("##waiters", 6, flags)) return;
  ImGui::TableSetupScrollFreeze(0, 1);
  ImGui::TableSetupColumn("#");
  ImGui::TableSetupColumn("process / thread");
  ImGui::TableSetupColumn("gate", ImGuiTableColumnFlags_WidthStretch);
  ImGui::TableSetupColumn("conn");
  ImGui::TableSetupColumn("waiting");
  ImGui::TableSetupColumn("");
  ImGui::TableHeadersRow();
  int row = 0;
  for (const auto& w : waiters_) {
    ImGui::PushID(static_cast<int>(w.seq));
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    ImGui::Text("%d", ++row);
    ImGui::TableNextColumn();
    {
      style::MonoFont mono;
      if (w.tid == w.pid) ImGui::Text("pid %d", static_cast<int>(w.pid));
      else ImGui::Text("pid %d / tid %d", static_cast<int>(w.pid), static_cast<int>(w.tid));
    }
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(std::string(trace::gate_name(w.kind)).c_str());
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", std::string(gate_explanation(w.kind)).c_str());
    ImGui::TableNextColumn();
    if (w.conn) ImGui::Text("%u", w.conn);
    else style::text_colored(style::palette().dim, "-");
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

void StepView::draw(FrameContext& ctx) {
  if (!ImGui::Begin("Stepping")) {
    ImGui::End();
    return;
  }
  if (ctx.lab == nullptr) {
    style::text_colored(style::palette().dim, "Stepping works on the live lab, not on a recording.");
    ImGui::End();
    return;
  }
  trace::GateTable& gates = ctx.lab->lab().gates();
  handle_keys(gates);
  waiters_ = gates.waiters();
  draw_toolbar(gates);
  draw_waiters(ctx, gates);
  // "waiting for 3.2 s" keeps counting while someone is parked.
  if (!waiters_.empty() || gates.mode() != GateMode::run) ctx.wants_redraw = true;
  ImGui::End();
}

}  // namespace sockscope::app
