// Reference servers: nginx and Apache httpd under our control. See
// reference.h for the shape.
//
// Sections:
//   1. The table
//   2. Configs: the smallest nginx.conf and httpd.conf that serve a directory
//   3. Launching: fork + exec of a foreground server
//   4. Lifecycle: start, wait until it listens, stop, reap
#include "compare/reference.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "observe/proc_sampler.h"

namespace sockscope::compare {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---- 1. The table ------------------------------------------------------------

namespace {

constexpr std::string_view kNginx = "/usr/sbin/nginx";
constexpr std::string_view kApache = "/usr/sbin/apache2";
constexpr std::string_view kApacheModules = "/usr/lib/apache2/modules";

constexpr std::array kReferences = {
    Reference{"nginx-1", "nginx, 1 worker process (one event loop)", kNginx, "nginx", 1, ""},
    Reference{"nginx-2", "nginx, 2 worker processes (an event loop each)", kNginx, "nginx", 2, ""},
    Reference{"apache-prefork", "Apache httpd, prefork MPM (a process per connection)", kApache, "apache2", 0,
              "prefork"},
    Reference{"apache-worker", "Apache httpd, worker MPM (processes of 25 threads, a thread per connection)",
              kApache, "apache2", 0, "worker"},
    Reference{"apache-event", "Apache httpd, event MPM (threads; idle keep-alive connections wait in an event loop)",
              kApache, "apache2", 0, "event"},
};

bool is_apache(const Reference& r) { return !r.mpm.empty(); }

// The modules an Apache config loads: the MPM, then what serving a directory
// needs. (unixd, which drops root, and log_config are built into Debian's
// apache2: `apache2 -l`.)
std::vector<std::pair<std::string, std::string>> apache_modules(const Reference& r) {
  return {{"mpm_" + std::string(r.mpm) + "_module", "mod_mpm_" + std::string(r.mpm) + ".so"},
          {"authz_core_module", "mod_authz_core.so"},  // Require all granted
          {"dir_module", "mod_dir.so"},                // "/pub" → "/pub/"
          {"autoindex_module", "mod_autoindex.so"},    // the listing of a directory
          {"mime_module", "mod_mime.so"}};             // Content-Type from the extension
}

}  // namespace

std::span<const Reference> references() { return kReferences; }

const Reference* find_reference(std::string_view name) {
  for (const Reference& r : kReferences)
    if (r.name == name) return &r;
  return nullptr;
}

std::string reference_names() {
  std::string out;
  for (const Reference& r : kReferences) {
    if (!out.empty()) out += ", ";
    out += r.name;
  }
  return out;
}

std::string unavailable_reason(const Reference& r) {
  std::string install = "apt-get install " + std::string(r.package);
  if (access(std::string(r.program).c_str(), X_OK) != 0)
    return std::string(r.package) + " is not installed (no " + std::string(r.program) + "): " + install;
  if (is_apache(r)) {
    for (const auto& [id, file] : apache_modules(r)) {
      fs::path module = fs::path(kApacheModules) / file;
      if (access(module.c_str(), R_OK) != 0)
        return "Apache module " + module.string() + " is missing: " + install;
    }
  }
  return {};
}

ExitInfo exit_info_from_wait_status(int wait_status) {
  ExitInfo e;
  if (WIFEXITED(wait_status)) {
    e.exited = true;
    e.status = WEXITSTATUS(wait_status);
    e.text = "exit " + std::to_string(e.status);
  } else if (WIFSIGNALED(wait_status)) {
    e.status = WTERMSIG(wait_status);
    const char* name = sigdescr_np(e.status);  // thread-safe, unlike strsignal
    e.text = "killed by signal " + std::to_string(e.status) + " (" + (name ? name : "unknown") + ")";
    if (WCOREDUMP(wait_status)) e.text += ", core dumped";
  } else {
    e.text = "wait status " + std::to_string(wait_status);
  }
  return e;
}

namespace {

// waitid() reports in a siginfo_t; rebuild the wait status it stands for.
int wait_status_of(const siginfo_t& info) {
  if (info.si_code == CLD_EXITED) return (info.si_status & 0xff) << 8;
  return (info.si_status & 0x7f) | (info.si_code == CLD_DUMPED ? 0x80 : 0);
}

// ---- 2. Configs ----------------------------------------------------------------

// Paths go into the configs in double quotes. nginx expands `$name` in
// `root` and Apache expands `${NAME}` everywhere, so a path with `$`, a quote,
// a backslash or a line break is refused rather than mangled.
std::string quoted(const fs::path& p) {
  const std::string& s = p.native();
  if (s.find_first_of("\"\\$\n\r") != std::string::npos)
    throw std::runtime_error("path cannot go into a server config: " + s);
  return '"' + s + '"';
}

// Who the workers run as when we are root. Both servers start as root and
// drop to this account in their workers; Apache with no `User` at all keeps
// its children as root (its default uid is -1, which setuid() leaves alone).
struct Account {
  std::string user, group;
};
std::optional<Account> worker_account() {
  if (geteuid() != 0) return std::nullopt;  // not root: nothing to drop, both run as us
  auto exists = [](const char* user, const char* group) {
    passwd pw{};
    passwd* pwp = nullptr;
    ::group gr{};
    ::group* grp = nullptr;
    char buf[4096];
    char gbuf[4096];
    return getpwnam_r(user, &pw, buf, sizeof buf, &pwp) == 0 && pwp != nullptr &&
           getgrnam_r(group, &gr, gbuf, sizeof gbuf, &grp) == 0 && grp != nullptr;
  };
  if (exists("www-data", "www-data")) return Account{"www-data", "www-data"};
  return Account{"nobody", "nogroup"};
}

std::string nginx_config(const Reference& ref, const fs::path& dir, std::uint16_t port, const fs::path& root) {
  std::ostringstream c;
  c << "# " << ref.name << ": written by sockscope for one run (engine/compare/reference.cpp).\n"
    << "daemon off;          # stay our child: we reap it and read its rusage\n"
    << "master_process on;   # a master that forks the workers, as in production\n"
    << "worker_processes " << ref.workers << ";\n";
  if (auto account = worker_account()) c << "user " << account->user << " " << account->group << ";\n";
  c << "pid " << quoted(dir / "nginx.pid") << ";\n"
    << "error_log " << quoted(dir / "error.log") << " warn;\n"
    << "events { worker_connections 4096; }\n"
    << "http {\n"
    << "  access_log off;                # a log line per request would be part of what we measure\n"
    << "  default_type application/octet-stream;\n"
    << "  types { text/plain txt; text/html html; }\n"
    << "  keepalive_timeout 65s;         # a load test's keep-alive clients are never cut off\n"
    << "  keepalive_requests 1000000;\n";
  // nginx checks its temp directories at start (the compiled-in ones are
  // under /var/lib/nginx); keep them with everything else.
  for (const char* kind : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"})
    c << "  " << kind << "_temp_path " << quoted(dir / (std::string(kind) + "_temp")) << ";\n";
  c << "  server {\n"
    << "    listen 127.0.0.1:" << port << ";\n"
    << "    root " << quoted(root) << ";\n"
    << "    location / { autoindex on; }\n"
    << "  }\n"
    << "}\n";
  return c.str();
}

std::string apache_config(const Reference& ref, const fs::path& dir, std::uint16_t port, const fs::path& root) {
  std::ostringstream c;
  c << "# " << ref.name << ": written by sockscope for one run (engine/compare/reference.cpp).\n";
  for (const auto& [id, file] : apache_modules(ref))
    c << "LoadModule " << id << " " << quoted(fs::path(kApacheModules) / file) << "\n";
  c << "ServerName 127.0.0.1\n"
    << "Listen 127.0.0.1:" << port << "\n";
  if (auto account = worker_account()) c << "User " << account->user << "\nGroup " << account->group << "\n";
  c << "PidFile " << quoted(dir / "apache2.pid") << "\n"
    << "ErrorLog " << quoted(dir / "error.log") << "\n"
    << "LogLevel warn\n"
    << "DefaultRuntimeDir " << quoted(dir) << "\n"
    // File locks in our directory rather than the default System V
    // semaphores, which outlive a server that is killed.
    << "Mutex " << quoted("file:" + dir.string()) << " default\n";
  // No CustomLog: no access log.
  fs::path types = "/etc/mime.types";
  if (!fs::exists(types)) {
    types = dir / "mime.types";
    std::ofstream(types) << "text/plain txt\ntext/html html\n";
  }
  c << "TypesConfig " << quoted(types) << "\n"
    << "KeepAlive On\n"
    << "MaxKeepAliveRequests 1000000\n"
    << "KeepAliveTimeout 65\n";
  if (ref.mpm == "prefork") {
    // One process per connection: 256 connections at once, the rest wait in
    // the listen backlog.
    c << "StartServers 5\nMinSpareServers 5\nMaxSpareServers 10\n"
      << "ServerLimit 256\nMaxRequestWorkers 256\nMaxConnectionsPerChild 0\n";
  } else {
    // Up to 40 processes of 25 threads: 1000 connections served at once.
    c << "StartServers 2\nMinSpareThreads 25\nMaxSpareThreads 75\n"
      << "ThreadsPerChild 25\nServerLimit 40\nMaxRequestWorkers 1000\nMaxConnectionsPerChild 0\n";
  }
  c << "DocumentRoot " << quoted(root) << "\n"
    << "<Directory " << quoted(root) << ">\n"
    << "  Options Indexes\n"
    << "  AllowOverride None\n"
    << "  Require all granted\n"
    << "</Directory>\n";
  return c.str();
}

// ---- 3. Launching ----------------------------------------------------------------

fs::path make_temp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  fs::path base = (tmp && *tmp) ? fs::path(tmp) : fs::path("/tmp");
  std::string templ = (base / "sockscope-ref-XXXXXX").string();
  if (mkdtemp(templ.data()) == nullptr)
    throw std::runtime_error("mkdtemp " + templ + ": " + std::strerror(errno));
  // mkdtemp makes it 0700. Workers that dropped root must still reach their
  // own files in it (nginx's temp directories), so let others through.
  if (geteuid() == 0) chmod(templ.c_str(), 0711);
  return templ;
}

// A port no one listens on right now: bind port 0, read what the kernel
// chose, close. Someone may take it before the server binds it; start()
// retries then.
std::uint16_t pick_free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int e = errno;
    close(fd);
    throw std::runtime_error(std::string("cannot pick a port on 127.0.0.1: ") + std::strerror(e));
  }
  close(fd);
  return ntohs(addr.sin_port);
}

