// Asio's custom handler tracking, turned into trace events: how the event
// loop's queue becomes visible.
//
// Asio calls a fixed set of macros at each step of an asynchronous operation
// (ASIO_CUSTOM_HANDLER_TRACKING names this header; see
// asio/detail/handler_tracking.hpp). We define every one of them, including
// ASIO_HANDLER_LOCATION (async_read/async_write do not compile without it).
//
// Build rule: the macro changes the layout of Asio's operation classes (each
// gains a TrackedHandler base), so it must be the same in EVERY translation
// unit that includes Asio and links into one binary, or the program silently
// runs with two layouts of one class (an ODR violation, wrong ids, no error).
// It is therefore defined once, on the third_party::asio INTERFACE target
// (third_party/CMakeLists.txt), for the whole project: the servers and the
// client simulator alike. The hooks stay silent until a process calls
// set_enabled(true); only the evloop and hybrid servers do, so the simulator
// (which shares the binary) records nothing.
//
// What each hook emits (all kinds from trace/event.h; `conn` is the connection
// the server bound to the descriptor with bind_fd(), else the connection of the
// handler that was running when the operation started):
//   handler_create    an async operation started: a = handler id,
//                     b = descriptor (socket ops) or -(object key) for
//                     descriptor-less objects (timers, the io_context's post),
//                     text = "<object>:<op>", e.g. "socket:async_receive",
//                     "timer:async_wait", "ctx:post".
//                     a = 0: an operation with no handler of its own
//                     ("socket:close", "timer:cancel"): it completes the
//                     object's pending operations with operation_aborted,
//                     which no further hook reports.
//   reactor_register  a descriptor joined epoll: a = fd, b = 1 (b = 0: it left)
//   reactor_ready     epoll reported readiness: a = fd (-1 unknown),
//                     b = bits (1 read, 2 write, 4 error)
//   completion        the reactor finished an operation (the non-blocking
//                     recv/send/accept did not say EAGAIN): its handler is now
//                     in the ready queue. a = handler id, b = error value
//   handler_begin     the loop started running a handler: a = handler id,
//                     b = its error value
//   handler_end       ... and it returned: a = handler id, b = 0; or it was
//                     destroyed without running (shutdown): b = 1
//
// What the hooks cannot see, and the fold (session/loop_fold.h) therefore
// marks as unknown instead of guessing: a timer that fired but whose handler
// has not run yet (no hook between the two: it looks like a waiting timer);
// operations completed by close/cancel (queued with no hook); a handler
// dispatched inline from inside the loop (runs with no hook at all).
//
// Hot-path rules: the hooks do no I/O, allocate nothing, take no lock, and
// never throw. The fd tables are fixed-size arrays; a hook that cannot find
// something emits -1 rather than growing a table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>
#include <type_traits>

namespace asio {
class execution_context;
}

namespace sockscope::trace::asio_tracking {

// Turns the hooks on or off for this process (off by default). Set once by a
// single-threaded event loop before it starts; inherited across fork.
void set_enabled(bool on) noexcept;
bool enabled() noexcept;

// Names the connection a descriptor belongs to, so hooks on that descriptor
// carry `conn`. Descriptors outside the table (>= kMaxFd) are reported as conn 0.
inline constexpr int kMaxFd = 1 << 16;
void bind_fd(int fd, std::uint32_t conn) noexcept;
// The connection new descriptor-less operations (timers, posts) are charged to
// while no handler runs, or until the running handler ends. 0 = none.
void set_current_conn(std::uint32_t conn) noexcept;
// In its scope, new descriptor-less operations are the loop's own (conn 0:
// the event-loop view's listener row), whichever handler is running: the
// loop's deadline timer, moved from inside a connection's handler.
class LoopOwned {
 public:
  LoopOwned() noexcept;
  ~LoopOwned();
  LoopOwned(const LoopOwned&) = delete;
  LoopOwned& operator=(const LoopOwned&) = delete;

 private:
  std::uint32_t conn_, base_;
};

// The base Asio adds to every operation: where our id and connection live.
class TrackedHandler {
 public:
  std::uint64_t tracking_id_ = 0;
  std::uint32_t tracking_conn_ = 0;

