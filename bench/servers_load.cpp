// bench_servers, full load (issue 16): what the lab keeps under load.
//
//   (e) drops: every architecture of the table under wrk -t2 -c50, keep-alive
//       and Connection: close, traced into a real Lab (the app's ring size
//       and sample period, its ingest thread and /proc sampler) while a
//       thread reads the session model 60 times a second as the app's frames
//       do. Drops, events, and the summary's counts from events (fork, reap)
//       beside the kernel's (the server's own waitpid count is in the events;
//       /proc's zombies), and the CPU the lab itself spent.
//   (f) the event loop against nginx on Connection: close: evloop traced into
//       a Lab against nginx with one worker, hybrid with two workers against
//       nginx with two, wrk -t2 -c50, three alternating rounds, medians;
//       and the CPU each server (and the lab) took a request. Skipped, with
//       the reason, when nginx is not installed.
//   (g) idle connections: 1,000, 5,000 and 10,000 FTP connections held open
//       against the event loop (traced, as the lab runs it): descriptors and
//       PSS per connection from /proc, and whether curl still downloads a
//       file meanwhile.
//   (h) what tracing costs: every architecture, keep-alive and close, traced
//       into a Lab as in (e) against `serve --no-trace` with nothing
//       watching, in rounds (BENCH_ROUNDS, default 5) of one traced and one
//       untraced run back to back, the order alternating. The lab runs on
//       the same two cores as wrk and the server, so its CPU is in the ratio.
//       The ratio is taken within each round, where both runs saw the same
//       neighbours on the machine, and the median of the rounds' ratios is
//       given with their range: single 5 s runs of the same server differ by
//       up to 15% here, and the range says how far one row can be trusted.
//       Beside req/s, the CPU a request took (the server's tree, wrk, the
//       lab), summed over the rounds: where the cost is.
#include "servers_load.h"

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "compare/reference.h"
#include "lab/lab.h"
#include "servers/architecture.h"
#include "servers/serve_command.h"
#include "session/session.h"

