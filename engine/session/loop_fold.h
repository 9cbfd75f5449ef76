// The event loop's queue at any instant, folded from the Asio handler-tracking
// events (trace/asio_tracking.h) of a session: the evloop server's one loop,
// or each hybrid worker's loop (one LoopState per process).
//
// Three lists, as the event loop view draws them:
//   pending  operations waiting on the kernel: the accept on the listener,
//            a read on connection 7, a write whose peer's window is full, a
//            timer. Grouped by connection by the view.
//   ready    handlers whose operation completed, waiting for the one thread,
//            in the order they will run (the ready queue).
//   running  the handler running now (or a stack of them: a handler can run
//            another inline), with how long it has been running.
//
// Honesty about blind spots: the hooks cannot see (1) a timer that fired but
// whose handler has not run yet — it still looks like a waiting timer; (2)
// operations finished by close/cancel — their handlers are queued with no
// hook; (3) a handler dispatched inline from inside the loop. Such entries
// carry Certainty::unknown and a reason, instead of a guess. A handler that
// starts with no completion seen is counted in `unseen_completions`. While a
// handler runs longer than long_run_ns the loop cannot poll epoll, so every
// waiting socket operation is shown as unknown (it may be ready, unseen).
//
// Like every view of the model, this is a fold over the session's events:
// the same events give the same states, live or replayed from a file.
// Functions take `const Session&` and are called under the session's lock
// (session.h, concurrency contract).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "session/session.h"
#include "trace/event.h"

namespace sockscope::session {

enum class Certainty : std::uint8_t {
  known,    // the hooks saw it happen
  unknown,  // the hooks cannot tell (see `reason`)
};

struct PendingOp {
  std::uint64_t id = 0;         // Asio handler id (unique within its process)
  std::uint32_t conn = 0;       // 0 = the listener or the loop itself
  std::int64_t object = 0;      // descriptor (>= 0), or a key of a descriptor-less object (< 0)
  std::string op;               // "socket:async_receive", "timer:async_wait", ...
  std::uint64_t created_ns = 0;
  Certainty certainty = Certainty::known;
  std::string reason;           // why unknown: "timer: fired or waiting", "cancelled by close"
  bool operator==(const PendingOp&) const = default;
};

struct ReadyHandler {
  std::uint64_t id = 0;
  std::uint32_t conn = 0;
  std::string op;
  std::uint64_t created_ns = 0;
  std::uint64_t completed_ns = 0;  // entered the ready queue
  std::int64_t error = 0;          // errno-style value of the completion (0 = success)
  std::uint64_t behind_id = 0;     // the handler that held the loop while this one waited (0 = none), see HandlerRun
  std::uint64_t held_ns = 0;
  bool operator==(const ReadyHandler&) const = default;
};

struct RunningHandler {
  std::uint64_t id = 0;
  std::uint32_t conn = 0;
  std::string op;
  std::uint64_t begin_ns = 0;
  std::uint64_t elapsed_ns = 0;  // up to the fold instant
  bool operator==(const RunningHandler&) const = default;
};

// One handler that ran to its end.
struct HandlerRun {
  std::uint64_t id = 0;
  std::uint32_t conn = 0;
  std::string op;
  std::uint64_t queued_ns = 0;   // completion seen (0 = unseen: a timer, a cancel, an immediate post)
  std::uint64_t begin_ns = 0;
  std::uint64_t end_ns = 0;
  // The handler that held the loop while this one's operation waited: the one
  // running when it completed, else the last long run (>= long_run_ns) that
  // ended after the operation started. A loop busy in a handler does not poll
  // epoll, so an operation whose bytes arrived meanwhile completes only after
  // that handler returns; the hooks cannot see when the bytes arrived, so
  // held_ns (how long that handler held the loop while this operation
  // waited) is an upper bound on the delay it caused.
  std::uint64_t behind_id = 0;
  std::uint32_t behind_conn = 0;
  std::uint64_t held_ns = 0;
  std::uint64_t duration_ns() const { return end_ns - begin_ns; }
  std::uint64_t wait_ns() const { return queued_ns && begin_ns > queued_ns ? begin_ns - queued_ns : 0; }
  bool operator==(const HandlerRun&) const = default;
};

struct LoopState {
  pid_t pid = 0;
  std::uint64_t at_ns = 0;
  std::vector<PendingOp> pending;       // in order of creation
  std::vector<ReadyHandler> ready;      // the ready queue, in completion order
  std::vector<RunningHandler> running;  // bottom first; usually 0 or 1 entries
  std::uint64_t created = 0;            // operations started
  std::uint64_t completions = 0;        // completions seen
  std::uint64_t handlers_run = 0;
  std::uint64_t handlers_destroyed = 0;  // destroyed without running (shutdown)
  std::uint64_t unseen_completions = 0;  // ran without a completion seen (timer, cancel, post)
  std::uint64_t epoll_reports = 0;       // reactor_ready events
  std::size_t max_ready = 0;             // longest ready queue so far
  std::uint64_t longest_run_ns = 0;
  std::vector<HandlerRun> long_runs;     // runs >= LoopFoldOptions::long_run_ns, in order
  std::vector<HandlerRun> delayed;       // runs held up >= long_run_ns (wait_ns or held_ns), in order

