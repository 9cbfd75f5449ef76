// Compare: the same client workload against each architecture in turn (and
// against nginx and Apache, started by us), measured on one clock, one row per
// server and client count.
//
// Every number in a row is measured from that run, never estimated:
//   clients' side (the session's client_* events, so the same for every
//   server): replies/s, connections/s, latency p50/p99/max, refused, errors,
//   starved (connected, never answered before the run ended);
//   the kernel's side (/proc of the server's tree, sampled by the lab every
//   100 ms): peak processes and threads, PSS and RSS when the most
//   connections were open minus before the clients came, per connection
//   (PSS's anonymous part: see Row::pss_per_conn_kb);
//   the kernel's accounting (wait4's rusage of the server at its stop, minus
//   /proc's reading at the start): CPU user/system, context switches;
//   the trace (ours only; empty for a reference): forks, execs, threads
//   created, ring drops.
//
// The runner drives a lab::Lab, so a GUI that lends its own lab shows each
// server's tree and timeline while it is measured.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "servers/architecture.h"

namespace sockscope::lab {
class Lab;
}

namespace sockscope::compare {

struct CompareOptions {
  std::vector<std::string> archs;       // ours, by name from servers::architectures()
  std::vector<std::string> references;  // by name from references()
  std::string protocol = "http";        // references speak HTTP only
  std::vector<int> clients = {50};      // a sweep when more than one
  std::string scenario = "keepalive";   // a preset name (clients::presets())
  double duration_s = 3.0;              // how long the clients run (held: how long they hold)
  bool trace = true;                    // false: our servers run with --no-trace
  bool trace_both = false;              // each of ours twice: traced, then untraced (what tracing costs)
  servers::SettingValues settings;      // our servers' settings (each uses its own)
  std::filesystem::path root;           // the files served (empty: our sample files)

  // Empty when the options can run; otherwise what is wrong, naming what is
  // available ("unknown architecture 'forq' (available: serial, fork, ...)").
  // "" or what is wrong. `installed`: a reference must also be installed
  // (false: a lesson's line, checked before the machine it runs on is known).
  std::string validate(bool installed = true) const;
  // Leaves out the references that are not installed here; returns them.
  std::vector<std::string> drop_unavailable_references();
  // How many rows a run makes.
  std::size_t row_count() const {
    return (archs.size() * (trace_both ? 2 : 1) + references.size()) * clients.size();
  }
};

struct Row {
  std::string server;   // "fork", "nginx-1"
  bool reference = false;
  int clients = 0;
  std::string scenario;
  std::string protocol;
  bool trace = true;
  // "ok", or what went wrong: "died: killed by signal 9 (Killed)",
  // "did not start: ...", "cancelled".
  std::string status = "ok";
  bool complete = false;  // measured to the end

  double seconds = 0.0;            // from the clients' start to their last event
  std::uint64_t replies = 0;       // every reply the clients read (an FTP greeting is one)
  std::uint64_t connections = 0;   // connects that succeeded
  double replies_per_s = 0.0;
  double connections_per_s = 0.0;
  double p50_ms = 0.0, p99_ms = 0.0, max_ms = 0.0;
  std::uint64_t refused = 0;       // turned away: 421 / 503, or connect refused
  std::uint64_t errors = 0;        // client errors other than the run's end
  std::uint64_t starved = 0;       // connected, not answered within the run's duration

  // How many /proc samples of the server's tree fell in the measured time.
  // 0: the sampler could not finish a pass in time (heavy fork churn), and
  // the /proc columns are empty rather than zero.
  int samples = 0;
  int peak_processes = 0;          // /proc, the server's tree, zombies included
  int peak_threads = 0;
  std::uint32_t peak_open = 0;     // connections the tree held at once (kernel sockets)
  std::uint64_t pss_before_kb = 0, pss_kb = 0;  // before the clients, and when the most were open
  std::uint64_t rss_before_kb = 0, rss_kb = 0;
  // What each open connection added, after minus before over peak_open:
  // PSS's anonymous part (heap, stacks, pages a child copied or still
  // shares copy-on-write), so neither the program text every process of the
  // binary shares (the client simulator's start moves the server's share of
  // it) nor the trace ring's shared pages blur it; 0 when none was open.
  std::uint64_t pss_anon_before_kb = 0, pss_anon_kb = 0;
  double pss_per_conn_kb = 0.0;
  double rss_per_conn_kb = 0.0;

  double cpu_user_s = 0.0, cpu_system_s = 0.0;
  std::uint64_t ctx_voluntary = 0, ctx_involuntary = 0;

  // From the trace: ours only (nullopt for a reference).
  std::optional<std::uint64_t> forks, execs, threads_created, ring_drops;
};

struct Result {
  CompareOptions options;
  std::vector<Row> rows;
  bool complete = false;   // every row was measured (not cancelled)
  std::string started_at;  // ISO 8601, local time
  std::string machine;     // "2 CPUs, Linux 6.1.0"
  // Each row's session log in JSON Lines (session::write_jsonl), when the
  // hooks asked to keep them; index = row.
  std::vector<std::string> sessions;
};

// What the runner tells its caller as it goes (from the runner's thread).
struct Progress {
  std::size_t index = 0;  // the row being measured, 0-based
  std::size_t total = 0;
  std::string server;
  int clients = 0;
  std::string phase;      // "starting", "measuring", "stopping"
  double fraction = 0.0;  // of this row's measuring time
};

struct RunHooks {
  std::function<void(const Progress&)> progress;
  std::function<void(const Row&)> row_done;
  const std::atomic<bool>* cancel = nullptr;  // set to stop: the row in flight is marked "cancelled"
  // Called with each reference server's pid while it runs (tests use it).
  std::function<void(const std::string& server, pid_t pid)> server_started;
  bool keep_sessions = false;  // fill Result::sessions (for a .jsonl export)
};

// Limits that would stop the run part way (RLIMIT_NOFILE for the largest
// client count, RLIMIT_NPROC and kernel.threads-max for a process or thread
// per connection), each as a sentence naming the limit; empty when none does.
// Raises the soft RLIMIT_NOFILE towards the hard one first when that helps.
std::vector<std::string> limit_problems(const CompareOptions& options);

// Settings that will turn clients away by design (fork's max_children below
// the client count, ...), as sentences; the run goes on and counts them.
std::vector<std::string> setting_notes(const CompareOptions& options);

// Runs the comparison on `lab` (which must have no server running). Throws
// std::invalid_argument when the options are invalid. Leaves nothing running.
Result run(lab::Lab& lab, const CompareOptions& options, const RunHooks& hooks = {});

// The architecture names and reference names a run would use by default:
// every architecture, and the references that are installed.
std::vector<std::string> all_architectures();

}  // namespace sockscope::compare
