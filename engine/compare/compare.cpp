// The comparison runner. One row at a time: start the server (ours through
// the lab, a reference by itself and watched by the lab), let it settle, read
// its cost and memory, run the clients for the duration, fold what the
// clients saw out of the session, stop the server and read what the kernel
// charged it.
//
// Sections: 1. options   2. limits   3. one row's measurements   4. the run
#include "compare/compare.h"

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "clients/scenario.h"
#include "compare/reference.h"
#include "lab/lab.h"
#include "observe/proc_cost.h"
#include "observe/proc_sampler.h"
#include "servers/serve_command.h"
#include "session/export.h"
#include "session/totals.h"
#include "trace/event.h"
#include "trace/ring.h"

namespace sockscope::compare {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- 1. options ----------------------------------------------------------------

std::vector<std::string> all_architectures() { return servers::architecture_name_list(); }

std::vector<std::string> CompareOptions::drop_unavailable_references() {
  std::vector<std::string> dropped, kept;
  for (const auto& r : references) {
    const Reference* ref = find_reference(r);
    (ref != nullptr && unavailable_reason(*ref).empty() ? kept : dropped).push_back(r);
  }
  references = kept;
  return dropped;
}

std::string CompareOptions::validate(bool installed) const {
  if (archs.empty() && references.empty()) return "nothing to compare: name at least one architecture or reference";
  for (const auto& a : archs)
    if (!servers::find_architecture(a))
      return "unknown architecture '" + a + "' (available: " + servers::architecture_names() + ")";
  for (const auto& r : references) {
    const Reference* ref = find_reference(r);
    if (!ref) return "unknown reference '" + r + "' (available: " + reference_names() + ")";
    if (std::string why = unavailable_reason(*ref); installed && !why.empty()) return why;
  }
  if (protocol != "http" && protocol != "ftp") return "protocol must be http or ftp, not '" + protocol + "'";
  if (!references.empty() && protocol != "http")
    return "the reference servers speak HTTP only: use --protocol http, or leave out --reference";
  if (clients.empty()) return "give at least one client count";
  for (int c : clients)
    if (c < 1 || c > 10000) return "a client count must be in 1..10000, not " + std::to_string(c);
  const auto& names = clients::preset_names();
  if (std::find(names.begin(), names.end(), scenario) == names.end() || scenario == "custom")
    return "unknown scenario '" + scenario + "' (available: " + clients::preset_list() + "; custom needs lines)";
  if (!(duration_s >= 0.2 && duration_s <= 600)) return "the duration must be in 0.2..600 s";
  return {};
}

// ---- 2. limits -----------------------------------------------------------------

namespace {

long read_long(const char* path) {
  std::ifstream in(path);
  long v = -1;
  in >> v;
  return in ? v : -1;
}

bool any_forks_per_connection(const std::vector<std::string>& archs) {
  for (const auto& a : archs)
    if (const auto* arch = servers::find_architecture(a); arch && arch->has(servers::kForksPerConnection)) return true;
  return false;
}

bool any_thread_per_connection(const std::vector<std::string>& archs) {
  for (const auto& a : archs)
    if (const auto* arch = servers::find_architecture(a);
        arch && arch->has(servers::kThreads) && !arch->has(servers::kPrestartedWorkers))
      return true;
  return false;
}

}  // namespace

std::vector<std::string> limit_problems(const CompareOptions& o) {
  std::vector<std::string> out;
  if (o.clients.empty()) return out;
  const long most = *std::max_element(o.clients.begin(), o.clients.end());
  // A client holds one socket (an FTP transfer two); so does the server for
  // each connection, in one process for threads and the event loop. Leave
  // room for the rest of each process's descriptors.
  const long per_conn = o.protocol == "ftp" ? 2 : 1;
  const rlim_t need = static_cast<rlim_t>(most * per_conn + 64);
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  if (nofile.rlim_cur != RLIM_INFINITY && nofile.rlim_cur < need) {
    rlimit raised = nofile;
    raised.rlim_cur = nofile.rlim_max == RLIM_INFINITY ? need : std::min(nofile.rlim_max, need);
    setrlimit(RLIMIT_NOFILE, &raised);  // children inherit it
    getrlimit(RLIMIT_NOFILE, &nofile);
  }
  if (nofile.rlim_cur != RLIM_INFINITY && nofile.rlim_cur < need)
    out.push_back(std::to_string(most) + " clients need about " + std::to_string(need) +
                  " file descriptors per process, and RLIMIT_NOFILE allows " + std::to_string(nofile.rlim_cur) +
                  " (hard limit " + std::to_string(nofile.rlim_max) + "): raise it with `ulimit -n`");
  if (any_forks_per_connection(o.archs) || any_thread_per_connection(o.archs)) {
    rlimit nproc{};
    getrlimit(RLIMIT_NPROC, &nproc);
    // Root is not held to RLIMIT_NPROC; everyone is held to threads-max and pid_max.
    if (geteuid() != 0 && nproc.rlim_cur != RLIM_INFINITY && nproc.rlim_cur < static_cast<rlim_t>(most + 64))
      out.push_back("a process or thread per connection for " + std::to_string(most) +
                    " clients needs more than RLIMIT_NPROC (" + std::to_string(nproc.rlim_cur) +
                    ") allows: raise it with `ulimit -u`");
    long threads_max = read_long("/proc/sys/kernel/threads-max");
    if (threads_max > 0 && threads_max < most + 256)
      out.push_back("kernel.threads-max is " + std::to_string(threads_max) + ", below " + std::to_string(most) +
                    " clients' processes or threads");
    long pid_max = read_long("/proc/sys/kernel/pid_max");
    if (pid_max > 0 && pid_max < most + 1024)
      out.push_back("kernel.pid_max is " + std::to_string(pid_max) + ", too few pids for " + std::to_string(most) +
                    " clients");
  }
  return out;
}

std::vector<std::string> setting_notes(const CompareOptions& o) {
  std::vector<std::string> out;
  if (o.clients.empty()) return out;
  const int most = *std::max_element(o.clients.begin(), o.clients.end());
  for (const auto& name : o.archs) {
    const auto* arch = servers::find_architecture(name);
    if (!arch) continue;
    auto note = [&](servers::SettingId id, const char* what) {
      int v = o.settings.get(id);
      if (arch->uses(id) && v < most)
        out.push_back(name + ": " + std::string(servers::setting(id).key) + " is " + std::to_string(v) + ", below " +
                      std::to_string(most) + " clients: " + what + " (--" +
                      std::string(servers::setting(id).flag).substr(2) + " N)");
    };
    note(servers::SettingId::max_children, "connections past it are refused");
    note(servers::SettingId::max_threads, "connections past it are refused");
    if (arch->has(servers::kThreads) && arch->has(servers::kPrestartedWorkers))
      note(servers::SettingId::workers, "the rest wait in its queue");
  }
  return out;
}

// ---- 3. one row's measurements ------------------------------------------------

namespace {

// What the clients saw, folded from the session's client_* events at or after
// `from_ns` (so a row never counts another row's clients). A client is
// starved when no answer reached it by `end_ns`, the end of the measured
// time (one served only after the others let go does not count as served).
void fold_clients(const session::Session& s, std::uint64_t from_ns, std::uint64_t end_ns, Row& row) {
  struct PerClient {
    bool connected = false, replied = false, refused = false;
  };
  std::unordered_map<std::uint32_t, PerClient> clients;
  std::vector<std::uint64_t> latencies;
  std::uint64_t first = 0, last = 0;
  for (const auto& e : s.events()) {
    if (e.ts_ns < from_ns) continue;
    using K = trace::Kind;
    if (e.kind != K::client_connect && e.kind != K::client_reply && e.kind != K::client_error &&
        e.kind != K::client_close && e.kind != K::client_request)
      continue;
    if (first == 0) first = e.ts_ns;
    last = std::max(last, e.ts_ns);
    PerClient& c = clients[e.conn];
    switch (e.kind) {
      case K::client_connect:
        c.connected = true;
        ++row.connections;
        break;
      case K::client_reply:
        ++row.replies;
        latencies.push_back(static_cast<std::uint64_t>(std::max<std::int64_t>(0, e.b)));
        if (e.a == 421 || e.a == 503) {
          c.refused = true;
          ++row.refused;
        } else if (e.ts_ns <= end_ns) {
          c.replied = true;
        }
        break;
      case K::client_error:
        if (e.a == ECONNREFUSED) {
          c.refused = true;
          ++row.refused;
        } else if (e.a != ECANCELED) {
          ++row.errors;  // ECANCELED is the run's end, not the server's doing
        }
        break;
      default:
        break;
    }
  }
  for (const auto& [id, c] : clients)
    if (c.connected && !c.replied && !c.refused) ++row.starved;
  row.seconds = last > first ? static_cast<double>(last - first) / 1e9 : 0.0;
  if (row.seconds > 0) {
    row.replies_per_s = static_cast<double>(row.replies) / row.seconds;
    row.connections_per_s = static_cast<double>(row.connections) / row.seconds;
  }
  if (!latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    auto rank = [&](double p) {
      auto r = static_cast<std::size_t>(std::ceil(p * static_cast<double>(latencies.size())));
      return static_cast<double>(latencies[r == 0 ? 0 : r - 1]) / 1e6;
    };
    row.p50_ms = rank(0.50);
    row.p99_ms = rank(0.99);
    row.max_ms = static_cast<double>(latencies.back()) / 1e6;
  }
}

// Peaks and memory from the lab's /proc samples taken at or after `from_ns`.
void fold_samples(const session::Session& s, std::uint64_t from_ns, Row& row) {
  session::TotalsSeries series;
  series.update(s);
  const session::TotalsPoint* most = nullptr;
  for (const auto& p : series.points()) {
    if (p.ts_ns < from_ns || p.processes == 0) continue;
    ++row.samples;
    row.peak_processes = std::max(row.peak_processes, static_cast<int>(p.processes));
    row.peak_threads = std::max(row.peak_threads, static_cast<int>(p.threads));
    // The memory that counts is the memory while the most were open (the
    // latest such sample: held connections have settled by then).
    if (!most || p.connections >= most->connections) most = &p;
  }
  if (!most) return;
  row.peak_open = most->connections;
  row.pss_kb = most->pss_kb;
  row.pss_anon_kb = most->pss_anon_kb;
  row.rss_kb = most->rss_kb;
  if (row.peak_open > 0) {
    auto per = [&](std::uint64_t now, std::uint64_t before) {
      return (static_cast<double>(now) - static_cast<double>(before)) / row.peak_open;
    };
    row.pss_per_conn_kb = per(row.pss_anon_kb, row.pss_anon_before_kb);
    row.rss_per_conn_kb = per(row.rss_kb, row.rss_before_kb);
  }
}

clients::Scenario scenario_for(const CompareOptions& o, int count, std::uint16_t port) {
  clients::Scenario sc =
      clients::preset(o.scenario, o.protocol == "http" ? protocol::Protocol::http : protocol::Protocol::ftp);
  const int duration_ms = static_cast<int>(o.duration_s * 1000);
  sc.count = count;
  sc.port = port;
  sc.trace = true;  // the clients' events are the measurement; only servers go untraced
  sc.idle_count = std::min(sc.idle_count, count);
  if (sc.hold_ms > 0) sc.hold_ms = duration_ms;
  // The run ends at the deadline: repeating clients stop there, and a client
  // still waiting for its first answer is starved, not timed out.
  sc.deadline_ms = sc.repeat ? duration_ms : duration_ms + 3000;
  sc.timeout_ms = std::max(sc.timeout_ms, sc.deadline_ms + 1000);
  // Arrivals spread over at most half the run, however many clients.
  if (sc.spacing_ms > 0 && count > 1) sc.spacing_ms = std::min(sc.spacing_ms, duration_ms / 2 / count);
  return sc;
}

std::string iso_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", std::localtime(&t));
  return buf;
}

std::string machine_text() {
  utsname u{};
  uname(&u);
  return std::to_string(std::thread::hardware_concurrency()) + " CPUs, " + u.sysname + " " + u.release;
}

bool cancelled(const RunHooks& h) { return h.cancel && h.cancel->load(); }

// The server under measurement: ours through the lab, or a reference.
class Subject {
 public:
  Subject(lab::Lab& lab, const CompareOptions& o, const std::string& name, bool reference, bool trace)
      : lab_(lab), reference_(reference) {
    if (reference) {
      server_ = ReferenceServer::start(*find_reference(name), o.root.empty() ? servers::default_root() : o.root);
      lab_.watch_server(server_->pid(), server_->port(), name, "http");
      port_ = server_->port();
      pid_ = server_->pid();
    } else {
      lab::ServerSpec spec;
      spec.arch = name;
      spec.protocol = o.protocol;
      spec.root = o.root;
      spec.settings = o.settings;
      spec.trace = trace;
      port_ = lab_.start_server(spec);
      pid_ = lab_.server_pid();
    }
  }
  ~Subject() { stop(); }

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

