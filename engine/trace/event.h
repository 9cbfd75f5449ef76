// The one wire format of sockscope: what servers, children, threads and the
// client simulator write into the trace ring, and what exported sessions hold.
//
// Every record is the same fixed size so that the ring is an array of slots
// written without locks. The kinds and their names live side by side; the
// static_asserts below keep them in step. Changing the record layout or the
// meaning of a kind bumps kTraceVersion: readers refuse other versions with a
// clear message instead of misreading them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sockscope::trace {

inline constexpr std::uint32_t kTraceMagic = 0x53434b54;  // "SCKT"
inline constexpr std::uint32_t kTraceVersion = 1;

// What happened. Payload meaning per kind is given in the comment; `a` and `b`
// are the two numeric payload fields of Event, `text` its short string. The
// same meanings as data (names, formats, one sentence per kind) are in
// trace/event_fields.h, which the event log reads; keep the two in step.
enum class Kind : std::uint16_t {
  server_start,    // a server process is up. text = architecture, a = port
  listen,          // listening socket bound. a = port, b = fd
  accept,          // accept() returned a connection. conn = new id, a = peer port, b = fd
  fork,            // fork() in the parent. a = child pid, b = shotgun: the request's number on conn (else 0)
  child_start,     // first step in a forked child. a = parent pid, b = as fork's b
  spawn,           // emitted by a new handler thread itself. a = its tid, b = the spawning tid, text = its name
  thread_exit,     // a handler thread is done. a = tid
  read,            // bytes read from a connection. a = bytes
  write,           // bytes written to a connection. a = bytes
  request,         // a complete request/command parsed. text = verb or path; flags = kRequestRead when it
                   // stands for the read that brought it too (a = that read's bytes: emit_request)
  reply,           // a reply sent. a = status code (FTP or HTTP), b = its bytes; flags = kReplyWhole when
                   // send() took all b bytes at once (then no write event of its own: emit_reply)
  data_open,       // FTP passive data listener opened. a = port
  data_accept,     // FTP data connection accepted. a = peer port
  transfer,        // FTP data transfer finished. a = bytes, b = 1 ok / 0 failed
  work_begin,      // SITE WORK / /work starts burning CPU. a = ms
  work_end,        // ... done. a = ms actually spent
  sleep_begin,     // SITE SLEEP / /sleep blocks. a = ms
  sleep_end,       // ... done. a = ms actually slept
  close,           // the server closed a connection. a = bytes in, b = bytes out
  exit,            // a server process (or child) exits. a = exit status
  reap,            // waitpid() collected a child. a = child pid, b = wait status
  refuse,          // a connection refused by a cap (421/503). a = current count (pool: queue depth), b = cap;
                   // out of descriptors: a = b = the descriptor limit, text says which limit
  error,           // something failed. a = errno, text = where
  server_stop,     // the server's shutdown path ran. a = children signalled
  client_connect,  // the simulator connected. conn = client id, a = local port, b = connect ns
  client_request,  // the simulator sent a command. conn = client id, text = command
  client_reply,    // the simulator got a reply. conn = client id, a = code, b = latency ns
  client_close,    // the simulator closed. conn = client id, a = bytes received
  client_error,    // the simulator failed. conn = client id, a = errno, text = where
  // Workers, queues and shared state (thread, pool, prefork, hybrid).
  worker_start,    // a pool/prefork worker is ready. a = worker index, b = tid, text = name
  worker_exit,     // a worker ends. a = worker index, b = status
  enqueue,         // an accepted connection waits for a worker. conn, a = queue depth after, b = capacity
  dequeue,         // a worker took a connection. conn, a = queue depth after, b = worker index
  counter_read,    // shared visitor counter read. conn, a = value read
  counter_write,   // shared visitor counter written. conn, a = value written, b = value it replaced
  lock_wait,       // waiting for the counter's mutex. conn
  lock_acquire,    // got it. conn
  unlock,          // released it. conn
  // The event loop's queue (Asio handler tracking, engine/trace/asio_tracking.h).
  handler_create,  // an async operation was started. a = handler id (0 = close/cancel with no handler),
                   // b = fd, or a negative object key for timers and posts; text = operation
  reactor_register,// a descriptor (de)registered with epoll. a = fd, b = 1 registered / 0 deregistered
  reactor_ready,   // epoll reported readiness. a = fd, b = event bits
  completion,      // a handler's operation completed: it is now in the ready queue. a = handler id, b = error value
  handler_begin,   // the loop started running a handler. a = handler id
  handler_end,     // ... and it returned. a = handler id, b = 1 destroyed without running
  // Stepping (engine/trace/gate.h).
  gate_wait,       // a process/thread parked at a gate (step mode). a = GateKind, b = slot | file hash << 32,
                   // flags = source line (GateSite), text = gate name
  gate_pass,       // ... and went on (released, or slow motion's delay done). a = GateKind, b = slot (-1 slow), text = gate name
  // inetd: the first event of a new program image in a forked child.
  exec,            // execve() succeeded. conn, a = parent pid, text = program name
  // Hardening (issue 17): a connection ran out of time and is being closed.
  timeout,         // conn, a = the limit in ms, b = 0 idle timeout (no bytes) / 1 request deadline
                   // (a command still incomplete), text = what was late
  count_
};

