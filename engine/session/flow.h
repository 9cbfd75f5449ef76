// Folds for stepping (issue 7): the connection flow as a sequence diagram, and
// who is parked at which gate. Like every view of a Session these are folds
// over its store up to one instant, so a recording shows the same diagram and
// the same code cursors as the live run did. Call them under
// SharedSession::read(), like model().
//
// The diagram has a lane per client, one per server thread that touched the
// shown connections (the listener first), and one message per system call:
//  - connect (client → the thread that accepts), accept, fork / spawn /
//    enqueue → dequeue (the handoff to the handler), each request (client →
//    handler) and reply (handler → client), close from either side, the
//    handler's exit and the listener's reap;
//  - a fork per connection is two rows: fork() (the child now holds a copy
//    of the connection's socket, and of the listener), then the parent's
//    close() of its own copy. That close has no event of its own: the fork
//    server closes its copy between fork() returning and logging the fork
//    event, so both rows come from that one event;
//  - the newest step through a gate, and the message that step produced.
// Only the connections asked for are drawn (by default the newest few): a
// sequence diagram of a hundred connections teaches nothing.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "session/session.h"
#include "trace/gate.h"

namespace sockscope::session {

enum class FlowLaneKind : std::uint8_t { client, listener, handler };

struct FlowLane {
  FlowLaneKind kind = FlowLaneKind::handler;
  pid_t pid = 0;                // server lanes: the process; client lanes: the simulator (0 = external)
  pid_t tid = 0;                // server lanes: the thread
  std::uint32_t conn = 0;       // client lanes: the server connection it is
  std::uint32_t client_id = 0;  // client lanes: simulator id (0 = external client: curl, nc, ...)
  std::uint16_t port = 0;       // client lanes: its local port
  std::string label;            // "client 2 :41234", "listener 1234", "child 1240", "thread 1251", "worker 0"
  std::string parked_at;        // gate name when this thread is parked at a gate now ("" = not parked)
  bool operator==(const FlowLane&) const = default;
};

struct FlowMessage {
  std::uint64_t ts_ns = 0;     // the event's own time (its thread's clock read after the call)
  // Where the diagram places it: the earliest either side saw it. A reply
  // the server logged after the client had already read it is drawn when the
  // client read it; a connect() just above the accept() it led to.
  std::uint64_t drawn_ns = 0;
  int from = 0;  // lane indices; from == to is a note on one lane
  int to = 0;
  trace::Kind kind = trace::Kind::accept;
  std::uint32_t conn = 0;  // server connection id
  pid_t pid = 0;
  pid_t tid = 0;
  std::string label;       // "connect()", "fork() → pid 1240", "USER anonymous", "230", "close()"
  // What the row means, for its tooltip, where the label alone does not say
  // it (what a fork copies); and, for a row with no event of its own, where
  // it comes from. "" = the label says it all.
  std::string detail;
  bool operator==(const FlowMessage&) const = default;
};

// The newest pass through a gate (step or slow motion) at or before the instant.
struct FlowStep {
  std::uint64_t ts_ns = 0;
  pid_t pid = 0;
  pid_t tid = 0;
  trace::GateKind gate = trace::GateKind::accept;
  std::uint32_t conn = 0;
  int message = -1;  // index of the message that step led to; -1 = none yet (still inside the call)
  bool operator==(const FlowStep&) const = default;
};

struct FlowDiagram {
  std::vector<std::uint32_t> conns;  // the connections drawn, oldest first
  std::vector<FlowLane> lanes;       // clients, then the listener, then handlers in order of appearance
  std::vector<FlowMessage> messages; // in time order (the newest max_messages)
  std::size_t messages_dropped = 0;  // older messages left out by max_messages
  bool history_cut = false;          // a long session: calls older than the scan limit are left out
  std::optional<FlowStep> step;
  bool operator==(const FlowDiagram&) const = default;
};

struct FlowOptions {
  std::size_t max_connections = 4;  // the newest connections at the instant
  std::size_t max_messages = 400;
  std::vector<std::uint32_t> conns; // draw exactly these instead (when not empty)
};

// The diagram at `until_ns`; `model` must be the session folded there.
FlowDiagram fold_flow(const Session& session, const Model& model, std::uint64_t until_ns,
                      const FlowOptions& options = {});

// A process or thread parked at a gate at the instant: a gate_wait with no
// gate_pass after it, from a process still alive then.
struct Parked {
  pid_t pid = 0;
  pid_t tid = 0;
  trace::GateKind gate = trace::GateKind::accept;
  std::uint32_t conn = 0;
  std::uint64_t since_ns = 0;
  trace::GateSite site;  // where in the source (from the gate_wait; {} in older recordings)
  bool operator==(const Parked&) const = default;
};
// In order of arrival.
std::vector<Parked> parked_at(const Session& session, const Model& model,
                              std::uint64_t until_ns = std::numeric_limits<std::uint64_t>::max());

}  // namespace sockscope::session