bool connects(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// A connect proves that *someone* listens on the port; /proc proves it is
// our server (its master holds the listening socket) and not a stranger who
// took the port between pick_free_port() and the server's bind().
bool holds_listener(pid_t pid, std::uint16_t port) {
  observe::ProcInfo info;
  if (!observe::read_proc(pid, info)) return false;
  for (const auto& s : info.sockets)
    if (s.state == observe::TcpState::listen && s.local_port == port) return true;
  return false;
}

// fork + exec of the server in the foreground. Between fork and exec only
// async-signal-safe calls happen (the caller may have threads), so argv and
// the descriptors are ready before fork.
pid_t spawn(const std::vector<std::string>& args, const fs::path& log_path) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot create " + log_path.string() + ": " + std::strerror(errno));
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    int e = errno;
    close(log_fd);
    throw std::runtime_error(std::string("cannot open /dev/null: ") + std::strerror(e));
  }
  static constexpr char kExecFailed[] = "sockscope: exec failed\n";
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(log_fd);
    close(null_fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    // Own process group: stop() can signal the master and every worker at
    // once, and a Ctrl-C in our terminal does not reach them behind our back.
    setpgid(0, 0);
    // If we die (even by SIGKILL), the kernel sends the master SIGTERM: its
    // fast shutdown kills and reaps the workers. SIGKILL would leave them
    // running, orphaned, still listening on the port (nginx workers do not
    // watch for their master).
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);  // we died before prctl
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    // Our other descriptors (client and listening sockets of the lab) must
    // not live on in the server: a connection we close would stay open.
    if (close_range(3, ~0U, 0) != 0)
      for (int fd = 3; fd < 65536; ++fd) close(fd);
    // Ignored signals and the signal mask survive exec; the server expects
    // the defaults (nginx's master sleeps in sigsuspend waiting for them).
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig)
      if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(argv[0], argv.data());
    ssize_t ignored = write(STDERR_FILENO, kExecFailed, sizeof kExecFailed - 1);
    (void)ignored;
    _exit(127);
  }
  close(log_fd);
  close(null_fd);
  setpgid(pid, pid);  // also from the parent, so there is no window either way
  return pid;
}