 protected:
  TrackedHandler() = default;
  ~TrackedHandler() = default;
};

void creation(asio::execution_context& ctx, TrackedHandler& h, const char* object_type, void* object,
              std::uintmax_t native_handle, const char* op_name) noexcept;
void operation(asio::execution_context& ctx, const char* object_type, void* object, std::uintmax_t native_handle,
               const char* op_name) noexcept;
void reactor_registration(asio::execution_context& ctx, std::uintmax_t native_handle,
                          std::uintmax_t registration) noexcept;
void reactor_deregistration(asio::execution_context& ctx, std::uintmax_t native_handle,
                            std::uintmax_t registration) noexcept;
void reactor_events(asio::execution_context& ctx, std::uintmax_t registration, unsigned events) noexcept;
void reactor_operation(const TrackedHandler& h, const char* op_name, const std::error_code& ec) noexcept;
void reactor_operation(const TrackedHandler& h, const char* op_name, const std::error_code& ec,
                       std::size_t bytes) noexcept;

void begin(std::uint64_t id, std::uint32_t conn, int error) noexcept;
void end(std::uint64_t id, std::uint32_t conn, bool ran) noexcept;

// Lives for one do_complete() call: the handler was taken off the ready
// queue. If it is destroyed without invocation_begin, the handler never ran.
class Completion {
 public:
  explicit Completion(const TrackedHandler& h) noexcept : id_(h.tracking_id_), conn_(h.tracking_conn_) {}
  // Never throws: it may run while a handler's exception unwinds.
  ~Completion() {
    if (!invoked_) end(id_, conn_, false);
    else if (started_) end(id_, conn_, true);
  }
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;

  void invocation_begin() noexcept { start(0); }
  template <class First, class... Rest>
  void invocation_begin(const First& first, const Rest&...) noexcept {
    if constexpr (std::is_convertible_v<First, std::error_code>) {
      start(static_cast<const std::error_code&>(first).value());
    } else {
      start(0);
    }
  }
  void invocation_end() noexcept {
    if (started_) end(id_, conn_, true);
    started_ = false;
  }

 private:
  void start(int error) noexcept {
    invoked_ = true;
    started_ = true;
    begin(id_, conn_, error);
  }
  std::uint64_t id_;
  std::uint32_t conn_;
  bool invoked_ = false;
  bool started_ = false;
};

}  // namespace sockscope::trace::asio_tracking

#define ASIO_INHERIT_TRACKED_HANDLER : public ::sockscope::trace::asio_tracking::TrackedHandler
#define ASIO_ALSO_INHERIT_TRACKED_HANDLER , public ::sockscope::trace::asio_tracking::TrackedHandler
#define ASIO_HANDLER_TRACKING_INIT (void)0
#define ASIO_HANDLER_LOCATION(args) (void)0
#define ASIO_HANDLER_CREATION(args) ::sockscope::trace::asio_tracking::creation args
#define ASIO_HANDLER_COMPLETION(args) ::sockscope::trace::asio_tracking::Completion tracked_completion args
#define ASIO_HANDLER_INVOCATION_BEGIN(args) tracked_completion.invocation_begin args
#define ASIO_HANDLER_INVOCATION_END tracked_completion.invocation_end()
#define ASIO_HANDLER_OPERATION(args) ::sockscope::trace::asio_tracking::operation args
#define ASIO_HANDLER_REACTOR_REGISTRATION(args) ::sockscope::trace::asio_tracking::reactor_registration args
#define ASIO_HANDLER_REACTOR_DEREGISTRATION(args) ::sockscope::trace::asio_tracking::reactor_deregistration args
#define ASIO_HANDLER_REACTOR_READ_EVENT 1
#define ASIO_HANDLER_REACTOR_WRITE_EVENT 2
#define ASIO_HANDLER_REACTOR_ERROR_EVENT 4
#define ASIO_HANDLER_REACTOR_EVENTS(args) ::sockscope::trace::asio_tracking::reactor_events args
#define ASIO_HANDLER_REACTOR_OPERATION(args) ::sockscope::trace::asio_tracking::reactor_operation args
