// Step by stage: one press moves one connection through its next lifecycle
// stage instead of one gate. Stepping an FTP client from connect to reap one
// gate at a time takes some 27 presses; by stage it is accept, hand-off, one
// per request, close, exit, reap.
//
// The stages, and the gates that start each one (every other gate a
// connection stands at belongs to the stage it is in):
//   accept    accept                          (the greeting, in a server that
//                                              serves where it accepts)
//   hand-off  fork / spawn / enqueue          (the child's or worker's first
//                                              steps, the greeting)
//   exec      exec                            (inetd: the handler program)
//   request   read                            (read → reply, and the counter,
//                                              lock and per-request process
//                                              gates in between)
//   close     close
//   exit      exit, once the connection closed (before that, an exit is a
//                                              shotgun request's process)
//   reap      reap, likewise
// The event loop (evloop, hybrid) has one kind of gate, handler_begin: there a
// request stage runs the connection's handlers until one of them sent the
// reply, which the stepper reads in the session's events.
//
// Whose waiters: those carrying the stage's connection id, whichever process
// or thread they are (after fork the child carries it; the thread server's
// main thread carries it at join). A connection that is not numbered yet
// (prefork's accept, the event loop's accept handler: conn 0) is learned from
// the `accept` event the released thread emits.
//
// No ImGui here: the Stepping window and the script drive a StageStepper with
// start() on a press and tick() once per frame; the tests drive it headless.
// Nothing blocks: tick() releases at most one waiter and returns.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "session/session.h"
#include "trace/gate.h"

namespace sockscope::lab {

enum class Stage : std::uint8_t { accept, handoff, exec, request, close, exit, reap, count_ };
std::string_view stage_name(Stage s);  // "accept", "hand-off", ...
// What the stage covers, for the mode text and tooltips: "read → reply".
std::string_view stage_span(Stage s);

// The stage a connection standing at `kind` is in, when a run starts there.
// conn 0 at handler_begin is the event loop's accept handler.
Stage stage_at(trace::GateKind kind, std::uint32_t conn);
// True when a connection running `current` and now standing at `kind` has
// reached the first gate of its next stage (false: the gate is inside
// `current`). handler_begin is decided by the run (see above): false here.
bool starts_next_stage(trace::GateKind kind, Stage current);

// Which stages end a connection's story in this server: nothing follows close
// in a server without an exit gate (serial, pool, prefork), nor exit without
// a reap (reaping off).
struct StagePlan {
  bool exits = true;  // a process or thread ends with the connection
  bool reaps = true;  // ... and is reaped (waitpid, join)
  bool operator==(const StagePlan&) const = default;
};
// From the run's architecture and its reap setting (unknown: both true).
StagePlan stage_plan(const session::SessionMeta& meta);

class StageStepper {
 public:
  // No progress (no release) for this long ends a run with a message.
  static constexpr std::uint64_t kTimeoutNs = 2'000'000'000;

  // Starts a run: releases the earliest waiter of connection `conn` (0 = the
  // earliest arrival of anyone, as Step does). False, with message() saying
  // why, when nobody (of that connection) waits. now_ns: trace::now_ns().
  bool start(trace::GateTable& gates, std::uint32_t conn, StagePlan plan, std::uint64_t now_ns);
  // Once per frame while running(): releases the next waiter inside the
  // stage, or ends the run (next stage reached, connection over, timeout).
  // `session` may be null: then the event loop moves one handler per stage,
  // and an unnumbered connection is learned from its thread's next gate.
  void tick(trace::GateTable& gates, const session::Session* session, std::uint64_t now_ns);
  // Ends a run now (Run, Pause, Step, or leaving step mode), releasing nothing.
  void cancel(std::string why);

  bool running() const { return running_; }
  // The connection being moved (0 = not numbered yet) and its stage.
  std::uint32_t conn() const { return conn_; }
  Stage stage() const { return stage_; }
  // Releases made by the current (or last) run, the press included.
  int releases() const { return releases_; }
  // True when the last run ended at the next stage's first gate, or at the
  // end of the connection's story; false on a timeout or when cancelled.
  bool succeeded() const { return succeeded_; }
  // True when the last run ended the connection's story: reaped, or closed
  // in a server where nothing follows (pool, prefork, serial, the event loop).
  bool connection_done() const { return done_; }
  // Where the connection stands when the last run ended (when it stands anywhere).
  std::optional<trace::GateWaiter> stopped_at() const { return stopped_at_; }
  // "moving connection 3 through: request (read → reply)" while running;
  // how the last run ended otherwise ("" before the first).
  std::string status_text() const;
  const std::string& message() const { return message_; }

 private:
  struct Carrier {
    pid_t pid = 0;
    pid_t tid = 0;
  };
  bool carried(const trace::GateWaiter& w) const;
  void release(trace::GateTable& gates, const trace::GateWaiter& w, std::uint64_t now_ns);
  void finish(bool ok, std::string message, std::optional<trace::GateWaiter> at = std::nullopt, bool done = false);
  bool is_final(Stage s) const;
  std::uint32_t learn_conn(const trace::GateTable& gates, const std::vector<trace::GateWaiter>& waiters,
                           const session::Session* session) const;
  bool server_event_since(const session::Session& s, trace::Kind kind) const;

  bool running_ = false;
  bool loop_ = false;  // the connection's gates are the event loop's handlers
  bool succeeded_ = false;
  bool done_ = false;
  std::uint32_t conn_ = 0;
  Stage stage_ = Stage::accept;
  StagePlan plan_;
  std::vector<Carrier> carriers_;
  std::uint64_t start_ns_ = 0;
  std::uint64_t last_release_ns_ = 0;
  std::uint64_t last_seq_ = 0;  // the last arrival released
  int releases_ = 0;
  std::optional<trace::GateWaiter> stopped_at_;
  std::string message_;
};

// The stepping toolbar's buttons (and the script's `step ...`) apart from
// drawing: Run releases everyone, Pause parks everyone at their next gate,
// Step pauses first and then lets the earliest arrival take one step, Slow
// delays every gate by slow_ms.
enum class StepCommand { run, step, pause, slow };
void apply_step_command(trace::GateTable& gates, StepCommand command, std::uint32_t slow_ms);
// The "Run to" button (and the script's `step until`): releases everyone
// parked and runs until `target`, then everyone stops as after Pause.
void apply_run_to(trace::GateTable& gates, trace::RunTarget target);

}  // namespace sockscope::lab
