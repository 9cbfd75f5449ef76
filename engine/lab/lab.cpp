// The lab: process launching, ingest and sampling. See lab.h for the shape.
//
// Sections:
//   1. Launching an exec'd child safely from a threaded process
//   2. Ingest thread (ring → session) and sampler thread (/proc → ingest)
//   3. Server and client lifecycle
#include "lab/lab.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <condition_variable>
#include <mutex>
#include <random>
#include <regex>
#include <stdexcept>
#include <thread>

#include "lab/ingest.h"
#include "observe/proc_sampler.h"
#include "trace/gate.h"
#include "trace/ring.h"

extern char** environ;

namespace sockscope::lab {

using namespace std::chrono_literals;

std::vector<std::pair<std::string, std::string>> ServerSpec::setting_options() const {
  std::vector<std::pair<std::string, std::string>> out;
  const servers::Architecture* a = servers::find_architecture(arch);
  if (a == nullptr) return out;
  for (servers::SettingId id : a->settings) out.emplace_back(servers::setting(id).key, settings.text(id));
  return out;
}

std::vector<std::string> ServerSpec::to_args() const {
  std::vector<std::string> args = {"serve", "--arch", arch, "--protocol", protocol,
                                   "--port", std::to_string(port), "--bind", bind};
  if (!root.empty()) args.insert(args.end(), {"--root", root.string()});
  if (const servers::Architecture* a = servers::find_architecture(arch)) {
    for (servers::SettingId id : a->settings)
      args.insert(args.end(), {std::string(servers::setting(id).flag), settings.text(id)});
  }
  if (!trace) args.push_back("--no-trace");
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  return args;
}

// ---- 1. Launching ------------------------------------------------------------

namespace {

// Names the lab's own threads (`name`: at most 15 characters), so that top,
// perf and /proc/PID/task tell them from the app's frame thread. They keep
// the normal priority. They ran at nice 10 for a while, to let the servers
// go first, but under fifty busy fork children a nice-10 ingest got too
// little CPU to keep up, and a 15 s load dropped 1.8 million events. An
// instrument may cost a little; it must not lose what it measures.
void name_lab_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

// The sampler's backoff (see the sampler thread): it waits this many times
// the CPU time its last sample took, and at most this many periods.
constexpr int kSampleBudget = 79;
constexpr int kSampleMaxPeriods = 10;

// The CPU time the calling thread has used: what the sampler's backoff counts.
std::chrono::nanoseconds thread_cpu_time() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
}

std::string self_exe_path() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw std::runtime_error("cannot read /proc/self/exe");
  return std::string(buf, static_cast<std::size_t>(n));
}

std::string new_lab_id() {
  std::random_device rd;
  return std::to_string(getpid()) + "-" + std::to_string(rd());
}

struct Child {
  pid_t pid = -1;
  int out_fd = -1;  // child's stdout+stderr, non-blocking read end
};

// fork + exec of `exe args...` with the trace fd in the environment. Between
// fork and exec only async-signal-safe calls happen (the lab has threads), so
// argv and envp are built before fork.
Child spawn(const std::string& exe, const std::vector<std::string>& args, int trace_fd, int gate_fd,
            const std::string& lab_id, int death_signal) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (v.starts_with(trace::kTraceFdEnv) || v.starts_with(trace::kGateFdEnv) || v.starts_with("SOCKSCOPE_LAB_ID="))
      continue;
    env_strings.emplace_back(v);
  }
  env_strings.push_back(std::string(trace::kTraceFdEnv) + "=" + std::to_string(trace_fd));
  // The gate table, the same way: mapped by servers (clients never gate).
  if (gate_fd >= 0) env_strings.push_back(std::string(trace::kGateFdEnv) + "=" + std::to_string(gate_fd));
  // Marks every process of this lab, so tests can prove none is left behind.
  env_strings.push_back("SOCKSCOPE_LAB_ID=" + lab_id);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings;
  argv_strings.push_back(exe);
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + strerror(errno));
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(pipefd[0]);
    close(pipefd[1]);
    throw std::runtime_error(std::string("fork: ") + strerror(e));
  }
  if (pid == 0) {
    // Own process group: the lab can signal the whole tree at once, and a
    // Ctrl-C in the terminal reaches the lab, which shuts down in order.
    setpgid(0, 0);
    // If the lab dies for any reason (even SIGKILL), the kernel signals us.
    prctl(PR_SET_PDEATHSIG, death_signal);
    if (getppid() != parent) _exit(127);  // the lab died before prctl
    dup2(pipefd[1], STDOUT_FILENO);
    dup2(pipefd[1], STDERR_FILENO);
    int fl = fcntl(trace_fd, F_GETFD);
    if (fl >= 0) fcntl(trace_fd, F_SETFD, fl & ~FD_CLOEXEC);
    if (gate_fd >= 0) {
      fl = fcntl(gate_fd, F_GETFD);
      if (fl >= 0) fcntl(gate_fd, F_SETFD, fl & ~FD_CLOEXEC);
    }
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(pipefd[1]);
  fcntl(pipefd[0], F_SETFL, fcntl(pipefd[0], F_GETFL) | O_NONBLOCK);
  setpgid(pid, pid);  // also from the parent, so there is no window either way
  return {pid, pipefd[0]};
}

