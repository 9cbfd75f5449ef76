// What the lab spends on each event, with the load itself taken away.
//
// The bench first records a real server: `sockscope run` of an architecture
// under a load scenario, exported as JSON Lines. A producer thread then
// pushes that recording's server events, as the server wrote them (a read
// and a request the session split are one event again: kRequestRead), into
// a trace ring again and again (fresh stamps, connection ids moved on each
// pass) at a fixed rate, while
// the lab's own Ingest drains the ring at the lab's cadence into a session
// and a thread reads the session's model 60 times a second, as the app's
// frames do. No sockets and no /proc sampler: on these two shared cores the
// servers' benches (bench_servers e, h) cannot tell the lab's cost per event
// from the noise of the load, and this one can, and can be profiled alone.
//
// Prints, per recording and rate side by side: events delivered, drops,
// ingest and frames CPU in ns an event, and what a push cost the producer.
// Usage: bench_ingest [seconds]   (default 3 a rate)
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "lab/ingest.h"
#include "lab/lab.h"
#include "session/export.h"
#include "session/session.h"
#include "trace/ring.h"

using namespace sockscope;
namespace fs = std::filesystem;

namespace {

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Recording {
  std::string name;
  std::vector<trace::Event> events;  // the server's, in time order
  session::SessionMeta meta;
  std::uint32_t conn_span = 1;  // connection ids move on by this each pass
  double events_per_request = 0;
};

// The simulator's own events: the servers' benches load with wrk instead.
bool simulator_event(trace::Kind k) {
  using K = trace::Kind;
  return k == K::client_connect || k == K::client_request || k == K::client_reply || k == K::client_close ||
         k == K::client_error;
}

// A short real run of `arch` under `scenario`, read back from its export.
// Throws std::runtime_error naming what failed.
Recording record(const std::string& arch, const std::string& scenario, const fs::path& dir) {
  Recording r;
  r.name = arch + " " + scenario;
  const fs::path file = dir / (arch + "-" + scenario + ".jsonl");
  const std::string cmd = std::string(SOCKSCOPE_BIN) + " run --arch " + arch +
                          " --protocol http --clients 10 --duration 1.5 --scenario " + scenario + " --export " +
                          file.string() + " > /dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("recording failed: " + cmd);
  std::string error;
  auto s = session::read_jsonl(file, error);
  if (!s) throw std::runtime_error(error);
  r.meta = s->meta();
  std::uint64_t requests = 0;
  for (const trace::Event& e : s->events()) {
    if (simulator_event(e.kind)) continue;
    // A read and a request of one thread at one instant were one event in
    // the ring (trace::kRequestRead: the event loop's), split by the session:
    // pushed as the one event the server wrote.
    if (e.kind == trace::Kind::request && !r.events.empty()) {
      const trace::Event& read = r.events.back();
      if (read.kind == trace::Kind::read && read.ts_ns == e.ts_ns && read.tid == e.tid && read.conn == e.conn) {
        trace::Event merged = e;
        merged.a = read.a;
        merged.flags = trace::kRequestRead;
        r.events.back() = merged;
        ++requests;
        continue;
      }
    }
    r.events.push_back(e);
    if (e.conn >= r.conn_span) r.conn_span = e.conn + 1;
    if (e.kind == trace::Kind::request) ++requests;
  }
  if (requests == 0) throw std::runtime_error(file.string() + ": the server answered no request");
  r.events_per_request = static_cast<double>(r.events.size()) / static_cast<double>(requests);
  return r;
}

struct Result {
  std::uint64_t delivered = 0, drops = 0;
  double ingest_cpu_s = 0, frames_cpu_s = 0, producer_cpu_s = 0, seconds = 0;
};

// Pushes the recording at `rate` events a second for `seconds`, in slices of
// a millisecond, from a thread on the other core. A thread, not a forked
// process: the ring is the same shared memory to either, but a fork marks
// every page of this process copy-on-write for as long as the child lives,
// and the ingest thread then paid a page copy for each page of its buffers
// it wrote (perf: 14% of ingest's CPU, a cost no lab has: its servers exec).
Result replay(const Recording& rec, double rate, double seconds) {
  const lab::LabOptions options = bench::bench_lab_options();  // the app's, or an experiment's
  trace::TraceRing ring = trace::TraceRing::create(options.ring_capacity);
  session::SharedSession shared;
  shared.write([&](session::Session& s) { s.set_meta(rec.meta); });
  lab::Ingest ingest(ring, shared);

  std::atomic<bool> producing{true};
  double producer_cpu_s = 0;
  std::thread producer([&] {
    pthread_setname_np(pthread_self(), "producer");
    const auto start = std::chrono::steady_clock::now();
    const double t0 = thread_cpu_s();
    std::uint64_t sent = 0;
    std::uint32_t pass = 0;
    std::size_t i = 0;
    for (;;) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (elapsed >= seconds) break;
      const auto due = static_cast<std::uint64_t>(elapsed * rate);
      while (sent < due) {
        trace::Event e = rec.events[i];
        e.ts_ns = trace::now_ns();
        if (e.conn != 0) e.conn += pass * rec.conn_span;
        ring.push(e);
        ++sent;
        if (++i == rec.events.size()) {
          i = 0;
          ++pass;
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(1000));
    }
    producer_cpu_s = thread_cpu_s() - t0;
    producing = false;
  });

  Result r;
  std::atomic<bool> stop{false};
  std::thread frames([&] {
    pthread_setname_np(pthread_self(), "frames");
    const double t0 = thread_cpu_s();
    while (!stop.load()) {
      shared.read([](const session::Session& s) { return s.model().counts.events; });
      std::this_thread::sleep_for(std::chrono::milliseconds(16));
    }
    r.frames_cpu_s = thread_cpu_s() - t0;
  });
  pthread_setname_np(pthread_self(), "ingest");
  const auto start = std::chrono::steady_clock::now();
  const double t0 = thread_cpu_s();
  // The lab's ingest loop (lab.cpp): a step, then a poll period unless a
  // batch was full.
  while (producing.load()) {
    const std::size_t drained = ingest.step({}, false);
    r.delivered += drained;
    if (drained < lab::Ingest::kBatch) std::this_thread::sleep_for(options.poll_period);
  }
  producer.join();
  r.delivered += ingest.step({}, true);
  r.ingest_cpu_s = thread_cpu_s() - t0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  pthread_setname_np(pthread_self(), "bench_ingest");
  stop = true;
  frames.join();
  r.producer_cpu_s = producer_cpu_s;
  r.drops = ring.drops();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  if (seconds <= 0) {
    std::fprintf(stderr, "usage: bench_ingest [seconds a rate]\n");
    return 2;
  }
  const fs::path dir = fs::temp_directory_path() / ("sockscope-bench-ingest-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::vector<Recording> recs;
  try {
    for (const auto& [arch, scenario] :
         {std::pair{"evloop", "close"}, {"evloop", "keepalive"}, {"prefork", "keepalive"}})
      recs.push_back(record(arch, scenario, dir));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ingest: %s\n", e.what());
    fs::remove_all(dir);
    return 1;
  }
  fs::remove_all(dir);

  std::printf(
      "\n### the lab's CPU an event: a recorded server replayed into a ring, drained by the lab's Ingest, model read "
      "at 60 Hz, %.0f s a rate\n\n",
      seconds);
  std::printf(
      "| recording | ring events a request | rate (events/s) | delivered | drops | ingest ns an event | "
      "frames ns an event | lab ns an event | lab CPU %% | push ns an event (producer) |\n"
      "|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Recording& rec : recs) {
    for (double rate : {100e3, 300e3, 600e3}) {
      const Result r = replay(rec, rate, seconds);
      const auto ns = [&](double s) { return r.delivered > 0 ? 1e9 * s / static_cast<double>(r.delivered) : 0.0; };
      std::printf("| %s | %.1f | %.0fk | %llu | %llu | %.0f | %.0f | %.0f | %.1f | %.0f |\n", rec.name.c_str(),
                  rec.events_per_request, rate / 1e3, static_cast<unsigned long long>(r.delivered),
                  static_cast<unsigned long long>(r.drops), ns(r.ingest_cpu_s), ns(r.frames_cpu_s),
                  ns(r.ingest_cpu_s + r.frames_cpu_s), 100.0 * (r.ingest_cpu_s + r.frames_cpu_s) / r.seconds,
                  ns(r.producer_cpu_s));
      std::fflush(stdout);
    }
  }
  return 0;
}