  // Empty while it runs; how it ended when it died on its own.
  std::string died() {
    if (!reference_) return lab_.server_died();
    auto e = server_->exited();
    return e ? e->text : std::string();
  }

  // Stops it; the kernel's account of everything it and its reaped children
  // did (nullopt when it could not be reaped).
  std::optional<observe::TreeCost> stop() {
    if (stopped_) return final_;
    stopped_ = true;
    if (reference_) {
      lab_.unwatch_server();
      StopResult r = server_->stop();
      if (r.usage_valid) final_ = observe::cost_of(r.usage);
      server_.reset();
    } else {
      lab_.stop_server();
      lab::ServerExit e = lab_.last_server_exit();
      if (e.reaped) final_ = observe::cost_of(e.usage);
    }
    lab_.flush();
    return final_;
  }

 private:
  lab::Lab& lab_;
  bool reference_;
  std::unique_ptr<ReferenceServer> server_;
  std::uint16_t port_ = 0;
  pid_t pid_ = 0;
  bool stopped_ = false;
  std::optional<observe::TreeCost> final_;
};

std::vector<pid_t> pids_of(const observe::ProcSnapshot& snap) {
  std::vector<pid_t> out;
  for (const auto& p : snap.procs) out.push_back(p.pid);
  return out;
}

Row measure(lab::Lab& lab, const CompareOptions& o, const std::string& name, bool reference, bool trace,
            int count, Progress progress, const RunHooks& hooks) {
  Row row;
  row.server = name;
  row.reference = reference;
  row.clients = count;
  row.scenario = o.scenario;
  row.protocol = o.protocol;
  row.trace = reference ? false : trace;
  auto tell = [&](const char* phase, double fraction) {
    progress.phase = phase;
    progress.fraction = fraction;
    if (hooks.progress) hooks.progress(progress);
  };

  tell("starting", 0.0);
  std::optional<Subject> subject;
  try {
    subject.emplace(lab, o, name, reference, trace);
  } catch (const std::exception& e) {
    row.status = std::string("did not start: ") + e.what();
    return row;
  }
  if (hooks.server_started) hooks.server_started(name, subject->pid());
  const std::uint64_t drops_before = lab.ring_drops();

  // Let it settle (prefork's workers, Apache's children), then read the
  // memory and cost it starts from.
  std::this_thread::sleep_for(400ms);
  observe::ProcSnapshot before = observe::sample_subtree(subject->pid());
  session::TotalsPoint b = session::totals_of(before, subject->port());
  row.pss_before_kb = b.pss_kb;
  row.pss_anon_before_kb = b.pss_anon_kb;
  row.rss_before_kb = b.rss_kb;
  const observe::TreeCost cost_before = observe::read_tree_cost(pids_of(before));
  const std::uint64_t t0 = trace::now_ns();

  tell("measuring", 0.0);
  clients::Scenario sc = scenario_for(o, count, subject->port());
  try {
    lab.start_clients(sc);
  } catch (const std::exception& e) {
    row.status = std::string("the clients did not start: ") + e.what();
    subject->stop();
    return row;
  }
  const auto start = Clock::now();
  const auto planned = std::chrono::milliseconds(sc.run_deadline_ms());
  const auto hard_stop = start + planned + 5s;
  std::string died;
  bool was_cancelled = false;
  bool sampled_midway = false;
  while (lab.running_clients() > 0) {
    if (cancelled(hooks)) {
      was_cancelled = true;
      break;
    }
    if (died = subject->died(); !died.empty()) break;
    if (Clock::now() >= hard_stop) break;
    double f = std::chrono::duration<double>(Clock::now() - start) / planned;
    tell("measuring", std::min(1.0, f));
    // One sample halfway for certain (held clients are all connected by
    // then), whatever the sampler's cadence under load.
    if (f >= 0.5 && !sampled_midway) {
      lab.sample_now();
      sampled_midway = true;
    }
    std::this_thread::sleep_for(50ms);
  }
  // A server that died takes its answers with it: give the clients a moment
  // to see the resets, then stop them.
  if (!died.empty()) lab.wait_clients(1s);
  lab.stop_clients();
  std::this_thread::sleep_for(150ms);  // the servers see the clients go
  lab.sample_now();                    // one more /proc sample after them

  tell("stopping", 1.0);
  lab.flush();
  lab.session().read([&](const session::Session& s) {
    fold_clients(s, t0, t0 + static_cast<std::uint64_t>(o.duration_s * 1e9), row);
    fold_samples(s, t0, row);
    if (!reference) {
      const auto& c = s.model().counts;
      row.forks = c.children_forked;
      row.execs = c.execs;
      row.threads_created = c.threads_spawned;
    }
  });
  if (!reference) row.ring_drops = lab.ring_drops() - drops_before;
  if (died.empty()) died = subject->died();
  std::optional<observe::TreeCost> after = subject->stop();
  if (after) {
    observe::TreeCost spent = *after - cost_before;
    row.cpu_user_s = spent.user_s;
    row.cpu_system_s = spent.system_s;
    row.ctx_voluntary = spent.voluntary_switches;
    row.ctx_involuntary = spent.involuntary_switches;
  }
  if (was_cancelled) {
    row.status = "cancelled";
  } else if (!died.empty()) {
    row.status = "died: " + died;
  } else if (row.connections > 0 && row.replies == 0) {
    row.status = "stopped answering: no reply in " + std::to_string(static_cast<int>(o.duration_s)) + " s";
    row.complete = true;
  } else {
    row.complete = true;
  }
  return row;
}

}  // namespace