// Reads what is available from a non-blocking fd into `buf`; false at EOF.
bool drain_fd(int fd, std::string& buf) {
  char tmp[4096];
  for (;;) {
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n > 0) {
      buf.append(tmp, static_cast<std::size_t>(n));
      if (buf.size() > (1u << 20)) buf.erase(0, buf.size() - (1u << 19));  // keep the tail
      continue;
    }
    if (n == 0) return false;
    return errno == EAGAIN || errno == EINTR;
  }
}

// Waits up to `timeout` for `pid` to exit; true when reaped. `usage` gets
// wait4's resource usage of the child when it was reaped here.
bool wait_exit(pid_t pid, std::chrono::milliseconds timeout, int* status = nullptr, struct rusage* usage = nullptr) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int st = 0;
  for (;;) {
    struct rusage ru {};
    pid_t r = wait4(pid, &st, WNOHANG, &ru);
    if (r == pid || (r < 0 && errno == ECHILD)) {
      if (status) *status = st;
      if (usage && r == pid) *usage = ru;
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

}  // namespace

struct ClientProc {
  Child child;
  std::string output;
  bool done = false;
  int status = 0;
};

struct Lab::Impl {
  LabOptions options;
  std::string exe;
  std::string lab_id = new_lab_id();
  trace::TraceRing ring;
  trace::GateTable gates = trace::GateTable::create();

  std::mutex mutex;  // guards the fields below (not the session)
  Child server;
  std::string server_output;
  ServerExit last_exit;
  // The server died on its own and server_died() reaped it: stop_server()
  // only finishes the bookkeeping.
  bool server_reaped = false;
  std::vector<ClientProc> clients;
  std::deque<observe::ProcSnapshot> pending_snapshots;
  // The start stamps of the /proc samples being taken now: ingest hands the
  // session nothing stamped after the earliest until that sample is in.
  std::vector<std::uint64_t> samples_in_flight;

  // One /proc sample of ROOT's tree, from any thread, into pending_snapshots.
  void take_sample(pid_t root) {
    const std::uint64_t began = trace::now_ns();
    {
      std::lock_guard lock(mutex);
      samples_in_flight.push_back(began);
    }
    observe::ProcSnapshot snap = observe::sample_subtree(root);  // stamped at or after `began`
    std::lock_guard lock(mutex);
    samples_in_flight.erase(std::find(samples_in_flight.begin(), samples_in_flight.end(), began));
    pending_snapshots.push_back(std::move(snap));
  }
  // The earliest sample in flight (UINT64_MAX: none). Under `mutex`.
  std::uint64_t hold_from() const {
    return samples_in_flight.empty() ? UINT64_MAX
                                     : *std::min_element(samples_in_flight.begin(), samples_in_flight.end());
  }

  std::unique_ptr<Ingest> ingester;  // ring and samples → session, in time order

  std::atomic<bool> stop{false};
  // Wakes the ingest thread from its poll period at once when the lab stops.
  std::mutex wake_mutex;
  std::condition_variable wake;
  std::thread ingest;
  std::thread sampler;
};

// ---- 2. Ingest and sampling ----------------------------------------------------

Lab::Lab(LabOptions options) : impl_(std::make_unique<Impl>()), session_(std::make_unique<session::SharedSession>()) {
  impl_->options = options;
  impl_->exe = options.self_exe.empty() ? self_exe_path() : options.self_exe.string();
  impl_->ring = trace::TraceRing::create(options.ring_capacity);
  impl_->ingester = std::make_unique<Ingest>(impl_->ring, *session_);
  // The lab's own events (none yet) would go to the same ring.
  impl_->ingest = std::thread([this] {
    name_lab_thread("lab-ingest");
    auto window_start = std::chrono::steady_clock::now();
    std::uint64_t window_count = 0;
    while (!impl_->stop.load()) {
      std::deque<observe::ProcSnapshot> snaps;
      std::uint64_t hold_from = UINT64_MAX;
      {
        std::lock_guard lock(impl_->mutex);
        snaps.swap(impl_->pending_snapshots);
        hold_from = impl_->hold_from();
      }
      const std::size_t drained = impl_->ingester->step(std::move(snaps), false, hold_from);
      ingested_ += drained;
      window_count += drained;
      auto now = std::chrono::steady_clock::now();
      double dt = std::chrono::duration<double>(now - window_start).count();
      if (dt >= 1.0) {
        ingest_rate_ = double(window_count) / dt;
        window_count = 0;
        window_start = now;
      }
      // A full batch means the ring holds more: step again at once. Else
      // sleep a poll period (also what an idle app pays: 50 wakeups a second).
      if (drained < Ingest::kBatch) {
        std::unique_lock lock(impl_->wake_mutex);
        impl_->wake.wait_for(lock, impl_->options.poll_period, [this] { return impl_->stop.load(); });
      }
    }
  });
  impl_->sampler = std::thread([this] {
    name_lab_thread("lab-sampler");
    while (!impl_->stop.load()) {
      pid_t root = server_pid_.load();
      auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(impl_->options.sample_period);
      if (root > 0) {
        const auto began = thread_cpu_time();
        sample_now();
        // A sample costs more with every process, descriptor and socket of
        // the tree, and with every socket of the machine (the TCP dump walks
        // the TIME_WAIT sockets a load of short connections leaves by the
        // hundred thousand: 10 to 30 ms a dump). The next sample waits
        // kSampleBudget times the CPU time this one took, so the sampler
        // takes at most an eightieth of a core (a tree of 300 children is
        // sampled about every second rather than every 100 ms; one process
        // under load, whose smaps_rollup walks the page table of the 32 MiB
        // trace ring, about every 200 ms), but never
        // longer than kSampleMaxPeriods periods: the picture must still
        // move. sample_now() takes one at once when it matters.
        const auto cost = thread_cpu_time() - began;
        wait = std::clamp(kSampleBudget * cost, wait, kSampleMaxPeriods * wait);
        std::lock_guard lock(impl_->mutex);
        // Keep the server's stdout/stderr pipe drained so it never blocks on it.
        if (impl_->server.out_fd >= 0) drain_fd(impl_->server.out_fd, impl_->server_output);
      }
      sample_interval_ms_ = std::chrono::duration<double, std::milli>(wait).count();
      auto until = std::chrono::steady_clock::now() + wait;
      while (!impl_->stop.load() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(25ms);
    }
  });
}

Lab::~Lab() {
  stop_clients();
  stop_server();
  flush();
  {
    std::lock_guard lock(impl_->wake_mutex);
    impl_->stop = true;
  }
  impl_->wake.notify_all();
  if (impl_->sampler.joinable()) impl_->sampler.join();
  if (impl_->ingest.joinable()) impl_->ingest.join();
}

void Lab::flush() {
  std::deque<observe::ProcSnapshot> snaps;
  {
    std::lock_guard lock(impl_->mutex);
    snaps.swap(impl_->pending_snapshots);
  }
  ingested_ += impl_->ingester->step(std::move(snaps), true);
}

std::uint64_t Lab::ring_drops() const { return impl_->ring.drops(); }

void Lab::sample_now() {
  const pid_t root = server_pid_.load();
  if (root <= 0) return;
  impl_->take_sample(root);
}

trace::GateTable& Lab::gates() { return impl_->gates; }

// ---- 3. Lifecycle ------------------------------------------------------------

std::uint16_t Lab::start_server(const ServerSpec& spec) {
  if (server_running()) throw std::runtime_error("a server is already running; stop it first");
  const std::uint64_t spawned_ns = trace::now_ns();
  Child child = spawn(impl_->exe, spec.to_args(), impl_->ring.fd(), impl_->gates.fd(), impl_->lab_id, SIGTERM);
  // Wait for the banner line that names the port, or for the server to fail.
  static const std::regex banner(R"(listening on [^ ]*:(\d+))");
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  std::uint16_t port = 0;
  for (;;) {
    bool open = drain_fd(child.out_fd, out);
    std::smatch m;
    if (std::regex_search(out, m, banner)) {
      port = static_cast<std::uint16_t>(std::stoi(m[1].str()));
      break;
    }
    int st = 0;
    bool exited = waitpid(child.pid, &st, WNOHANG) == child.pid;
    if (exited || !open || std::chrono::steady_clock::now() >= deadline) {
      if (!exited) {
        kill(-child.pid, SIGKILL);
        waitpid(child.pid, &st, 0);
      }
      close(child.out_fd);
      while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
      throw std::runtime_error(out.empty() ? "the server did not start (no output)" : out);
    }
    pollfd p{child.out_fd, POLLIN, 0};
    poll(&p, 1, 20);
  }
  spec_ = spec;
  spec_.port = port;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->server = child;
    impl_->server_output = out;
  }
  session::SessionMeta meta;
  meta.stamp_start();
  meta.architecture = spec.arch;
  meta.protocol = spec.protocol;
  meta.port = port;
  meta.server_pid = child.pid;
  meta.options = {{"bind", spec.bind}};
  for (auto& kv : spec.setting_options()) meta.options.push_back(std::move(kv));
  meta.options.emplace_back("trace", spec.trace ? "true" : "false");
  // A new session: what ingest still holds from before the spawn belonged
  // to the last one; the new server's first events stay.
  impl_->ingester->discard_before(spawned_ns);
  session_->write([&](session::Session& s) {
    s.clear();
    s.set_meta(meta);
  });
  server_port_ = port;
  server_pid_ = child.pid;
  return port;
}

bool Lab::server_running() const {
  pid_t pid = server_pid_.load();
  if (pid <= 0) return false;
  // The server is our child. Peek with WNOWAIT: reaping here would lose its
  // exit status and the reap event stop_server() records.
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
  return info.si_pid == 0;
}

bool Lab::reap_now() {
  if (!server_running()) return false;
  spec_.settings.set(servers::SettingId::reap, 1);
  return kill(server_pid_.load(), SIGUSR1) == 0;
}

void Lab::stop_server() {
  Child child;
  {
    std::lock_guard lock(impl_->mutex);
    child = impl_->server;
    impl_->server = {};
  }
  if (child.pid <= 0) return;
  // One last look at the tree while it is still there.
  impl_->take_sample(child.pid);
  // Stop sampling it: a server between exit and our waitpid is our zombie,
  // not a lesson, and must not show up as one.
  server_pid_ = 0;
  ServerExit exit;
  bool reaped = false;
  int status = 0;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->server_reaped) {
      exit = impl_->last_exit;
      reaped = true;
      status = exit.status;
      impl_->server_reaped = false;
    }
  }
  if (!reaped) {
    // SIGTERM first: the server's shutdown path signals its children and
    // reaps them, and its last events say so. SIGKILL to the group only as
    // backstop.
    exit.by_lab = true;
    kill(child.pid, SIGTERM);
    reaped = wait_exit(child.pid, 3s, &status, &exit.usage);
    if (!reaped) {
      kill(-child.pid, SIGKILL);
      reaped = wait_exit(child.pid, 2s, &status, &exit.usage);
    }
    exit.reaped = reaped;
    exit.status = status;
  }
  kill(-child.pid, SIGKILL);  // stragglers that outlived the server (none when it is correct)
  if (reaped) {
    // The lab is the server's parent: its waitpid is the server's reap.
    trace::Event e;
    e.ts_ns = trace::now_ns();
    e.pid = static_cast<std::uint32_t>(getpid());
    e.tid = static_cast<std::uint32_t>(gettid());
    e.kind = trace::Kind::reap;
    e.a = child.pid;
    e.b = status;
    impl_->ring.push(e);
  }
  std::string tail;
  drain_fd(child.out_fd, tail);
  close(child.out_fd);
  std::lock_guard lock(impl_->mutex);
  impl_->server_output += tail;
  impl_->last_exit = exit;
}

