// Hand-made trace events for tests: the one place a test fills a trace::Event
// (as a process's main thread would emit it), and draining a ring into a list.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "trace/event.h"
#include "trace/ring.h"

namespace sockscope::test {

// tid = pid. Callers that need another tid, or flags, set them on the result.
// `pid` is the record's own field type, so edge values (UINT32_MAX) go in
// unchanged; a pid_t converts implicitly.
inline trace::Event event(std::uint64_t ts_ns, std::uint32_t pid, trace::Kind kind, std::uint32_t conn = 0,
                          std::int64_t a = 0, std::int64_t b = 0, std::string_view text = {}) {
  trace::Event e;
  e.ts_ns = ts_ns;
  e.pid = e.tid = pid;
  e.kind = kind;
  e.conn = conn;
  e.a = a;
  e.b = b;
  e.set_text(text);
  return e;
}

// Everything `ring` holds right now, in order (the caller is its one consumer).
inline std::vector<trace::Event> drain(trace::TraceRing& ring) {
  std::vector<trace::Event> out;
  trace::Event e;
  while (ring.pop(e)) out.push_back(e);
  return out;
}

}  // namespace sockscope::test
