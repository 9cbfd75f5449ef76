#include "servers/serve_command.h"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "servers/visitor_counter.h"
#include "trace/gate.h"
#include "trace/ring.h"

#ifndef SOCKSCOPE_DEFAULT_ROOT
#error "SOCKSCOPE_DEFAULT_ROOT must name the sample FTP root (set in engine/servers/CMakeLists.txt)"
#endif

namespace sockscope::servers {
namespace {

struct ServeFlags {
  ServerConfig config;
  std::string protocol = "ftp";
  std::string root;
  bool no_reap = false;
  bool no_trace = false;
  bool no_notify_fork = false;
  bool unsafe_counter = false;
  bool mutex_counter = false;
};

}  // namespace

int serve(ServerConfig config, bool trace) {
  const Architecture* arch = find_architecture(config.arch);
  if (!arch) {
    std::cerr << "sockscope serve: unknown architecture '" << config.arch
              << "' (valid: " << architecture_names() << ")\n";
    return 2;
  }
  std::error_code ec;
  if (config.root.empty()) config.root = SOCKSCOPE_DEFAULT_ROOT;
  if (!std::filesystem::is_directory(config.root, ec)) {
    std::cerr << "sockscope serve: root directory '" << config.root.string()
              << "' does not exist or is not a directory (use --root DIR)\n";
    return 1;
  }
  // The session jail compares resolved paths, so hand it a canonical root.
  config.root = std::filesystem::canonical(config.root, ec);
  if (ec) {
    std::cerr << "sockscope serve: cannot resolve root: " << ec.message() << "\n";
    return 1;
  }

  if (!trace) {
    trace::disable_tracing();
  } else {
    // No SOCKSCOPE_TRACE_FD (a server started by hand): tracing is simply off.
    try {
      trace::attach_from_env();
    } catch (const std::exception& e) {
      std::cerr << "sockscope serve: tracing off: " << e.what() << "\n";
    }
  }
  // Gates (stepping, slow motion): present only when a lab passed a table.
  // A parked waiter gives up when SIGTERM asks the server to stop.
  try {
    if (trace::attach_gates_from_env()) trace::set_gate_stop_check(&SignalPipe::stop_requested);
  } catch (const std::exception& e) {
    std::cerr << "sockscope serve: gates off: " << e.what() << "\n";
  }

  // Hold SIGTERM/SIGINT from here until the architecture has installed its
  // handlers (SignalPipe unblocks them): whoever reads the banner may stop us
  // at once, and that must still be a clean shutdown, not a default death.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);

  Listener listener;
  try {
    listener = open_listener(config.bind, config.port);
  } catch (const std::exception& e) {
    std::cerr << "sockscope serve: " << e.what() << "\n";
    sigprocmask(SIG_UNBLOCK, &stop_signals, nullptr);
    return 1;
  }
  trace::emit(trace::Kind::server_start, 0, listener.port, 0, arch->name);
  trace::emit(trace::Kind::listen, 0, listener.port, listener.fd);

  bool v6 = listener.address.find(':') != std::string::npos;
  std::printf("sockscope serve: %s %s server listening on %s%s%s:%u (pid %d)\n",
              std::string(arch->name).c_str(), std::string(protocol::protocol_name(config.protocol)).c_str(),
              v6 ? "[" : "", listener.address.c_str(), v6 ? "]" : "", static_cast<unsigned>(listener.port),
              static_cast<int>(getpid()));
  // Flush before any fork: a child would otherwise inherit (and print again)
  // whatever is still buffered; and the lab waits for this line.
  std::fflush(stdout);

  // The visitor counter is configured before any handler exists: from here
  // on only the handlers touch it.
  visitor_counter().configure(config.counter_mutex ? VisitorCounter::Mode::mutex : VisitorCounter::Mode::unsafe,
                              config.race_window_us);

  int status = arch->run(config, listener);
  trace::emit(trace::Kind::exit, 0, status);
  return status;
}

void add_serve_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* sub = app.add_subcommand("serve", "Run one real server (for real clients) until SIGTERM/SIGINT");

  std::vector<std::string> arch_names;
  for (const auto& a : architectures()) arch_names.emplace_back(a.name);
  std::string arch_help = "Architecture:";
  for (const auto& a : architectures()) {
    arch_help += "\n  " + std::string(a.name) + ": " + std::string(a.summary);
  }

  sub->add_option("--arch", flags->config.arch, arch_help)->required()->check(CLI::IsMember(arch_names));
  sub->add_option("--protocol", flags->protocol, "ftp or http")
      ->default_val("ftp")
      ->check(CLI::IsMember({"ftp", "http"}));
  sub->add_option("--port", flags->config.port, "TCP port; 0 picks a free one")
      ->default_val(4481)
      ->check(CLI::Range(0, 65535));
  sub->add_option("--root", flags->root, "Directory served read-only (default: the sample files)");
  sub->add_option("--bind", flags->config.bind, "Address to listen on (default 127.0.0.1 only)")
      ->default_val("127.0.0.1");
  sub->add_flag("--no-reap", flags->no_reap, "fork: never reap exited children (they stay zombies)");
  sub->add_option("--max-children", flags->config.max_children,
                  "fork: refuse (421/503) when this many children are alive or unreaped")
      ->default_val(64)
      ->check(CLI::Range(1, 100000));
  sub->add_option("--max-threads", flags->config.max_threads,
                  "thread: refuse (421/503) when this many handler threads are alive or not yet joined")
      ->default_val(256)
      ->check(CLI::Range(1, 10000));
  sub->add_option("--workers", flags->config.workers,
                  "pool: worker threads started up front; prefork/hybrid: worker processes")
      ->default_val(4)
      ->check(CLI::Range(1, 1024));
  sub->add_option("--queue", flags->config.queue,
                  "pool: connections that may wait for a free worker; more are refused (421/503)")
      ->default_val(64)
      ->check(CLI::Range(0, 100000));
  auto* unsafe = sub->add_flag("--unsafe-counter", flags->unsafe_counter,
                               "Visitor counter (SITE COUNT, /count): plain read, pause, write - loses "
                               "updates under concurrency (the default)");
  auto* mutex = sub->add_flag("--mutex", flags->mutex_counter, "Visitor counter: update it under a std::mutex");
  unsafe->excludes(mutex);
  sub->add_option("--race-window-us", flags->config.race_window_us,
                  "Visitor counter: pause between its read and its write, in microseconds")
      ->default_val(200)
      ->check(CLI::Range(0, 1000000));
  sub->add_flag("--no-notify-fork", flags->no_notify_fork,
                "hybrid: skip Asio's notify_fork around fork (workers share one epoll set: the bug it prevents)");
  sub->add_flag("--no-trace", flags->no_trace, "Do not write trace events (benchmarks)");

  sub->callback([flags, &exit_code] {
    ServerConfig config = flags->config;
    protocol::protocol_from_name(flags->protocol, config.protocol);
    config.root = flags->root;
    config.reap = !flags->no_reap;
    config.notify_fork = !flags->no_notify_fork;
    config.counter_mutex = flags->mutex_counter;
    exit_code = serve(config, !flags->no_trace);
  });
}

}  // namespace sockscope::servers