ServerExit Lab::last_server_exit() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->last_exit;
}

std::string Lab::server_died() {
  pid_t pid;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->server_reaped) return impl_->last_exit.text();
    pid = impl_->server.pid;
  }
  if (pid <= 0 || server_running()) return {};
  ServerExit exit;
  exit.reaped = wait_exit(pid, 1s, &exit.status, &exit.usage);
  if (!exit.reaped) return {};
  std::lock_guard lock(impl_->mutex);
  impl_->last_exit = exit;
  impl_->server_reaped = true;
  return exit.text();
}

void Lab::watch_server(pid_t pid, std::uint16_t port, const std::string& name, const std::string& protocol) {
  if (server_running()) throw std::runtime_error("a server is already running; stop it first");
  session::SessionMeta meta;
  meta.stamp_start();
  meta.architecture = name;
  meta.protocol = protocol;
  meta.port = port;
  meta.server_pid = pid;
  meta.options = {{"bind", "127.0.0.1"}, {"reference", "true"}};
  impl_->ingester->discard_before(meta.start_ns);
  session_->write([&](session::Session& s) {
    s.clear();
    s.set_meta(meta);
  });
  spec_ = {};
  spec_.arch = name;
  spec_.protocol = protocol;
  spec_.port = port;
  server_port_ = port;
  server_pid_ = pid;
}

