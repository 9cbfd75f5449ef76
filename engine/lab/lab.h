// The lab: the headless owner of a sockscope session. It starts real servers
// and the client simulator as exec'd processes of the one `sockscope` binary,
// drains the trace ring into the session model on one ingest thread, and
// samples /proc on another. The GUI and the headless `run` command both drive
// a Lab; nothing here knows about windows.
//
// Process model (see DESIGN.md):
//   lab ─ ingest thread (only writer of the session model)
//       ─ sampler thread (/proc snapshots, handed to ingest)
//       ─ exec: sockscope serve ...    own process group, PR_SET_PDEATHSIG(SIGTERM)
//       ─ exec: sockscope clients ...  own process group, PR_SET_PDEATHSIG(SIGKILL)
// Servers never run inside the lab process: fork() from a process with GL and
// helper threads is unsafe, so every server is exec'd clean.
//
// Caveat: PR_SET_PDEATHSIG fires when the *thread* that forked dies. Call
// start_server/start_clients from a thread that lives as long as the lab (the
// UI thread, or main in the headless run).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "clients/scenario.h"
#include "servers/architecture.h"
#include "session/session.h"
#include "trace/gate.h"

namespace sockscope::lab {

struct ServerSpec {
  std::string arch = "fork";       // a name from servers::architectures()
  std::string protocol = "ftp";    // ftp | http
  std::uint16_t port = 0;          // 0 = any free port
  std::string bind = "127.0.0.1";
  std::filesystem::path root;      // empty = the server's default sample root
  servers::SettingValues settings; // the architecture's settings (the others are not passed)
  bool trace = true;
  std::vector<std::string> extra_args;  // passed through to `serve` after everything else
  // `serve` arguments: the settings the architecture uses, each spelled out.
  std::vector<std::string> to_args() const;
  // The settings the architecture uses, as the session records them.
  std::vector<std::pair<std::string, std::string>> setting_options() const;
};

// How the last server ended, as the lab's waitpid saw it.
struct ServerExit {
  bool reaped = false;       // false: none was stopped yet, or it could not be reaped
  int status = 0;            // waitpid's status word
  bool by_lab = false;       // the lab stopped it (SIGTERM / SIGKILL) rather than it dying on its own
  struct rusage usage {};    // wait4's: all its threads, ended ones too, and every child it reaped
  // "exit 0", "exit status 1", "killed by signal 9 (Killed)".
  std::string text() const;
};

struct LabOptions {
  // A ring of 256 Ki events (32 MiB: 128-byte slots), a quarter of a second
  // of the busiest load (a million events a second) while ingest is held
  // up; no row of bench_servers e drops with it. Larger costs the servers:
  // every process that writes maps each page of the ring it reaches (fork
  // does not copy those page table entries), so a long-lived writer faults
  // across the whole ring on its first lap, and the sampler's smaps_rollup
  // walks every entry it mapped (README: Performance, tracing's cost). With
  // 1 Mi events the fifty children of fork or inetd under keep-alive load
  // were still on that lap when a 5 s run ended. The app, `run` and
  // `compare` all use it.
  std::size_t ring_capacity = 1u << 18;
  std::chrono::milliseconds sample_period{100};
  // How long the ingest thread sleeps after a step that drained less than a
  // full batch. Every step costs something whatever it finds (a wakeup, the
  // session's lock, the caches refilled): bench_ingest measured the lab's
  // CPU an event at 300,000 events a second 8 to 19% lower with 20 ms than
  // with 5 ms, and at 100,000 a second 18 to 41% lower. The ring holds about
  // a quarter of a second of the heaviest load.
  std::chrono::milliseconds poll_period{20};
  std::filesystem::path self_exe;  // empty = /proc/self/exe
};

class Lab {
 public:
  explicit Lab(LabOptions options = {});
  ~Lab();  // stops clients and server, joins threads; leaves no process behind
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  // Starts `sockscope serve` and waits (up to 5 s) for its banner. Returns the
  // port it listens on. Throws std::runtime_error with the server's own error
  // text when it fails to start (e.g. port in use).
  std::uint16_t start_server(const ServerSpec& spec);
  // SIGTERM (the server's shutdown path stops its children), then SIGKILL to
  // the process group after a grace period. Safe to call when stopped.
  void stop_server();
  bool server_running() const;
  // How the last stopped server ended (see ServerExit).
  ServerExit last_server_exit() const;
  // When the server died on its own (not stopped by the lab): how, e.g.
  // "killed by signal 9 (Killed)"; empty while it runs or when none ran.
  // Reaps it, so call stop_server() afterwards to finish the bookkeeping.
  std::string server_died();

  // Samples a server the lab did not start (a reference nginx or Apache, our
  // own child from elsewhere): the session is cleared and names it, and the
  // /proc sampler follows `pid`'s tree as it does a server of ours, so the
  // tree, totals and timeline show it. The caller starts and stops it;
  // unwatch() takes a last sample and stops following it.
  void watch_server(pid_t pid, std::uint16_t port, const std::string& name, const std::string& protocol);
  void unwatch_server();
  // Reaping turned on while a fork-family server runs: SIGUSR1 makes it reap
  // its zombies now and every child from then on. False when none runs.
  bool reap_now();
  pid_t server_pid() const { return server_pid_.load(); }
  std::uint16_t server_port() const { return server_port_.load(); }
  const ServerSpec& server_spec() const { return spec_; }

  // Starts one `sockscope clients` process for `scenario` (host and port are
  // filled in from the running server when left 0). Returns its pid.
  pid_t start_clients(clients::Scenario scenario);
  // Waits for every client process to finish, up to `timeout`. Returns the
  // number that failed or were still running (those are killed).
  int wait_clients(std::chrono::milliseconds timeout);
  int running_clients() const;
  void stop_clients();

  session::SharedSession& session() { return *session_; }
  const session::SharedSession& session() const { return *session_; }

  std::uint64_t ring_drops() const;

  // The gate table every server of this lab maps (SOCKSCOPE_GATE_FD): step
  // mode, slow motion, releases. Starts in run mode; it outlives servers, so
  // a mode chosen before start_server() holds from the server's first gate.
  trace::GateTable& gates();
  // Events ingested per second over the last second (for the status bar).
  double ingest_rate() const { return ingest_rate_.load(); }
  std::uint64_t events_ingested() const { return ingested_.load(); }
  // How often /proc is sampled now, in ms: the sample period, or longer when
  // a sample costs more than a tenth of it (a large tree backs off).
  double sample_interval_ms() const { return sample_interval_ms_.load(); }

  // Drains everything pending in the ring into the session now (used before
  // exporting and by tests).
  void flush();
  // Samples the server's tree from /proc now, on the caller's thread, besides
  // the sampler's own cadence (which backs off as the tree grows): a
  // measurement that needs a sample at a moment takes it here.
  void sample_now();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<session::SharedSession> session_;
  ServerSpec spec_;
  std::atomic<pid_t> server_pid_{0};
  std::atomic<std::uint16_t> server_port_{0};
  std::atomic<double> ingest_rate_{0.0};
  std::atomic<double> sample_interval_ms_{0.0};
  std::atomic<std::uint64_t> ingested_{0};
};

}  // namespace sockscope::lab
