#include "lab/run_command.h"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

#include "servers/serve_command.h"
#include "servers/server.h"
#include "session/export.h"

namespace sockscope::lab {

using namespace std::chrono_literals;

namespace {

// Waits until every accepted connection is closed and every child the server
// forked is gone from /proc or a zombie (so the summary shows the end state,
// not a child caught mid-exit), or until `timeout`.
void settle(Lab& lab, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // Two sample periods at least, so /proc has had its say.
  std::this_thread::sleep_for(250ms);
  while (std::chrono::steady_clock::now() < deadline) {
    lab.flush();
    bool settled = lab.session().read([](const session::Session& s) {
      const session::Model& m = s.model();
      if (m.counts.connections_open != 0) return false;
      for (const auto& p : m.processes)
        if (p.role == session::ProcessRole::child && p.alive()) return false;
      return true;
    });
    if (settled) return;
    std::this_thread::sleep_for(50ms);
  }
}

void print_story(const session::Session& s, int max_lines) {
  std::istringstream story(session::narrative(s));
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(story, line)) lines.push_back(line);
  // The narrative ends with the summary; print the head of the story and the
  // whole summary, and say how much was left out in between.
  std::size_t summary_at = lines.size();
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (lines[i].rfind("Summary", 0) == 0 || lines[i].rfind("summary", 0) == 0) summary_at = i;
  std::size_t shown = std::min<std::size_t>(summary_at, static_cast<std::size_t>(std::max(0, max_lines)));
  for (std::size_t i = 0; i < shown; ++i) std::cout << lines[i] << '\n';
  if (shown < summary_at)
    std::cout << "  ... " << (summary_at - shown) << " more lines (see --export FILE.txt)\n";
  for (std::size_t i = summary_at; i < lines.size(); ++i) std::cout << lines[i] << '\n';
}

}  // namespace

int run_headless(const RunOptions& options) {
  Lab lab;
  std::uint16_t port = 0;
  try {
    port = lab.start_server(options.server);
  } catch (const std::exception& e) {
    std::cerr << "sockscope run: the server did not start: " << e.what() << '\n';
    return 1;
  }
  std::cout << "sockscope run: " << options.server.arch << " " << options.server.protocol
            << " server on 127.0.0.1:" << port << " (pid " << lab.server_pid() << "), "
            << options.scenario.count << " clients\n"
            << std::flush;

  clients::Scenario scenario = options.scenario;
  scenario.port = port;
  int failed = 0;
  try {
    lab.start_clients(scenario);
    auto budget = std::chrono::milliseconds(static_cast<long>(options.duration_s * 1000));
    failed = lab.wait_clients(budget);
  } catch (const std::exception& e) {
    std::cerr << "sockscope run: the clients did not start: " << e.what() << '\n';
    failed = -1;
  }
  settle(lab, 3s);
  lab.stop_server();
  lab.flush();

  session::Session s = lab.session().copy();
  if (!options.quiet) print_story(s, options.narrative_lines);
  else std::cout << session::summary(s.model(), s);
  if (failed > 0) std::cout << failed << " client process(es) reported failures\n";

  int status = failed < 0 ? 1 : 0;
  for (const auto& path : options.exports) {
    std::string error;
    if (session::write_by_extension(s, path, error)) {
      std::cout << "exported " << path.string() << '\n';
    } else {
      std::cerr << "sockscope run: export failed: " << error << '\n';
      status = 1;
    }
  }
  return status;
}

void add_run_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<RunOptions>();
  auto scenario_name = std::make_shared<std::string>("steady");
  auto count = std::make_shared<int>(0);
  auto hold_ms = std::make_shared<int>(-1);
  auto work_ms = std::make_shared<int>(0);
  auto lines = std::make_shared<std::vector<std::string>>();
  auto given = std::make_shared<std::array<std::string, servers::kSettingCount>>();
  auto alias_given = std::make_shared<std::array<std::array<bool, 2>, servers::kSettingCount>>();
  CLI::App* run = app.add_subcommand(
      "run", "Run a server and simulated clients headless, print what happened, export the session");
  std::string arch_help = "Server architecture:";
  for (const auto& a : servers::architectures())
    arch_help += "\n  " + std::string(a.name) + ": " + std::string(a.summary);
  run->add_option("--arch", options->server.arch, arch_help)
      ->default_val("fork")
      ->check(CLI::IsMember(servers::architecture_name_list()));
  run->add_option("--protocol", options->server.protocol, "ftp or http")
      ->default_val("ftp")
      ->check(CLI::IsMember({"ftp", "http"}));
  run->add_option("--clients", *count, "Number of simulated clients (default: the scenario's own, steady 5)")
      ->check(CLI::Range(1, 10000));
  std::string preset_help = "Client scenario:";
  for (const auto& p : clients::presets()) preset_help += "\n  " + std::string(p.name) + ": " + std::string(p.help);
  run->add_option("--scenario", *scenario_name, preset_help)
      ->default_val("steady")
      ->check(CLI::IsMember(clients::preset_names()));
  run->add_option("--line", *lines,
                  "custom scenario: a protocol line each client sends, in order (repeat: --line 'USER anonymous' "
                  "--line 'PASS x' ...)");
  run->add_option("--hold-ms", *hold_ms, "Keep every client connected this long before QUIT")
      ->check(CLI::Range(0, 600000));
  run->add_option("--work-ms", *work_ms, "heavy scenario: CPU each SITE WORK / GET /work burns, in ms")
      ->check(CLI::Range(1, protocol::kTeachingCapMs));
  run->add_option("--duration", options->duration_s, "Upper bound on the run, in seconds")
      ->default_val(30.0)
      ->check(CLI::Range(0.1, 3600.0));
  run->add_option("--export", options->exports,
                  "Write the session: .jsonl (canonical log), .json (Chrome trace / Perfetto), .csv, .txt (narrative)")
      ->check(CLI::Validator([](std::string& text) { return session::export_path_problem(text); }, "FILE"));
  run->add_option("--port", options->server.port, "Server port (0 = any free port)")->default_val(0);
  run->add_option("--root", options->server.root, "Directory the server serves (default: the sample files)")
      ->check(CLI::ExistingDirectory);
  servers::add_setting_options(*run, *given, *alias_given);
  run->add_flag("--quiet", options->quiet, "Print only the summary");
  run->callback([&exit_code, options, scenario_name, count, hold_ms, work_ms, lines, given, alias_given] {
    RunOptions o = *options;
    servers::apply_setting_options(*given, *alias_given, o.server.settings);
    o.scenario.protocol = o.server.protocol == "http" ? protocol::Protocol::http : protocol::Protocol::ftp;
    o.scenario = clients::preset(*scenario_name, o.scenario.protocol);
    if (*count > 0) o.scenario.count = *count;
    if (*hold_ms >= 0) o.scenario.hold_ms = *hold_ms;
    if (*work_ms > 0) o.scenario.work_ms = *work_ms;
    if (!lines->empty()) {
      if (*scenario_name != "custom") throw CLI::ValidationError("--line", "only the custom scenario takes --line");
      o.scenario.script = *lines;
    }
    o.scenario.port = 1;  // validated here; the real port is the server's
    if (std::string e = o.scenario.validate(); !e.empty()) throw CLI::ValidationError("--line", e);
    exit_code = run_headless(o);
  });
}

}  // namespace sockscope::lab