void Lab::unwatch_server() {
  pid_t pid = server_pid_.exchange(0);
  if (pid <= 0) return;
  impl_->take_sample(pid);
}

std::string ServerExit::text() const {
  if (!reaped) return "not reaped";
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = sigdescr_np(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : "");
  }
  return "status " + std::to_string(status);
}

pid_t Lab::start_clients(clients::Scenario scenario) {
  if (scenario.port == 0) scenario.port = server_port_.load();
  if (scenario.port == 0) throw std::runtime_error("no server is running and the scenario names no port");
  std::vector<std::string> args = scenario.to_args();
  args.insert(args.begin(), "clients");
  Child child = spawn(impl_->exe, args, impl_->ring.fd(), -1, impl_->lab_id, SIGKILL);
  std::lock_guard lock(impl_->mutex);
  impl_->clients.push_back(ClientProc{child, {}, false, 0});
  return child.pid;
}

int Lab::wait_clients(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int failed = 0;
  for (;;) {
    bool all_done = true;
    {
      std::lock_guard lock(impl_->mutex);
      for (auto& c : impl_->clients) {
        if (c.done) continue;
        drain_fd(c.child.out_fd, c.output);
        int st = 0;
        if (waitpid(c.child.pid, &st, WNOHANG) == c.child.pid) {
          c.done = true;
          c.status = st;
          drain_fd(c.child.out_fd, c.output);
          close(c.child.out_fd);
        } else {
          all_done = false;
        }
      }
    }
    if (all_done) break;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard lock(impl_->mutex);
  for (auto& c : impl_->clients) {
    if (!c.done) {
      kill(-c.child.pid, SIGKILL);
      waitpid(c.child.pid, &c.status, 0);
      close(c.child.out_fd);
      c.done = true;
      ++failed;
    } else if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0) {
      ++failed;
    }
  }
  impl_->clients.clear();
  return failed;
}

int Lab::running_clients() const {
  std::lock_guard lock(impl_->mutex);
  int n = 0;
  for (auto& c : impl_->clients) {
    if (c.done) continue;
    int st = 0;
    if (waitpid(c.child.pid, &st, WNOHANG) == c.child.pid) {
      c.done = true;
      c.status = st;
      close(c.child.out_fd);
    } else {
      ++n;
    }
  }
  return n;
}

void Lab::stop_clients() {
  std::lock_guard lock(impl_->mutex);
  for (auto& c : impl_->clients) {
    if (c.done) continue;
    kill(-c.child.pid, SIGKILL);
    waitpid(c.child.pid, &c.status, 0);
    close(c.child.out_fd);
    c.done = true;
  }
  impl_->clients.clear();
}

}  // namespace sockscope::lab