inline constexpr std::array<std::string_view, static_cast<std::size_t>(Kind::count_)> kKindNames = {
    "server_start", "listen",       "accept",         "fork",         "child_start",
    "spawn",        "thread_exit",  "read",           "write",        "request",
    "reply",        "data_open",    "data_accept",    "transfer",     "work_begin",
    "work_end",     "sleep_begin",  "sleep_end",      "close",        "exit",
    "reap",         "refuse",       "error",          "server_stop",  "client_connect",
    "client_request", "client_reply", "client_close", "client_error",
    "worker_start",   "worker_exit",  "enqueue",        "dequeue",      "counter_read",
    "counter_write",  "lock_wait",    "lock_acquire",   "unlock",
    "handler_create", "reactor_register", "reactor_ready", "completion", "handler_begin",
    "handler_end",    "gate_wait",        "gate_pass",        "exec",             "timeout",
};
static_assert(kKindNames.size() == static_cast<std::size_t>(Kind::count_),
              "every Kind needs a name in kKindNames");
static_assert(kKindNames.back() == "timeout", "kKindNames out of step with Kind");

constexpr std::string_view kind_name(Kind k) {
  auto i = static_cast<std::size_t>(k);
  return i < kKindNames.size() ? kKindNames[i] : std::string_view{"unknown"};
}

// Returns false when `name` is not a kind of this version.
constexpr bool kind_from_name(std::string_view name, Kind& out) {
  for (std::size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == name) {
      out = static_cast<Kind>(i);
      return true;
    }
  }
  return false;
}

// reply's flags: the reply went into the socket whole, so it stands for its
// write too (one event, not two, for almost every reply). A reply without it
// follows the write that says how much of it went out. Recordings made before
// the flag have a write before every reply and read the same.
inline constexpr std::uint16_t kReplyWhole = 1;

// request's flags: the request came whole in the read just before it, and
// this one event stands for both, its a the read's bytes (the event loop's
// usual case: one read, one request). The session stores it as the two
// events a blocking server logs, a read and then the request, both at this
// one's time (Session::add_event), so nothing that reads a session sees it.
inline constexpr std::uint16_t kRequestRead = 2;

inline constexpr std::size_t kEventTextSize = 24;

// One record. Timestamps are CLOCK_MONOTONIC nanoseconds, shared by every
// process on the machine, so events from different processes order correctly.
struct Event {
  std::uint64_t ts_ns = 0;
  std::uint32_t pid = 0;
  std::uint32_t tid = 0;
  Kind kind = Kind::error;
  std::uint16_t flags = 0;
  std::uint32_t conn = 0;  // connection id (server side) or client id (client side); 0 = none
  std::int64_t a = 0;
  std::int64_t b = 0;
  char text[kEventTextSize] = {};  // NUL-padded, not necessarily NUL-terminated when full

  std::string_view text_view() const {
    std::size_t n = 0;
    while (n < kEventTextSize && text[n] != '\0') ++n;
    return {text, n};
  }
  void set_text(std::string_view s) {
    std::size_t n = s.size() < kEventTextSize ? s.size() : kEventTextSize;
    for (std::size_t i = 0; i < kEventTextSize; ++i) text[i] = i < n ? s[i] : '\0';
  }
};
static_assert(sizeof(Event) == 64, "Event is a fixed 64-byte record");

}  // namespace sockscope::trace
