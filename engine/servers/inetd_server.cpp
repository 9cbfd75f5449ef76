// The inetd server: the classic Unix super-server. One process listens; for
// each connection it forks (the fork server's loop, forking.h), and the child
// turns into a DIFFERENT PROGRAM with execve(): the handler
// (inetd_handler.cpp, its own executable, sockscope-handler), which finds the
// client's socket already open as its standard input and output.
//
// That is how one inetd could serve ftp, telnet and finger with programs that
// know nothing about sockets: they read stdin and write stdout. After execve
// the child keeps its pid, its parent and its open descriptors (the socket on
// 0 and 1), and loses everything else: the super-server's code, memory, heap
// and signal handlers are replaced by the handler program's.
//
// Lessons: what exec costs on top of fork (a new program is loaded, linked
// and initialised for every connection: compare connections/s with fork);
// why the child dup2()s the socket onto 0 and 1 (the handler's whole
// interface); and the image change in the process tree: the child's command
// line and /proc/PID/exe become the handler's. Cap and reaping are the fork
// server's (max children, reap on/off).
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "servers/forking.h"
#include "trace/gate.h"
#include "trace/ring.h"

namespace sockscope::servers {
namespace {

using trace::GateKind;
using trace::Kind;

// The handler's command line: everything it needs, because nothing of our
// memory survives the exec.
std::vector<std::string> handler_args(const ServerConfig& config, std::uint32_t conn) {
  std::vector<std::string> args = {config.handler.string(),
          "--conn",
          std::to_string(conn),
          "--protocol",
          std::string(protocol::protocol_name(config.protocol)),
          "--root",
          config.root.string(),
          "--counter",
          config.settings.text(SettingId::counter),
          "--race-window-us",
          config.settings.text(SettingId::race_window_us),
          std::string(setting(SettingId::request_timeout).flag),
          config.settings.text(SettingId::request_timeout)};
  if (!trace::tracing_enabled()) args.emplace_back("--no-trace");  // serve --no-trace: the handler too
  return args;
}

// The child, once it has closed the listener: become the handler.
[[noreturn]] void exec_handler(const ServerConfig& config, int fd, std::uint32_t conn) {
  // The socket becomes standard input and output: the handler program's whole
  // interface to its client. dup2 clears close-on-exec on the copies, so they
  // survive execve; the original number is closed.
  dup2(fd, STDIN_FILENO);
  dup2(fd, STDOUT_FILENO);
  if (fd > STDOUT_FILENO) close(fd);

  std::vector<std::string> args = handler_args(config, conn);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // GATE exec: execve() throws away this copy of the super-server and loads
  // the handler program in its place: same pid, same open sockets, new code.
  trace::gate(GateKind::exec, conn);
  execv(argv[0], argv.data());

  // Only reached when execve failed (the program was removed or is not
  // executable): say why in the trace, answer the client, end this child.
  trace::emit(Kind::error, conn, errno, 0, "exec handler");
  const std::string reply = config.protocol == protocol::Protocol::ftp
                                ? "421 Service not available: the handler program cannot be started.\r\n"
                                : "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  [[maybe_unused]] ssize_t n = send(STDOUT_FILENO, reply.data(), reply.size(), MSG_NOSIGNAL);
  shutdown(STDOUT_FILENO, SHUT_WR);
  trace::emit(Kind::exit, conn, 127);
  _exit(127);
}

}  // namespace

int run_inetd_server(const ServerConfig& config, const Listener& listener) {
  // The super-server is the fork server's parent, unchanged: accept, fork,
  // close its copy of the socket, reap. Only the child differs.
  return run_forking_server(config, listener,
                            [&config](int fd, std::uint32_t conn) { exec_handler(config, fd, conn); });
}

}  // namespace sockscope::servers
