// Reference servers: nginx and Apache httpd, started by our code on
// 127.0.0.1 so a comparison can drive them with the same clients as our own
// servers. They are the yardstick: production servers built on the
// architectures the lessons teach (nginx: a few single-threaded event loops;
// Apache: prefork, worker and event MPMs).
//
// Each start writes a minimal config of our own into a fresh temporary
// directory (the Debian /etc configs are never read), and every file the
// server writes goes there too: pid file, error log, lock files, nginx's
// temp directories. The server runs in the foreground as our direct child,
// so we reap it, read its exit status and take wait4()'s rusage, which holds
// the workers it reaped. Nothing of it outlives stop() or the destructor, and
// the directory goes with it.
//
// Caveat (as for lab::Lab): PR_SET_PDEATHSIG fires when the *thread* that
// forked dies, so call start() from a thread that outlives the server.
// A ReferenceServer is not thread-safe: one owner calls it.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sockscope::compare {

// One row per reference server. Every list, flag and test walks this table.
struct Reference {
  std::string_view name;     // "nginx-1", "apache-event"
  std::string_view summary;  // one line for --help and the GUI
  std::string_view program;  // "/usr/sbin/nginx" or "/usr/sbin/apache2"
  std::string_view package;  // the Debian package that installs it
  int workers;               // nginx worker_processes; 0 for apache
  std::string_view mpm;      // "prefork" / "worker" / "event" for apache, empty for nginx
};

std::span<const Reference> references();
const Reference* find_reference(std::string_view name);  // nullptr if unknown
std::string reference_names();                            // "nginx-1, nginx-2, ..."

// Empty when `r` can run here; otherwise why not, with the fix
// ("nginx is not installed: apt-get install nginx").
std::string unavailable_reason(const Reference& r);

// How a process ended.
struct ExitInfo {
  bool exited = false;  // true: exit(status); false: killed by signal `status`
  int status = 0;
  std::string text;     // "exit 1", "killed by signal 9 (Killed)"
};
ExitInfo exit_info_from_wait_status(int wait_status);

struct StopResult {
  ExitInfo exit;
  struct rusage usage {};  // wait4()'s: the server and every child it reaped
  bool usage_valid = false;
  // It stopped on its stop signal alone, within the grace period.
  bool graceful = false;
  // The master exited by itself (on the stop signal, or once we had killed
  // its workers), so it reaped every worker and `usage` counts them all.
  // False when the master died before stop() or had to be killed itself:
  // its orphaned workers were reaped by init, and their cost is lost.
  bool usage_complete = false;
};

class ReferenceServer {
 public:
  // Writes the config into a fresh temporary directory ($TMPDIR or /tmp),
  // picks a free port on 127.0.0.1, starts the server serving `root`
  // read-only (directory listing on) and waits up to 5 s until it accepts
  // TCP connections on that port. Retries with a new port (up to 3 tries)
  // when another process took the port first. Throws std::runtime_error with
  // the server's own words (the tail of its output and error log) when it
  // does not start, and with unavailable_reason() when it is not installed.
  // `ref` must outlive the server (the rows of references() do).
  static std::unique_ptr<ReferenceServer> start(const Reference& ref, const std::filesystem::path& root);

  ~ReferenceServer();  // stop() if still running, then removes the directory
  ReferenceServer(const ReferenceServer&) = delete;
  ReferenceServer& operator=(const ReferenceServer&) = delete;

  pid_t pid() const { return pid_; }  // the master process; also its process group id
  std::uint16_t port() const { return port_; }
  const Reference& reference() const { return *ref_; }
  const std::filesystem::path& directory() const { return dir_; }  // config, logs, pid file

  // Did it die on its own? Peeks without reaping (waitid WNOWAIT), so stop()
  // still gets the status and the rusage. After stop(), how it ended.
  std::optional<ExitInfo> exited() const;

  // nginx: SIGQUIT (graceful: idle keep-alive connections are closed, requests
  // in flight finish); apache: SIGTERM (apachectl's stop: the parent signals
  // and reaps its children). Waits up to 3 s; then SIGKILLs the workers (the
  // master reaps them), and after 1 s more the whole process group. Reaps
  // with wait4(), and returns once the process group is empty.
  // Idempotent: later calls return the first result.
  StopResult stop();

  // The last lines of the server's output and error log (for messages).
  std::string log_tail(std::size_t max_lines = 20) const;

 private:
  enum class Launch { ready, port_taken, failed };
  explicit ReferenceServer(const Reference& ref) : ref_(&ref) {}
  Launch launch(const std::filesystem::path& root, std::string& why);

  const Reference* ref_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::optional<StopResult> stopped_;
};

}  // namespace sockscope::compare
