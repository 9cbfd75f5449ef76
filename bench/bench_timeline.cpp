// Timeline and import cost at 1,000,000 events: building the timeline index
// (lanes, spans, markers, arrows) from a session, updating it as a live run
// appends, laying out one frame's worth (cull + fold) zoomed out to the whole
// session and zoomed in to 50 µs; and reading a JSON Lines session of the
// same size (events/s). Prints a table. No window: the layout is what the
// timeline view draws; ImGui's own drawing of it is timed by the headless
// frame test (tests/timeline/timeline_frame_test).
//
// Session (built in memory, no lab): a fork server with 1,000 children, each
// serving one connection with ~1,000 reads/writes, CPU work on every tenth.
//
// Usage: bench_timeline [frames]   (default 200)
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "session/export.h"
#include "session/session.h"
#include "session/timeline.h"

namespace {

using namespace sockscope;
using Clock = std::chrono::steady_clock;
using K = trace::Kind;

trace::Event ev(std::uint64_t t, pid_t pid, K kind, std::uint32_t conn = 0, std::int64_t a = 0) {
  trace::Event e;
  e.ts_ns = t;
  e.pid = static_cast<std::uint32_t>(pid);
  e.tid = static_cast<std::uint32_t>(pid);
  e.kind = kind;
  e.conn = conn;
  e.a = a;
  return e;
}

std::vector<trace::Event> million_events() {
  std::vector<trace::Event> out;
  out.reserve(1'000'000);
  const pid_t server = 7000;
  std::uint64_t t = 5'000'000'000ull;
  out.push_back(ev(t, server, K::listen));
  for (int c = 1; c <= 1000; ++c) {
    const pid_t child = server + c;
    const auto conn = static_cast<std::uint32_t>(c);
    out.push_back(ev(t += 1000, server, K::accept, conn));
    out.push_back(ev(t += 1000, server, K::fork, conn, child));
    out.push_back(ev(t += 1000, child, K::child_start, conn, server));
    for (int k = 0; k < 993; ++k) {
      K kind = k % 2 == 0 ? K::read : K::write;
      if (c % 10 == 0 && k == 10) kind = K::work_begin;
      if (c % 10 == 0 && k == 500) kind = K::work_end;
      out.push_back(ev(t += 1000, child, kind, conn, 100));
    }
    out.push_back(ev(t += 1000, child, K::close, conn));
    out.push_back(ev(t += 1000, child, K::exit, conn));
    out.push_back(ev(t += 1000, server, K::reap, conn, child));
  }
  while (out.size() < 1'000'000) out.push_back(ev(t += 1000, server, K::error, 0, 1));
  return out;
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Stats {
  double median = 0, p99 = 0;
};
Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)]};
}

}  // namespace