std::vector<std::string> tail_lines(const fs::path& file, std::size_t max_lines) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    lines.push_back(std::move(line));
    if (lines.size() > max_lines) lines.erase(lines.begin());
  }
  return lines;
}

}  // namespace

// ---- 4. Lifecycle ----------------------------------------------------------------

std::unique_ptr<ReferenceServer> ReferenceServer::start(const Reference& ref, const fs::path& root) {
  if (std::string why = unavailable_reason(ref); !why.empty()) throw std::runtime_error(why);
  for (int attempt = 1;; ++attempt) {
    std::unique_ptr<ReferenceServer> server(new ReferenceServer(ref));
    std::string why;
    Launch launched = server->launch(root, why);
    if (launched == Launch::ready) return server;
    // `server` goes out of scope here: whatever it started is gone, and so is
    // its directory.
    if (launched == Launch::port_taken && attempt < 3) continue;
    throw std::runtime_error(std::string(ref.name) + " did not start: " + why);
  }
}

ReferenceServer::Launch ReferenceServer::launch(const fs::path& root_in, std::string& why) {
  fs::path root = fs::absolute(root_in).lexically_normal();
  if (!root.has_filename() && root.has_parent_path() && root != root.root_path()) root = root.parent_path();
  if (!fs::is_directory(root)) {
    why = "no directory " + root.string() + " to serve";
    return Launch::failed;
  }
  dir_ = make_temp_dir();
  port_ = pick_free_port();

  std::vector<std::string> args;
  if (is_apache(*ref_)) {
    fs::path conf = dir_ / "httpd.conf";
    std::ofstream(conf) << apache_config(*ref_, dir_, port_, root);
    // -DFOREGROUND: no fork into the background, and no setsid() either
    // (NO_DETACH would still call setsid and leave our process group).
    // -d: ServerRoot, where relative paths would point.
    args = {std::string(ref_->program), "-DFOREGROUND", "-f", conf.string(), "-d", dir_.string()};
  } else {
    fs::path conf = dir_ / "nginx.conf";
    std::ofstream(conf) << nginx_config(*ref_, dir_, port_, root);
    // -p: the prefix for relative paths; -e: the error log before the config
    // is read (builds other than Debian's default to /var/log/nginx).
    args = {std::string(ref_->program), "-p", dir_.string() + "/", "-c", conf.string(),
            "-e", (dir_ / "error.log").string()};
  }
  pid_ = spawn(args, dir_ / "output.log");

  auto deadline = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    if (exited()) {
      StopResult r = stop();  // reaps it
      std::string tail = log_tail();
      while (!tail.empty() && tail.back() == '\n') tail.pop_back();
      why = r.exit.text + (tail.empty() ? std::string(" (no output)") : ":\n" + tail);
      // nginx says "bind() to 127.0.0.1:PORT failed (98: Address already in
      // use)", Apache "(98)Address already in use: AH00072: make_sock ...".
      return tail.find("Address already in use") != std::string::npos ? Launch::port_taken : Launch::failed;
    }
    if (connects(port_) && holds_listener(pid_, port_)) return Launch::ready;
    if (std::chrono::steady_clock::now() >= deadline) {
      stop();
      std::string tail = log_tail();
      while (!tail.empty() && tail.back() == '\n') tail.pop_back();
      why = "not listening on 127.0.0.1:" + std::to_string(port_) + " after 5 s" +
            (tail.empty() ? std::string() : ":\n" + tail);
      return Launch::failed;
    }
    std::this_thread::sleep_for(20ms);
  }
}

