#include "clients/clients_command.h"

#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <stdexcept>

#include "clients/simulator.h"
#include "trace/ring.h"

namespace sockscope::clients {
namespace {

// A scenario on the command line is a preset (--scenario, default steady) with
// any field overridden by its own flag. CLI11 writes each flag into `given`;
// resolve() starts from the preset and copies only the flags that were given.
struct ClientsFlags {
  std::string scenario_name = "steady";
  std::string protocol_name = "ftp";
  Scenario given;
  bool no_trace = false;
  bool verbose = false;
  std::vector<std::pair<CLI::Option*, std::function<void(Scenario&, const Scenario&)>>> overrides;

  Scenario resolve() const {
    protocol::Protocol p = protocol::Protocol::ftp;
    if (!protocol::protocol_from_name(protocol_name, p))
      throw CLI::ValidationError("--protocol", "must be ftp or http, not '" + protocol_name + "'");
    Scenario s;
    try {
      s = preset(scenario_name, p);
    } catch (const std::invalid_argument& e) {
      throw CLI::ValidationError("--scenario", e.what());
    }
    for (const auto& [opt, apply] : overrides)
      if (opt->count() > 0) apply(s, given);
    if (no_trace) s.trace = false;
    if (std::string e = s.validate(); !e.empty()) throw CLI::ValidationError("clients", e);
    return s;
  }
};

template <class T>
CLI::Option* field(CLI::App* sub, ClientsFlags& f, const std::string& name, T Scenario::*member,
                   const std::string& help) {
  CLI::Option* opt = sub->add_option(name, f.given.*member, help);
  f.overrides.emplace_back(opt, [member](Scenario& out, const Scenario& in) { out.*member = in.*member; });
  return opt;
}

// A yes/no field: "--NAME" sets it, "--no-NAME" clears it (either overrides
// the preset, so to_args can spell out both values).
CLI::Option* flag_field(CLI::App* sub, ClientsFlags& f, const std::string& name, bool Scenario::*member,
                        const std::string& help) {
  CLI::Option* opt = sub->add_flag("--" + name + ",!--no-" + name, f.given.*member, help);
  f.overrides.emplace_back(opt, [member](Scenario& out, const Scenario& in) { out.*member = in.*member; });
  return opt;
}

CLI::App* add_clients_options(CLI::App& app, ClientsFlags& f) {
  CLI::App* sub = app.add_subcommand(
      "clients",
      "Run the client simulator: N real TCP clients (FTP or HTTP) against a running server, "
      "each step traced into the lab's ring");
  sub->footer(
      "A --scenario sets every value above; a flag given on its own overrides it.\n"
      "Default FTP script: USER anonymous, PASS x, PWD, EPSV, LIST, TYPE I, PASV, RETR hello.txt, QUIT.\n"
      "Default HTTP script: GET / then GET /hello.txt on one keep-alive connection.\n"
      "Load (--repeat, as keepalive and close do): the run lasts until --deadline-ms (those presets: " +
      std::to_string(kLoadDeadlineMs) +
      ");\na client that has had an answer ends there cleanly, one still waiting for its first was starved.\n"
      "Exit status: 0 when every client succeeded, 1 when one failed or was refused, 2 for bad flags.");

  field(sub, f, "--port", &Scenario::port, "Server port (required)")->required()->check(CLI::Range(1, 65535));
  field(sub, f, "--host", &Scenario::host,
        "Server address (default 127.0.0.1; anything else only when you mean it)");
  sub->add_option("--protocol", f.protocol_name, "ftp or http")
      ->default_val("ftp")
      ->check(CLI::IsMember({"ftp", "http"}));
  std::vector<std::string> names = preset_names();
  std::string preset_help = "Preset:";
  for (const auto& p : presets()) preset_help += "\n  " + std::string(p.name) + ": " + std::string(p.help);
  sub->add_option("--scenario", f.scenario_name, preset_help)
      ->default_val("steady")
      ->check(CLI::IsMember(names));
  field(sub, f, "--count", &Scenario::count, "Number of clients (TCP connections), idle ones included")
      ->check(CLI::Range(1, 10000));
  field(sub, f, "--first-id", &Scenario::first_id, "Id of the first client (ids go up from here)")
      ->check(CLI::Range(1u, 1000000000u));
  field(sub, f, "--spacing-ms", &Scenario::spacing_ms, "Time between two clients' arrivals")
      ->check(CLI::Range(0, 60000));
  field(sub, f, "--think-ms", &Scenario::think_ms, "Pause before each command")->check(CLI::Range(0, 60000));
  field(sub, f, "--work-share", &Scenario::work_share,
        "Share (0..1) of clients that add SITE WORK <work-ms> (FTP) or GET /work?ms= (HTTP)")
      ->check(CLI::Range(0.0, 1.0));
  field(sub, f, "--work-ms", &Scenario::work_ms, "CPU milliseconds each work request burns in the server")
      ->check(CLI::Range(1, protocol::kTeachingCapMs));
  field(sub, f, "--slow-share", &Scenario::slow_share,
        "Share (0..1) of clients that send byte by byte and read in small pieces")
      ->check(CLI::Range(0.0, 1.0));
  field(sub, f, "--slow-byte-ms", &Scenario::slow_byte_ms, "A slow client's pause between bytes / reads")
      ->check(CLI::Range(0, 10000));
  field(sub, f, "--idle", &Scenario::idle_count,
        "Clients (out of --count) that log in and sit idle until the hold ends")
      ->check(CLI::Range(0, 10000));
  field(sub, f, "--hold-ms", &Scenario::hold_ms,
        "Keep each connection open at least this long before QUIT (N clients alive at once)")
      ->check(CLI::Range(0, 3600000));
  field(sub, f, "--timeout-ms", &Scenario::timeout_ms, "Limit for each reply and each data transfer")
      ->check(CLI::Range(1, 600000));
  field(sub, f, "--deadline-ms", &Scenario::deadline_ms,
        "Limit for the whole run (0 = last arrival + hold + 2 minutes)")
      ->check(CLI::Range(0, 86400000));
  flag_field(sub, f, "repeat", &Scenario::repeat,
             "Load: run the script again and again until the deadline (FTP: the steps between login and "
             "QUIT, on one connection); the deadline is then the normal end");
  flag_field(sub, f, "reconnect", &Scenario::reconnect,
             "A new connection per HTTP request (Connection: close) or per pass of the FTP script");
  // One --step per command, in order, instead of the default script.
  field(sub, f, "--step", &Scenario::script,
        "A script step, repeatable: an FTP command (\"RETR data.bin\") or \"GET /path\" / \"HEAD /path\"")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  sub->add_flag("--no-trace", f.no_trace, "Do not write events into the trace ring");
  sub->add_flag("--verbose", f.verbose, "One line per client after the summary");
  return sub;
}

int run_clients(const Scenario& s, bool verbose) {
  if (!s.trace) {
    trace::disable_tracing();
  } else {
    try {
      trace::attach_from_env();  // no SOCKSCOPE_TRACE_FD (run by hand): tracing is off
    } catch (const std::exception& e) {
      std::cerr << "sockscope clients: tracing off: " << e.what() << "\n";
    }
  }
  // Each client holds up to two sockets (control + data); a burst of a few
  // thousand needs more than the usual soft limit of 1024 descriptors.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  RunResult result;
  try {
    SimulateOptions options;
    options.stop_on_signals = true;
    result = simulate(s, options);
  } catch (const std::exception& e) {
    std::cerr << "sockscope clients: " << e.what() << "\n";
    return 1;
  }
  std::cout << "sockscope clients: " << protocol::protocol_name(s.protocol) << " " << s.host << ":" << s.port << ": "
            << result.summary() << "\n";
  int shown = 0;
  for (const auto& c : result.clients) {
    if (verbose) {
      std::cout << "  client " << c.id << (c.ok ? " ok" : c.refused ? " refused" : " FAILED") << ", local port "
                << c.local_port << ", " << c.replies << " replies, " << c.bytes << " bytes";
      if (!c.error.empty()) std::cout << ", " << c.error;
      std::cout << "\n";
    } else if (!c.ok && !c.refused && shown < 10) {
      // The first few failures, so a broken server is visible without --verbose.
      ++shown;
      std::cerr << "  client " << c.id << " failed: "
                << (c.error.empty() ? std::to_string(c.negative_replies) + " negative replies" : c.error) << "\n";
    }
  }
  std::cout.flush();
  return result.all_ok() ? 0 : 1;
}

}  // namespace

void add_clients_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ClientsFlags>();
  CLI::App* sub = add_clients_options(app, *flags);
  sub->callback([&exit_code, flags] {
    Scenario s = flags->resolve();  // a CLI::ValidationError here is a usage error (exit 2)
    exit_code = run_clients(s, flags->verbose);
  });
}

Scenario parse_clients_args(const std::vector<std::string>& args) {
  CLI::App app{"sockscope", "sockscope"};
  app.require_subcommand(1, 1);
  ClientsFlags flags;
  add_clients_options(app, flags);
  // CLI11 takes a vector in reverse order (it pops arguments off the back).
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  reversed.push_back("clients");
  app.parse(reversed);
  return flags.resolve();
}

}  // namespace sockscope::clients