// ---- 4. the run ------------------------------------------------------------------

Result run(lab::Lab& lab, const CompareOptions& options, const RunHooks& hooks) {
  if (std::string e = options.validate(); !e.empty()) throw std::invalid_argument(e);
  Result result;
  result.options = options;
  result.started_at = iso_now();
  result.machine = machine_text();
  struct Subj {
    std::string name;
    bool reference;
    bool trace;
  };
  std::vector<Subj> subjects;
  for (const auto& a : options.archs) {
    subjects.push_back({a, false, options.trace_both || options.trace});
    if (options.trace_both) subjects.push_back({a, false, false});
  }
  for (const auto& r : options.references) subjects.push_back({r, true, false});

  Progress progress;
  progress.total = options.row_count();
  for (int count : options.clients) {
    for (const auto& [name, reference, trace] : subjects) {
      if (cancelled(hooks)) return result;
      progress.server = name + (options.trace_both && !trace ? " untraced" : "");
      progress.clients = count;
      Row row = measure(lab, options, name, reference, trace, count, progress, hooks);
      ++progress.index;
      result.rows.push_back(row);
      if (hooks.keep_sessions) {
        std::ostringstream log;
        lab.session().read([&](const session::Session& s) { session::write_jsonl(s, log); });
        result.sessions.push_back(std::move(log).str());
      }
      if (hooks.row_done) hooks.row_done(result.rows.back());
      if (row.status == "cancelled") return result;
    }
  }
  result.complete = true;
  return result;
}

}  // namespace sockscope::compare