ReferenceServer::~ReferenceServer() {
  stop();
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::optional<ExitInfo> ReferenceServer::exited() const {
  if (stopped_) return stopped_->exit;
  if (pid_ <= 0) return std::nullopt;
  // WNOWAIT: look, but leave the zombie for stop(), whose wait4() gets the
  // rusage; reaping here would lose it.
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
    return ExitInfo{false, 0, "gone (reaped by someone else)"};  // SIGCHLD ignored in this process
  if (info.si_pid == 0) return std::nullopt;
  return exit_info_from_wait_status(wait_status_of(info));
}

StopResult ReferenceServer::stop() {
  if (stopped_) return *stopped_;
  StopResult r;
  if (pid_ <= 0) {
    stopped_ = r;
    return r;
  }
  siginfo_t probe{};
  if (waitid(P_PID, static_cast<id_t>(pid_), &probe, WEXITED | WNOHANG | WNOWAIT) != 0 && errno == ECHILD) {
    // Not ours to reap any more (SIGCHLD is ignored in this process, so the
    // kernel reaped it), and its pid may be someone else's now: no signals.
    r.exit = ExitInfo{false, 0, "gone (reaped by someone else)"};
    stopped_ = r;
    return r;
  }
  const bool died_before = probe.si_pid != 0;
  if (!died_before) kill(pid_, is_apache(*ref_) ? SIGTERM : SIGQUIT);

  // Wait for the master to become a zombie (WNOWAIT), without reaping it yet.
  auto is_zombie = [this](bool block) {
    siginfo_t info{};
    int flags = WEXITED | WNOWAIT | (block ? 0 : WNOHANG);
    int rc;
    do rc = waitid(P_PID, static_cast<id_t>(pid_), &info, flags);
    while (rc != 0 && errno == EINTR);
    return rc != 0 || info.si_pid != 0;  // ECHILD: gone already
  };
  auto deadline = std::chrono::steady_clock::now() + 3s;
  bool gone = is_zombie(false);
  while (!gone && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
    gone = is_zombie(false);
  }
  r.graceful = gone && !died_before;
  if (!gone) {
    // Kill the workers but not the master: it is waiting for them, and when
    // it reaps them their cost stays in its rusage. (Apache's worker MPM
    // takes this path when keep-alive clients are still connected: its
    // threads sit in read() until the keep-alive timeout.)
    for (const auto& p : observe::sample_subtree(pid_).procs)
      if (p.pid != pid_) kill(p.pid, SIGKILL);
    auto more = std::chrono::steady_clock::now() + 1s;
    while (!(gone = is_zombie(false)) && std::chrono::steady_clock::now() < more)
      std::this_thread::sleep_for(5ms);
  }
  r.usage_complete = gone && !died_before;
  if (!gone) {
    kill(-pid_, SIGKILL);
    is_zombie(true);
  }
  // While the master is an unreaped zombie its pid, which is the group's id,
  // cannot be reused; so this SIGKILL reaches only what is left of the
  // server: workers orphaned when the master was killed (after a graceful
  // stop the group holds nothing else, and it is a no-op).
  kill(-pid_, SIGKILL);

  int status = 0;
  pid_t reaped;
  do reaped = wait4(pid_, &status, 0, &r.usage);
  while (reaped < 0 && errno == EINTR);
  if (reaped == pid_) {
    r.usage_valid = true;
    r.exit = exit_info_from_wait_status(status);
  } else {
    r.exit = ExitInfo{false, 0, "gone (reaped by someone else)"};
  }
  // Orphans killed above are init's to reap; wait until the group is empty,
  // so that "stopped" means nothing of it is left, zombies included.
  auto empty_by = std::chrono::steady_clock::now() + 5s;
  while (kill(-pid_, 0) == 0 && std::chrono::steady_clock::now() < empty_by) std::this_thread::sleep_for(10ms);

  stopped_ = r;
  return r;
}

std::string ReferenceServer::log_tail(std::size_t max_lines) const {
  if (dir_.empty()) return {};
  std::vector<std::string> output = tail_lines(dir_ / "output.log", max_lines);
  // nginx writes a start-up error both to stderr ("nginx: [emerg] MSG") and
  // to its error log ("DATE [emerg] PID#TID: MSG"); say it once.
  auto said = [&](const std::string& line) {
    for (const auto& o : output) {
      auto bracket = o.find("] ");
      std::string_view msg = bracket == std::string::npos ? std::string_view(o) : std::string_view(o).substr(bracket + 2);
      if (!msg.empty() && std::string_view(line).ends_with(msg)) return true;
    }
    return false;
  };
  std::string out;
  for (const auto& line : output) out += line + "\n";
  for (const auto& line : tail_lines(dir_ / "error.log", max_lines))
    if (!said(line)) out += line + "\n";
  return out;
}

}  // namespace sockscope::compare
