// What an Event's two numbers mean, kind by kind: the one table the event log
// (and anything else that shows a raw Event) reads, so that "226 / 4342967"
// reads "status 226 · bytes 4342967".
//
// Each row was taken from the emit() calls that fill the kind (engine/servers,
// engine/clients, engine/trace/asio_tracking.cpp, engine/trace/gate.cpp); the
// comments in event.h say the same in prose. tests/gui/event_fields_test.cpp
// reads those emit() calls from the sources and checks that every field one
// of them sets has a name here, so a new kind, or a new use of `b`, fails the
// test until its row says what the number is.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "trace/event.h"
#include "trace/gate.h"

namespace sockscope::trace {

// How a field's value reads.
enum class FieldFormat : std::uint8_t {
  number,       // as is
  gate,         // a GateKind: its name ("read")
  slot,         // gate_wait/gate_pass: the low 32 bits are the slot; -1 = slow motion (no slot)
  duration_ns,  // nanoseconds, shown as µs/ms/s
  wait_status,  // a waitpid() status: "exit 0", "signal 9"
  flag,         // 1 = yes, 0 = no
  hex,          // bit sets (epoll event bits)
  duration_ms,  // milliseconds, shown as ms/s
  choice,       // an index into the field's `choices`: its name
};

struct EventField {
  std::string_view name;  // empty = the kind does not use this field
  FieldFormat format = FieldFormat::number;
  // Set by some emitters only (0 from the others): shown only when not 0.
  bool only_if_set = false;
  // FieldFormat::choice: the name of 0 and of 1.
  std::array<std::string_view, 2> choices{};
  constexpr bool used() const { return !name.empty(); }
  constexpr bool shown(std::int64_t v) const { return used() && (v != 0 || !only_if_set); }
};

struct KindFields {
  Kind kind;
  std::string_view explanation;  // one sentence: what happened
  EventField a;
  EventField b;
};

namespace detail {
inline constexpr EventField kNone{};
}  // namespace detail

// One row per Kind, in Kind's order (checked below).
inline constexpr std::array<KindFields, static_cast<std::size_t>(Kind::count_)> kKindFields = {{
    {Kind::server_start, "A server process is up; text names its architecture.", {"port"}, detail::kNone},
    {Kind::listen, "The listening socket is bound and listening.", {"port"}, {"fd"}},
    {Kind::accept, "accept() returned a new connection: a socket for one client.", {"peer port"}, {"fd"}},
    {Kind::fork,
     "fork() returned in the parent: a new child process. b is the request's number (shotgun) or the worker's "
     "index (prefork).",
     {"child pid"},
     {"request/worker", FieldFormat::number, true}},
    {Kind::child_start, "A forked child ran its first line of its own; b is the request's number (shotgun).",
     {"parent pid"},
     {"request", FieldFormat::number, true}},
    {Kind::spawn, "A new handler thread started; it reports its own thread id and the thread that created it.",
     {"tid"},
     {"spawned by"}},
    {Kind::thread_exit, "A handler thread finished its client and returns.", {"tid"}, detail::kNone},
    {Kind::read, "recv() copied bytes the client sent into the server.", {"bytes"}, detail::kNone},
    {Kind::write, "send() copied reply bytes into the socket's send buffer.", {"bytes"}, detail::kNone},
    {Kind::request,
     "A complete command or request was parsed; text is its verb or path (a: the bytes of the read that brought "
     "it, when the event loop logs the two as one; a session shows them apart).",
     {"read bytes", FieldFormat::number, true},
     detail::kNone},
    {Kind::reply,
     "A reply went out: its FTP or HTTP status code and its size. send() copied it into the socket's send buffer "
     "whole, unless a write just before it says how much went.",
     {"status"},
     {"bytes"}},
    {Kind::data_open, "FTP passive mode: a data listener is open for the next transfer.", {"port"}, detail::kNone},
    {Kind::data_accept, "FTP: the client connected to the data port.", {"peer port"}, detail::kNone},
    {Kind::transfer, "FTP: a file went over the data connection (or failed to).", {"bytes"}, {"ok", FieldFormat::flag}},
    {Kind::work_begin, "SITE WORK or /work starts burning CPU for the asked time.", {"ms"}, detail::kNone},
    {Kind::work_end, "The CPU work is done; a is the CPU time it really took.", {"ms spent"}, detail::kNone},
    {Kind::sleep_begin, "SITE SLEEP or /sleep blocks without using the CPU.", {"ms"}, detail::kNone},
    {Kind::sleep_end, "The sleep is over; a is how long it really blocked.", {"ms slept"}, detail::kNone},
    {Kind::close, "The server closed a connection; the totals it moved each way.", {"bytes in"}, {"bytes out"}},
    {Kind::exit, "A server process (or a child, or the inetd handler) exits with this status.", {"status"},
     detail::kNone},
    {Kind::reap, "waitpid() collected an exited child: no longer a zombie.", {"child pid"},
     {"wait status", FieldFormat::wait_status}},
    {Kind::refuse,
     "A connection was turned away (421/503) because a cap was reached: children, threads, the queue, or "
     "descriptors (then the text says so).",
     {"count"},
     {"cap"}},
    {Kind::error, "Something failed; text says where, a is the errno, b the worker's index when a worker failed.",
     {"errno"},
     {"worker", FieldFormat::number, true}},
    {Kind::server_stop, "The server's shutdown path ran and told its children, threads or workers to stop.",
     {"signalled"},
     detail::kNone},
    {Kind::client_connect, "The client simulator connected (client side: conn is the client's id).", {"local port"},
     {"connect time", FieldFormat::duration_ns}},
    {Kind::client_request, "The client simulator sent a command; text is the command.", detail::kNone,
     detail::kNone},
    {Kind::client_reply, "The client simulator got a reply: its code and how long it took since the command.",
     {"status"},
     {"latency", FieldFormat::duration_ns}},
    {Kind::client_close, "The client simulator closed its connection.", {"bytes received"}, detail::kNone},
    {Kind::client_error, "The client simulator failed; text says where.", {"errno"}, detail::kNone},
    {Kind::worker_start, "A pool or prefork worker is ready for connections.", {"worker"}, {"tid"}},
    {Kind::worker_exit, "A pool or prefork worker ended, with its exit status.", {"worker"}, {"status"}},
    {Kind::enqueue, "An accepted connection waits on the pool's queue for a worker.", {"queue depth"},
     {"capacity"}},
    {Kind::dequeue, "A worker took a connection to serve (prefork/hybrid: the worker that accepted it).",
     {"queue depth"},
     {"worker"}},
    {Kind::counter_read, "The shared visitor counter was read into a register.", {"value read"}, detail::kNone},
    {Kind::counter_write, "The shared visitor counter was written: the new value over the one it replaced.",
     {"value written"},
     {"replaced"}},
    {Kind::lock_wait, "Waiting for the visitor counter's mutex.", detail::kNone, detail::kNone},
    {Kind::lock_acquire, "Got the visitor counter's mutex.", detail::kNone, detail::kNone},
    {Kind::unlock, "Released the visitor counter's mutex.", detail::kNone, detail::kNone},
    {Kind::handler_create,
     "The event loop started an asynchronous operation; text names it. b is its socket, or a negative key for "
     "timers and posts.",
     {"handler"},
     {"fd/key"}},
    {Kind::reactor_register, "A socket was added to (1) or removed from (0) the epoll set.", {"fd"},
     {"registered", FieldFormat::flag}},
    {Kind::reactor_ready, "epoll reported a socket ready: the event bits.", {"fd"}, {"events", FieldFormat::hex}},
    {Kind::completion, "An asynchronous operation completed; its handler joins the ready queue.", {"handler"},
     {"error", FieldFormat::number, true}},
    {Kind::handler_begin, "The event loop started running a ready handler.", {"handler"},
     {"error", FieldFormat::number, true}},
    {Kind::handler_end, "The handler returned (or was destroyed without running).", {"handler"},
     {"skipped", FieldFormat::flag}},
    {Kind::gate_wait, "A process or thread parked at a gate (step mode) until the teacher releases it.",
     {"gate", FieldFormat::gate},
     {"slot", FieldFormat::slot}},
    {Kind::gate_pass, "A process or thread went on past a gate (released, or slow motion's delay done).",
     {"gate", FieldFormat::gate},
     {"slot", FieldFormat::slot}},
    {Kind::exec, "execve() succeeded: the child now runs a different program (text), same pid.", {"parent pid"},
     detail::kNone},
    {Kind::timeout,
     "A connection ran out of time: silent for the idle timeout, or a request still incomplete at its deadline "
     "(request_timeout); the server answered (FTP 421, HTTP 408) and closed it.",
     {"limit", FieldFormat::duration_ms},
     {"timer", FieldFormat::choice, false, {"idle timeout", "request deadline"}}},
}};

constexpr bool kind_fields_in_order() {
  for (std::size_t i = 0; i < kKindFields.size(); ++i)
    if (static_cast<std::size_t>(kKindFields[i].kind) != i) return false;
  return true;
}
static_assert(kind_fields_in_order(), "kKindFields rows must follow Kind's order, one per kind");

constexpr const KindFields& kind_fields(Kind k) {
  auto i = static_cast<std::size_t>(k);
  return kKindFields[i < kKindFields.size() ? i : static_cast<std::size_t>(Kind::error)];
}

struct FieldNames {
  std::string_view a;  // empty = unused
  std::string_view b;
};
constexpr FieldNames field_names(Kind k) { return {kind_fields(k).a.name, kind_fields(k).b.name}; }
constexpr std::string_view kind_explanation(Kind k) { return kind_fields(k).explanation; }

// Whose number Event::conn is: the server's id for an accepted connection
// (1, 2, ... in accept order), or, on the simulator's client_* events, its
// own id for the client (1, 2, ... in start order). The two need not agree:
// the session joins them by port (ConnectionView::client_id).
constexpr bool conn_is_client_id(Kind k) {
  return k == Kind::client_connect || k == Kind::client_request || k == Kind::client_reply ||
         k == Kind::client_close || k == Kind::client_error;
}

// One value as its field's format reads it: "read", "3", "1.20 ms", "exit 0", "yes", "0x1", "20 s",
// "request deadline".
inline std::string format_field_value(const EventField& f, std::int64_t v) {
  char buf[48];
  switch (f.format) {
    case FieldFormat::number: return std::to_string(v);
    case FieldFormat::gate: return std::string(gate_name(static_cast<GateKind>(v)));
    case FieldFormat::slot: {
      const auto slot = static_cast<std::int32_t>(static_cast<std::uint32_t>(v & 0xffffffff));
      return slot < 0 ? std::string("none (slow)") : std::to_string(slot);
    }
    case FieldFormat::duration_ns: {
      const double ns = static_cast<double>(v);
      if (v < 1000) std::snprintf(buf, sizeof buf, "%lld ns", static_cast<long long>(v));
      else if (v < 1'000'000) std::snprintf(buf, sizeof buf, "%.1f µs", ns / 1e3);
      else if (v < 1'000'000'000) std::snprintf(buf, sizeof buf, "%.2f ms", ns / 1e6);
      else std::snprintf(buf, sizeof buf, "%.2f s", ns / 1e9);
      return buf;
    }
    case FieldFormat::wait_status: {
      // The <sys/wait.h> macros' arithmetic, kept here so the table stays
      // free of system headers.
      const int st = static_cast<int>(v);
      if ((st & 0x7f) == 0) return "exit " + std::to_string((st >> 8) & 0xff);
      return "signal " + std::to_string(st & 0x7f);
    }
    case FieldFormat::flag: return v == 0 ? "no" : v == 1 ? "yes" : std::to_string(v);
    case FieldFormat::hex:
      std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
      return buf;
    case FieldFormat::duration_ms:
      // Whole seconds read as the setting was given ("3 s"); the rest as ms or s.
      if (v != 0 && v % 1000 == 0) return std::to_string(v / 1000) + " s";
      if (v > -1000 && v < 1000) return std::to_string(v) + " ms";
      std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(v) / 1e3);
      return buf;
    case FieldFormat::choice:
      if (v >= 0 && v < static_cast<std::int64_t>(f.choices.size()) && !f.choices[static_cast<std::size_t>(v)].empty())
        return std::string(f.choices[static_cast<std::size_t>(v)]);
      return std::to_string(v);
  }
  return std::to_string(v);
}

// The fields `e` uses, named: "status 226 · bytes 4342967" ("" when the
// kind uses neither; a field some emitters leave at 0 is left out when 0).
inline std::string describe_fields(const Event& e) {
  const KindFields& k = kind_fields(e.kind);
  std::string out;
  if (k.a.shown(e.a)) out = std::string(k.a.name) + " " + format_field_value(k.a, e.a);
  if (k.b.shown(e.b)) out += (out.empty() ? "" : " · ") + std::string(k.b.name) + " " + format_field_value(k.b, e.b);
  return out;
}

}  // namespace sockscope::trace
