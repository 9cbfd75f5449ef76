#include "servers/serve_command.h"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
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
  std::string handler;
  bool no_trace = false;
  // One text per setting as given (--reap off) and the one-word aliases
  // (--no-reap), applied in the callback.
  std::array<std::string, kSettingCount> given;
  std::array<std::array<bool, 2>, kSettingCount> alias_given{};
};

// sockscope-handler beside our own executable (both are built into one directory).
std::filesystem::path default_handler() {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "sockscope-handler";
  return self.parent_path() / "sockscope-handler";
}

}  // namespace

std::filesystem::path default_root() { return SOCKSCOPE_DEFAULT_ROOT; }

int serve(ServerConfig config, bool trace) {
  const Architecture* arch = find_architecture(config.arch);
  if (!arch) {
    std::cerr << "sockscope serve: unknown architecture '" << config.arch
              << "' (valid: " << architecture_names() << ")\n";
    return 2;
  }
  std::error_code ec;
  if (config.root.empty()) config.root = default_root();
  if (!std::filesystem::is_directory(config.root, ec)) {
    std::cerr << "sockscope serve: root directory '" << config.root.string()
              << "' does not exist or is not a directory (use --root DIR)\n";
    return 1;
  }
  // inetd execs a program for every connection: one that cannot run must
  // stop us now, not turn every client away later.
  if (const Architecture* a = find_architecture(config.arch); a && a->has(kExecs)) {
    if (config.handler.empty()) config.handler = default_handler();
    if (access(config.handler.c_str(), X_OK) != 0) {
      std::cerr << "sockscope serve: the inetd handler '" << config.handler.string()
                << "' cannot be executed: " << std::strerror(errno)
                << " (build sockscope-handler, or give --handler PATH)\n";
      return 1;
    }
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
  sigaddset(&stop_signals, SIGUSR1);  // the lab's "reap now" (SignalPipe)
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
  visitor_counter().configure(config.get(SettingId::counter) == 1 ? VisitorCounter::Mode::mutex
                                                                 : VisitorCounter::Mode::unsafe,
                              config.get(SettingId::race_window_us));

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
  sub->add_option("--handler", flags->handler,
                  "inetd: the program exec'd for each connection (default: sockscope-handler beside sockscope)");
  add_setting_options(*sub, flags->given, flags->alias_given);
  sub->add_flag("--no-trace", flags->no_trace, "Do not write trace events (benchmarks)");

  sub->callback([flags, &exit_code] {
    ServerConfig config = flags->config;
    protocol::protocol_from_name(flags->protocol, config.protocol);
    config.root = flags->root;
    config.handler = flags->handler;
    apply_setting_options(flags->given, flags->alias_given, config.settings);
    exit_code = serve(config, !flags->no_trace);
  });
}

void add_setting_options(CLI::App& sub, std::array<std::string, kSettingCount>& given,
                         std::array<std::array<bool, 2>, kSettingCount>& alias_given) {
  for (const Setting& s : settings_table()) {
    const auto i = static_cast<std::size_t>(s.id);
    std::string help = std::string(s.help) + " Default: " + SettingValues().text(s.id) + ".";
    std::string values = s.kind == SettingKind::number
                             ? std::to_string(s.min) + ".." + std::to_string(s.max)
                             : std::string(s.choices[0]) + "|" + std::string(s.choices[1]);
    CLI::Option* main = sub.add_option(std::string(s.flag), given[i], help)->type_name(values);
    // The setting table's own check, so the message names the allowed values.
    main->check(CLI::Validator(
        [id = s.id](std::string& text) { return check_setting_text(id, text); }, "", "setting"));
    std::vector<CLI::Option*> aliases;
    for (std::size_t k = 0; k < s.aliases.size(); ++k) {
      const SettingAlias& a = s.aliases[k];
      if (a.flag.empty()) continue;
      aliases.push_back(sub.add_flag(std::string(a.flag), alias_given[i][k], std::string(a.help)));
    }
    for (auto* a : aliases) {
      a->excludes(main);
      for (auto* b : aliases)
        if (a != b) a->excludes(b);
    }
  }
}

void apply_setting_options(const std::array<std::string, kSettingCount>& given,
                           const std::array<std::array<bool, 2>, kSettingCount>& alias_given,
                           SettingValues& values) {
  for (const Setting& s : settings_table()) {
    const auto i = static_cast<std::size_t>(s.id);
    std::string error;
    if (!given[i].empty()) values.set_text(s.id, given[i], error);  // already checked by the option
    for (std::size_t k = 0; k < s.aliases.size(); ++k)
      if (alias_given[i][k]) values.set(s.id, s.aliases[k].value);
  }
}

}  // namespace sockscope::servers