int main(int argc, char** argv) {
  const int frames = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
  const auto events = million_events();
  session::Session s;
  s.add_events(events.data(), events.size());

  // Index: a full build, and a live run's incremental updates (batches of 4,096).
  auto t0 = Clock::now();
  session::TimelineIndex full;
  full.update(s);
  const double build_ms = ms(Clock::now() - t0);

  session::Session live;
  session::TimelineIndex inc;
  double inc_ms = 0;
  std::size_t batches = 0;
  for (std::size_t i = 0; i < events.size(); i += 4096, ++batches) {
    live.add_events(events.data() + i, std::min<std::size_t>(4096, events.size() - i));
    auto u = Clock::now();
    inc.update(live);
    inc_ms += ms(Clock::now() - u);
  }

  // Layout of one frame: 1,500 px wide, 40 rows on screen.
  session::TimelineViewport vp;
  vp.width_px = 1500.0f;
  vp.first_row = 0.0f;
  vp.last_row = 40.0f;
  vp.now_ns = s.last_ns();
  auto measure = [&](std::uint64_t a, std::uint64_t b, session::TimelineLayout& out) {
    vp.t0_ns = a;
    vp.t1_ns = b;
    std::vector<double> times;
    for (int f = 0; f < frames; ++f) {
      auto u = Clock::now();
      out = full.layout(vp);
      times.push_back(ms(Clock::now() - u));
    }
    return stats(times);
  };
  session::TimelineLayout out_all, out_in, out_lanes;
  const Stats zoomed_out = measure(s.first_ns(), s.last_ns(), out_all);
  // Zoomed in where lanes on screen are busy: child 20's connection.
  const std::uint64_t busy = s.first_ns() + 20ull * 1000 * 1000 + 300'000;
  const Stats zoomed_in = measure(busy, busy + 50'000, out_in);
  vp.last_row = 1e9f;  // every lane (no vertical culling)
  const Stats all_lanes = measure(s.first_ns(), s.last_ns(), out_lanes);

  // JSON Lines import.
  const auto path = std::filesystem::temp_directory_path() / ("bench-timeline-" + std::to_string(getpid()) + ".jsonl");
  std::string error;
  t0 = Clock::now();
  if (!session::write_jsonl(s, path, error)) {
    std::fprintf(stderr, "bench_timeline: %s\n", error.c_str());
    return 1;
  }
  const double write_ms = ms(Clock::now() - t0);
  const auto bytes = std::filesystem::file_size(path);
  t0 = Clock::now();
  auto back = session::read_jsonl(path, error);
  const double read_ms = ms(Clock::now() - t0);
  if (!back || back->events().size() != events.size()) {
    std::fprintf(stderr, "bench_timeline: import failed: %s\n", error.c_str());
    std::filesystem::remove(path);
    return 1;
  }
  // The same file with one space after each event's '{': still the same
  // JSON, but not the writer's exact shape, so every event line takes the
  // full JSON parser instead of the fast path. Measured side by side.
  double full_ms = 0.0;
  {
    std::ifstream in(path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string spaced;
    spaced.reserve(text.size() + events.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
      spaced += text[i];
      if (text[i] == '{' && (i == 0 || text[i - 1] == '\n') && text.compare(i + 1, 4, "\"t\":") == 0) spaced += ' ';
    }
    std::ofstream(path, std::ios::binary | std::ios::trunc) << spaced;
    t0 = Clock::now();
    auto slow = session::read_jsonl(path, error);
    full_ms = ms(Clock::now() - t0);
    if (!slow || !slow->same_store(*back)) {
      std::fprintf(stderr, "bench_timeline: full-parser import differs: %s\n", error.c_str());
      std::filesystem::remove(path);
      return 1;
    }
  }
  std::filesystem::remove(path);

  std::printf("timeline at %zu events (%zu lanes), %d frames per layout\n", events.size(), full.lanes().size(), frames);
  std::printf("%-44s %12s %12s %s\n", "what", "median", "p99", "items drawn");
  std::printf("%-44s %9.1f ms %12s\n", "index: full build", build_ms, "");
  std::printf("%-44s %9.3f ms %12s (%zu batches, %.1f ms total)\n", "index: live update per 4,096-event batch",
              inc_ms / static_cast<double>(batches), "", batches, inc_ms);
  std::printf("%-44s %9.3f ms %9.3f ms %zu spans, %zu markers (%zu events folded)\n",
              "layout: zoomed out, 40 lanes on screen", zoomed_out.median, zoomed_out.p99, out_all.spans.size(),
              out_all.markers.size(), out_all.folded_events);
  std::printf("%-44s %9.3f ms %9.3f ms %zu spans, %zu markers\n", "layout: zoomed in (50 us), 40 lanes", zoomed_in.median,
              zoomed_in.p99, out_in.spans.size(), out_in.markers.size());
  std::printf("%-44s %9.3f ms %9.3f ms %zu spans, %zu markers\n", "layout: zoomed out, all 1,001 lanes",
              all_lanes.median, all_lanes.p99, out_lanes.spans.size(), out_lanes.markers.size());
  std::printf("%-44s %9.1f ms %12s %.0f MB\n", "JSON Lines export", write_ms, "", static_cast<double>(bytes) / 1e6);
  std::printf("%-44s %9.1f ms %12s %.2f M events/s, %.0f MB/s\n", "JSON Lines import", read_ms, "",
              static_cast<double>(events.size()) / (read_ms / 1000.0) / 1e6,
              static_cast<double>(bytes) / 1e6 / (read_ms / 1000.0));
  std::printf("%-44s %9.1f ms %12s %.2f M events/s (fast path %.1fx faster)\n", "JSON Lines import, full JSON parser",
              full_ms, "", static_cast<double>(events.size()) / (full_ms / 1000.0) / 1e6, full_ms / read_ms);
  return 0;
}