namespace sockscope::bench {

namespace {

struct LoadRow {
  WrkResult wrk;
  std::uint64_t events = 0;
  std::uint64_t drops = 0;
  session::Counts counts;
  session::Session::LateItems late;  // how often the live fold rewound
  double lab_cpu_s = 0;  // this process: ingest, sampler and the model reader
  double server_cpu_s = 0;  // the server's tree, reaped children included
};

LoadRow traced_load(const std::string& arch, const WrkOptions& w) {
  lab::Lab lab(bench_lab_options());
  lab::ServerSpec spec;
  spec.arch = arch;
  spec.protocol = "http";
  const std::uint16_t port = lab.start_server(spec);

  // The app's frames: the live model, folded up to now, 60 times a second.
  std::atomic<bool> stop{false};
  std::thread frames([&] {
    pthread_setname_np(pthread_self(), "frames");
    while (!stop.load()) {
      lab.session().read([](const session::Session& s) { return s.model().counts.events; });
      std::this_thread::sleep_for(std::chrono::milliseconds(16));
    }
  });
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  LoadRow row;
  row.wrk = run_wrk(port, w);
  // Let the last exits and reaps reach the ring before the server stops.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  getrusage(RUSAGE_SELF, &after);
  row.server_cpu_s = tree_cpu_seconds(lab.server_pid());
  stop = true;
  frames.join();
  lab.stop_server();
  lab.flush();
  row.lab_cpu_s = cpu_seconds(after) - cpu_seconds(before);
  lab.session().read([&](const session::Session& s) {
    row.events = s.events().size();
    row.drops = s.drops();
    row.late = s.late_items();
    row.counts = s.model().counts;
    return 0;
  });
  return row;
}

// BENCH_ARCHS=evloop,hybrid runs only those rows (parts e and h).
bool selected(std::string_view arch) {
  const char* only = std::getenv("BENCH_ARCHS");
  return only == nullptr ||
         std::string(",").append(only).append(",").find("," + std::string(arch) + ",") != std::string::npos;
}

// BENCH_CONNECTION=keep-alive or close runs only those rows (parts e and h).
bool connection_selected(bool close) {
  const char* only = std::getenv("BENCH_CONNECTION");
  return only == nullptr || std::string_view(only) == (close ? "close" : "keep-alive");
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

void part_e(int seconds) {
  std::printf(
      "\n### (e) drops under load: wrk -t2 -c50 -d%ds into a Lab (ring and sampler as the app's), model read at "
      "60 Hz\n\n",
      seconds);
  std::printf(
      "| arch | connection | req/s | errors | events | drops | drops %% | accepted | forked | reaped | rewinds | "
      "refolds | lab CPU s | lab CPU %% |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& a : servers::architectures()) {
    if (!selected(a.name)) continue;
    for (bool close : {false, true}) {
      if (!connection_selected(close)) continue;
      WrkOptions w;
      w.connections = 50;
      w.seconds = seconds;
      w.close = close;
      const LoadRow r = traced_load(std::string(a.name), w);
      const double total = static_cast<double>(r.events + r.drops);
      std::printf("| %s | %s | %.0f | %llu | %llu | %llu | %.2f | %llu | %llu | %llu | %llu | %llu | %.2f | %.1f |\n",
                  std::string(a.name).c_str(), close ? "close" : "keep-alive", r.wrk.rps,
                  static_cast<unsigned long long>(r.wrk.errors), static_cast<unsigned long long>(r.events),
                  static_cast<unsigned long long>(r.drops), total > 0 ? 100.0 * static_cast<double>(r.drops) / total : 0.0,
                  static_cast<unsigned long long>(r.counts.connections_accepted),
                  static_cast<unsigned long long>(r.counts.children_forked),
                  static_cast<unsigned long long>(r.counts.reaped), static_cast<unsigned long long>(r.late.rewinds),
                  static_cast<unsigned long long>(r.late.refolds), r.lab_cpu_s,
                  100.0 * r.lab_cpu_s / (static_cast<double>(seconds) + 0.3));
      std::fflush(stdout);
    }
  }
}

void part_f(int seconds) {
  std::printf("\n### (f) the event loop against nginx, Connection: close, wrk -t2 -c50 -d%ds, 3 alternating rounds\n\n",
              seconds);
  struct Pair {
    const char* ours;
    int workers;  // 0 = the architecture's own (evloop: one loop)
    const char* reference;
  };
  const Pair pairs[] = {{"evloop", 0, "nginx-1"}, {"hybrid", 2, "nginx-2"}};
  std::printf("| ours (traced) | reference | req/s ours | req/s reference | ours/reference | p99 ms ours | p99 ms "
              "reference | errors (ours traced/untraced/ref) | drops | ours untraced/reference | p99 ms ours "
              "untraced | server CPU µs a request: ours traced + lab / untraced / reference |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Pair& p : pairs) {
    const compare::Reference* ref = compare::find_reference(p.reference);
    if (ref == nullptr || !compare::unavailable_reason(*ref).empty()) {
      std::printf("| %s | %s | skipped: %s | | | | | | | | | |\n", p.ours, p.reference,
                  ref == nullptr ? "unknown reference" : compare::unavailable_reason(*ref).c_str());
      continue;
    }
    std::vector<double> rps_ours, rps_ref, p99_ours, p99_ref, rps_off, p99_off;
    std::uint64_t errors_ours = 0, errors_off = 0, errors_ref = 0, drops = 0;
    // The servers' CPU a request, summed over the rounds (and the lab's, for
    // ours traced): where the difference is, beside req/s.
    double cpu_on = 0, cpu_lab = 0, cpu_off = 0, cpu_ref = 0;
    std::uint64_t n_on = 0, n_off = 0, n_ref = 0;
    WrkOptions w;
    w.connections = 50;
    w.seconds = seconds;
    w.close = true;
    // Each round runs ours traced, ours untraced (`serve --no-trace`) and the
    // reference, in an order that rotates from round to round.
    for (int round = 0; round < 3; ++round) {
      for (int k = 0; k < 3; ++k) {
        const int which = (k + round) % 3;
        if (which == 2) {
          std::vector<std::string> extra;
          if (p.workers > 0) extra = {"--workers", std::to_string(p.workers)};
          Server off(p.ours, "http", /*traced=*/false, extra);
          const WrkResult r = run_wrk(off.port(), w);
          rps_off.push_back(r.rps);
          p99_off.push_back(r.p99_ms);
          errors_off += r.errors;
          cpu_off += tree_cpu_seconds(off.pid());
          n_off += r.requests;
        } else if (which == 0) {
          lab::Lab lab(bench_lab_options());
          lab::ServerSpec spec;
          spec.arch = p.ours;
          spec.protocol = "http";
          if (p.workers > 0) spec.settings.set(servers::SettingId::workers, p.workers);
          const std::uint16_t port = lab.start_server(spec);
          rusage before{}, after{};
          getrusage(RUSAGE_SELF, &before);
          const WrkResult r = run_wrk(port, w);
          getrusage(RUSAGE_SELF, &after);
          cpu_on += tree_cpu_seconds(lab.server_pid());
          cpu_lab += cpu_seconds(after) - cpu_seconds(before);
          n_on += r.requests;
          lab.stop_server();
          lab.flush();
          drops += lab.ring_drops();
          rps_ours.push_back(r.rps);
          p99_ours.push_back(r.p99_ms);
          errors_ours += r.errors;
        } else {
          auto server = compare::ReferenceServer::start(*ref, servers::default_root());
          const WrkResult r = run_wrk(server->port(), w);
          cpu_ref += tree_cpu_seconds(server->pid());
          n_ref += r.requests;
          server->stop();
          rps_ref.push_back(r.rps);
          p99_ref.push_back(r.p99_ms);
          errors_ref += r.errors;
        }
      }
    }
    const double ours = median(rps_ours), theirs = median(rps_ref);
    const double off = median(rps_off);
    const auto us = [](double cpu, std::uint64_t n) { return n > 0 ? 1e6 * cpu / static_cast<double>(n) : 0.0; };
    std::printf("| %s%s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %llu/%llu/%llu | %llu | %.2f | %.2f | "
                "%.1f + %.1f / %.1f / %.1f |\n",
                p.ours,
                p.workers > 0 ? (" --workers " + std::to_string(p.workers)).c_str() : "", p.reference, ours, theirs,
                theirs > 0 ? ours / theirs : 0.0, median(p99_ours), median(p99_ref),
                static_cast<unsigned long long>(errors_ours), static_cast<unsigned long long>(errors_off),
                static_cast<unsigned long long>(errors_ref), static_cast<unsigned long long>(drops),
                theirs > 0 ? off / theirs : 0.0, median(p99_off),
                us(cpu_on, n_on), us(cpu_lab, n_on), us(cpu_off, n_off), us(cpu_ref, n_ref));
    std::printf("\n(req/s per round, ours: %.0f %.0f %.0f; ours untraced: %.0f %.0f %.0f; reference: %.0f %.0f %.0f)\n\n",
                rps_ours[0], rps_ours[1], rps_ours[2], rps_off[0], rps_off[1], rps_off[2], rps_ref[0], rps_ref[1],
                rps_ref[2]);
    std::fflush(stdout);
  }
}

namespace {

struct Held {
  int connected = 0, greeted = 0;
  Tree before, after;
  bool curl_ok = false;
  double curl_s = 0;
};

// Opens `n` FTP connections to `port`, reads each greeting, and measures
// `server`'s tree before and after.
Held hold(std::uint16_t port, pid_t server, int n) {
  Held h;
  h.before = measure(server);
  const std::vector<int> fds = open_connections(port, n);
  h.connected = static_cast<int>(fds.size());
  h.greeted = count_first_replies(fds, "220", 10.0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  h.after = measure(server);
  // A student's curl meanwhile.
  const auto c0 = Clock::now();
  const std::string cmd = "timeout 10 curl -s -o /dev/null ftp://127.0.0.1:" + std::to_string(port) + "/hello.txt";
  h.curl_ok = std::system(cmd.c_str()) == 0;
  h.curl_s = seconds_since(c0);
  for (int fd : fds) close(fd);
  return h;
}

}  // namespace

void part_g() {
  std::printf("\n### (g) idle FTP connections held open against the event loop (traced into a Lab)\n\n");
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  std::printf("Descriptor limit: %llu (this process and the server alike).\n\n",
              static_cast<unsigned long long>(rl.rlim_cur));
  std::printf("| connections | connected | greeted | fds added | fds per connection | PSS KiB added | PSS KiB per "
              "connection | curl meanwhile |\n|---|---|---|---|---|---|---|---|\n");
  for (int n : {1000, 5000, 10000}) {
    lab::Lab lab(bench_lab_options());
    lab::ServerSpec spec;
    spec.arch = "evloop";
    spec.protocol = "ftp";
    const std::uint16_t port = lab.start_server(spec);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const Held h = hold(port, lab.server_pid(), n);
    const long fds = h.after.fds - h.before.fds;
    const double pss = static_cast<double>(h.after.pss_kb) - static_cast<double>(h.before.pss_kb);
    std::printf("| %d | %d | %d | %ld | %.2f | %.0f | %.2f | %s in %.2f s |\n", n, h.connected, h.greeted, fds,
                h.connected > 0 ? static_cast<double>(fds) / h.connected : 0.0, pss,
                h.connected > 0 ? pss / h.connected : 0.0, h.curl_ok ? "downloaded" : "FAILED", h.curl_s);
    std::fflush(stdout);
  }
}

void part_h(int seconds) {
  const char* rounds_env = std::getenv("BENCH_ROUNDS");
  const int rounds = rounds_env != nullptr && std::atoi(rounds_env) > 0 ? std::atoi(rounds_env) : 5;
  std::printf(
      "\n### (h) what tracing costs: wrk -t2 -c50 -d%ds, traced into a Lab (ingest, /proc sampler, model read at "
      "60 Hz, all on these two cores) against `serve --no-trace`, %d rounds of a traced and an untraced run back to "
      "back (order alternating); req/s medians, and the median and range of the rounds' own ratios\n\n",
      seconds, rounds);
  std::printf(
      "| arch | connection | req/s traced | req/s untraced | traced/untraced (median of rounds) | rounds' range | "
      "rounds within 5%% | p99 ms traced | p99 ms untraced | lab CPU %% | drops | CPU µs a request traced: server + "
      "wrk + lab | untraced: server + wrk | untraced/traced CPU |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
      "---|---|\n");
  for (const auto& a : servers::architectures()) {
    if (!selected(a.name)) continue;
    const std::string arch(a.name);
    for (bool close : {false, true}) {
      if (!connection_selected(close)) continue;
      WrkOptions w;
      w.connections = 50;
      w.seconds = seconds;
      w.close = close;
      std::vector<double> rps_on, rps_off, p99_on, p99_off, lab_cpu, ratios;
      // CPU a request, each part summed over the rounds: a second measure of
      // the cost, which the machine's neighbours move less than req/s.
      double on_server = 0, on_wrk = 0, on_lab = 0, off_server = 0, off_wrk = 0;
      std::uint64_t on_requests = 0, off_requests = 0;
      std::uint64_t drops = 0;
      for (int round = 0; round < rounds; ++round) {
        for (int k = 0; k < 2; ++k) {
          if ((k + round) % 2 == 0) {
            const LoadRow r = traced_load(arch, w);
            rps_on.push_back(r.wrk.rps);
            p99_on.push_back(r.wrk.p99_ms);
            lab_cpu.push_back(100.0 * r.lab_cpu_s / (static_cast<double>(seconds) + 0.3));
            drops += r.drops;
            on_server += r.server_cpu_s;
            on_wrk += r.wrk.cpu_s;
            on_lab += r.lab_cpu_s;
            on_requests += r.wrk.requests;
            if (r.drops > 0)
              std::fprintf(stderr, "  %s %s round %d: %llu events, %llu dropped\n", arch.c_str(),
                           close ? "close" : "keep-alive", round, static_cast<unsigned long long>(r.events),
                           static_cast<unsigned long long>(r.drops));
          } else {
            Server off(arch, "http", /*traced=*/false);
            const WrkResult r = run_wrk(off.port(), w);
            rps_off.push_back(r.rps);
            p99_off.push_back(r.p99_ms);
            off_server += tree_cpu_seconds(off.pid());
            off_wrk += r.cpu_s;
            off_requests += r.requests;
          }
        }
        if (rps_off.back() > 0) ratios.push_back(rps_on.back() / rps_off.back());
      }
      const double on = median(rps_on), off = median(rps_off);
      const auto [low, high] = std::minmax_element(ratios.begin(), ratios.end());
      const auto within = std::count_if(ratios.begin(), ratios.end(), [](double r) { return r >= 0.95; });
      const auto us = [](double s, std::uint64_t n) { return n > 0 ? 1e6 * s / static_cast<double>(n) : 0.0; };
      const double on_us = us(on_server + on_wrk + on_lab, on_requests);
      const double off_us = us(off_server + off_wrk, off_requests);
      std::printf(
          "| %s | %s | %.0f | %.0f | %.3f | %.3f to %.3f | %lld of %zu | %.2f | %.2f | %.1f | %llu | %.1f = %.1f + "
          "%.1f + %.1f | %.1f = %.1f + %.1f | %.3f |\n",
          arch.c_str(), close ? "close" : "keep-alive", on, off, median(ratios), ratios.empty() ? 0.0 : *low,
          ratios.empty() ? 0.0 : *high, static_cast<long long>(within), ratios.size(), median(p99_on),
          median(p99_off), median(lab_cpu), static_cast<unsigned long long>(drops), on_us, us(on_server, on_requests),
          us(on_wrk, on_requests), us(on_lab, on_requests), off_us, us(off_server, off_requests),
          us(off_wrk, off_requests), on_us > 0 ? off_us / on_us : 0.0);
      std::fflush(stdout);
    }
  }
}

}  // namespace sockscope::bench
