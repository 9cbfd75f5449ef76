// sockscope-handler: the program the inetd super-server execs for each
// connection (inetd_server.cpp). It is a separate executable on purpose: after
// execve the child's memory holds this program, not the super-server, and
// /proc/PID/exe and /proc/PID/cmdline say so.
//
// Its whole interface is the one inetd gave every service: the client's
// socket is already open as standard input (fd 0) and output (fd 1). It never
// listens and never accepts. Everything else arrives on the command line,
// because nothing of the super-server's memory survived the exec:
//   sockscope-handler --conn N --protocol ftp|http --root DIR
//                     [--counter unsafe|mutex] [--race-window-us N]
//                     [--request-timeout S]
// The trace ring and the gate table arrive like every other process's: their
// descriptors were inherited across fork and exec, their numbers in the
// environment.
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

#include "servers/blocking_connection.h"
#include "servers/server.h"
#include "servers/visitor_counter.h"
#include "trace/gate.h"
#include "trace/ring.h"

int main(int argc, char** argv) {
  using namespace sockscope;
  std::uint32_t conn = 0;
  std::string protocol_name = "ftp";
  std::string root;
  std::string counter = "unsafe";
  int race_window_us = 200;
  const servers::Setting& deadline = servers::setting(servers::SettingId::request_timeout);
  int request_timeout_s = deadline.def;
  bool no_trace = false;
  CLI::App app{"sockscope-handler: serves one connection on stdin/stdout (exec'd by `serve --arch inetd`)",
               "sockscope-handler"};
  app.add_option("--conn", conn, "connection id (for the trace)")->required();
  app.add_option("--protocol", protocol_name, "ftp or http")->check(CLI::IsMember({"ftp", "http"}));
  app.add_option("--root", root, "directory served read-only")->required()->check(CLI::ExistingDirectory);
  app.add_option("--counter", counter, "visitor counter: unsafe or mutex")->check(CLI::IsMember({"unsafe", "mutex"}));
  app.add_option("--race-window-us", race_window_us, "visitor counter's pause")->check(CLI::Range(0, 1000000));
  app.add_option(std::string(deadline.flag), request_timeout_s, "seconds a client has to send one whole command")
      ->check(CLI::Range(deadline.min, deadline.max));
  app.add_flag("--no-trace", no_trace, "write no trace events (the super-server runs with --no-trace)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // usage on stderr: stdout is the client's socket
    return e.get_exit_code() == 0 ? 0 : 2;
  }

  // A new program: the trace ring and gate table must be mapped again (the
  // super-server's mappings did not survive execve; its descriptors did).
  try {
    if (no_trace) trace::disable_tracing();
    else trace::attach_from_env();
    trace::attach_gates_from_env();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sockscope-handler: tracing off: %s\n", e.what());
  }
  // The first event of the new image: same pid as the forked child, a
  // different program.
  trace::emit(trace::Kind::exec, conn, getppid(), 0, "sockscope-handler");
  servers::visitor_counter().configure(
      counter == "mutex" ? servers::VisitorCounter::Mode::mutex : servers::VisitorCounter::Mode::unsafe,
      race_window_us);

  // Serve the one client on fd 0 with plain blocking calls, like a fork
  // server's child. Replies go out on the same socket (fd 1 is a duplicate of
  // fd 0; either works for send()).
  protocol::Protocol protocol = protocol::Protocol::ftp;
  protocol::protocol_from_name(protocol_name, protocol);
  servers::ConnectionContext ctx;
  ctx.fd = STDIN_FILENO;
  ctx.conn = conn;
  ctx.protocol = protocol;
  ctx.root = root;
  ctx.request_timeout_ms = request_timeout_s * 1000;  // as the super-server's --request-timeout said
  servers::serve_connection(ctx);

  // GATE exit: the handler ends; the kernel closes its copy of the socket and
  // sends the super-server SIGCHLD. A plain return from main is right here:
  // unlike a forked child, this program owns its atexit handlers.
  trace::gate(trace::GateKind::exit, conn);
  trace::emit(trace::Kind::exit, conn, 0);
  return 0;
}