  // Pending operations whose text contains `op` (e.g. "async_receive"), optionally on one connection.
  std::size_t pending_count(std::string_view op = {}) const;
  bool stalled(std::uint64_t threshold_ns) const;  // a handler has run longer than threshold
  // The longest a handler has run without returning to epoll: the finished
  // ones (longest_run_ns) and the one running now, up to the fold instant.
  std::uint64_t longest_handler_ns() const;
  bool operator==(const LoopState&) const = default;
};

struct LoopFoldOptions {
  std::uint64_t long_run_ns = 50'000'000;  // 50 ms: the view turns the loop red
  std::size_t max_history = 1000;           // long_runs / delayed kept (oldest dropped)
};

// Incremental folder: feed events in time order; ask for states at any time.
// The view keeps one and feeds it new events each frame.
class LoopFolder {
 public:
  explicit LoopFolder(LoopFoldOptions options = {}) : options_(options) {}
  void apply(const trace::Event& e);
  // Processes that ran a tracked loop so far, in order of first appearance.
  std::vector<pid_t> loops() const { return order_; }
  // The state of `pid`'s loop after the events applied so far; elapsed times
  // are measured up to `at_ns`.
  LoopState state(pid_t pid, std::uint64_t at_ns) const;
  std::uint64_t last_ns() const { return last_ns_; }

 private:
  struct Loop {
    std::map<std::uint64_t, PendingOp> pending;  // by id (ids grow with time: creation order)
    std::vector<ReadyHandler> ready;
    std::vector<RunningHandler> running;
    struct Queued {
      std::uint64_t completed_ns = 0;
      std::uint64_t behind_id = 0;
      std::uint32_t behind_conn = 0;
      std::uint64_t held_ns = 0;
    };
    std::unordered_map<std::uint64_t, Queued> queued;  // by handler id
    HandlerRun last_long;                              // the last run >= long_run_ns (id 0 = none yet)
    LoopState counters;
  };
  Loop& loop(pid_t pid);
  void push_history(std::vector<HandlerRun>& v, HandlerRun run);
  Loop::Queued holder(const Loop& l, std::uint64_t created_ns, std::uint64_t now_ns) const;

  LoopFoldOptions options_;
  std::unordered_map<pid_t, Loop> loops_;
  std::vector<pid_t> order_;
  std::uint64_t last_ns_ = 0;
};

// Every loop in the session at instant `until_ns` (events with ts <= it).
std::vector<LoopState> fold_loops(const Session& s,
                                  std::uint64_t until_ns = std::numeric_limits<std::uint64_t>::max(),
                                  LoopFoldOptions options = {});
// One process's loop at `until_ns` (an empty state when it ran none).
LoopState fold_loop(const Session& s, pid_t pid,
                    std::uint64_t until_ns = std::numeric_limits<std::uint64_t>::max(),
                    LoopFoldOptions options = {});

}  // namespace sockscope::session
