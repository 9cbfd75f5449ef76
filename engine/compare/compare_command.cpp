#include "compare/compare_command.h"

#include <CLI/CLI.hpp>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>

#include "compare/compare.h"
#include "compare/reference.h"
#include "compare/report.h"
#include "lab/lab.h"
#include "servers/serve_command.h"

namespace sockscope::compare {

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) { g_interrupted.store(true); }

// SIGINT and SIGTERM stop the comparison between two polls, not the process:
// the runner then stops the row in flight, and we still print and export.
struct InterruptGuard {
  struct sigaction old_int{}, old_term{};
  InterruptGuard() {
    g_interrupted = false;
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~InterruptGuard() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text + ",") {
    if (c == ',' || c == ' ') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

struct Flags {
  std::string archs = "all";
  std::string references;
  std::string clients = "50";
  std::vector<std::string> exports;
  bool no_trace = false;
  bool trace_both = false;
  bool quiet = false;
  std::array<std::string, servers::kSettingCount> given;
  std::array<std::array<bool, 2>, servers::kSettingCount> alias_given{};
  CompareOptions options;
};

// Turns the flags into options; a CLI11 ValidationError (usage, exit 2) for
// anything that names what does not exist.
CompareOptions options_from(Flags& f) {
  CompareOptions o = f.options;
  o.archs = f.archs == "all" ? all_architectures() : f.archs == "none" ? std::vector<std::string>{}
                                                                         : split_list(f.archs);
  if (f.references == "all") {
    o.references.clear();
    for (const auto& r : references())
      if (unavailable_reason(r).empty()) o.references.emplace_back(r.name);
  } else {
    o.references = split_list(f.references);
  }
  o.clients.clear();
  for (const auto& c : split_list(f.clients)) {
    try {
      std::size_t used = 0;
      int n = std::stoi(c, &used);
      if (used != c.size()) throw std::invalid_argument(c);
      o.clients.push_back(n);
    } catch (const std::exception&) {
      throw CLI::ValidationError("--clients", "'" + c + "' is not a number (a list sweeps: --clients 10,100,1000)");
    }
  }
  o.trace = !f.no_trace;
  o.trace_both = f.trace_both;
  servers::apply_setting_options(f.given, f.alias_given, o.settings);
  if (std::string e = o.validate(); !e.empty()) throw CLI::ValidationError("compare", e);
  for (const auto& ext : f.exports) {
    std::string x = std::filesystem::path(ext).extension().string();
    if (x != ".md" && x != ".csv" && x != ".json" && x != ".jsonl")
      throw CLI::ValidationError("--export", "'" + ext + "': use " + std::string(export_extensions()));
  }
  return o;
}

int run_compare(const CompareOptions& o, const Flags& f) {
  if (auto problems = limit_problems(o); !problems.empty()) {
    for (const auto& p : problems) std::cerr << "sockscope compare: " << p << '\n';
    std::cerr << "sockscope compare: not started: a limit would stop it part way\n";
    return 1;
  }
  for (const auto& n : setting_notes(o)) std::cerr << "note: " << n << '\n';

  InterruptGuard guard;
  lab::Lab lab;
  RunHooks hooks;
  hooks.cancel = &g_interrupted;
  hooks.keep_sessions = false;
  for (const auto& e : f.exports)
    if (std::filesystem::path(e).extension() == ".jsonl") hooks.keep_sessions = true;
  hooks.progress = [last = std::string()](const Progress& p) mutable {
    std::string key = p.server + "/" + std::to_string(p.clients) + "/" + p.phase;
    if (key == last) return;
    last = key;
    if (p.phase == "starting")
      std::cerr << "[" << (p.index + 1) << "/" << p.total << "] " << p.server << ", " << p.clients << " clients...\n";
  };
  hooks.row_done = [](const Row& r) {
    if (r.status != "ok") std::cerr << "  " << r.server << ": " << r.status << '\n';
  };
  Result result = run(lab, o, hooks);
  if (g_interrupted) std::cerr << "sockscope compare: interrupted; the rows measured so far follow\n";
  std::cout << text_table(result) << std::flush;

  int status = 0;
  for (const auto& e : f.exports) {
    std::string error;
    if (write_by_extension(result, result.sessions, e, error)) {
      std::cerr << "exported " << e << '\n';
    } else {
      std::cerr << "sockscope compare: export failed: " << error << '\n';
      status = 1;
    }
  }
  if (!result.complete) return 130;
  for (const auto& r : result.rows)
    if (r.status != "ok") status = 1;
  return status;
}

}  // namespace

void add_compare_command(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<Flags>();
  CLI::App* sub = app.add_subcommand(
      "compare", "Run the same clients against each architecture (and nginx / Apache), print one table");
  sub->add_option("--archs", f->archs,
                  "Comma-separated architectures, 'all' or 'none' (available: " + servers::architecture_names() + ")")
      ->default_val("all");
  std::string ref_help = "Comma-separated reference servers, or 'all' installed ones (HTTP only):";
  for (const auto& r : references()) ref_help += "\n  " + std::string(r.name) + ": " + std::string(r.summary);
  sub->add_option("--reference", f->references, ref_help);
  sub->add_option("--protocol", f->options.protocol, "http or ftp (references speak HTTP only)")
      ->default_val("http")
      ->check(CLI::IsMember({"ftp", "http"}));
  sub->add_option("--clients", f->clients, "Clients (connections) per run; a list sweeps: 10,100,1000")
      ->default_val("50");
  std::string preset_help = "Client scenario:";
  for (const auto& p : clients::presets())
    if (p.name != "custom") preset_help += "\n  " + std::string(p.name) + ": " + std::string(p.help);
  sub->add_option("--scenario", f->options.scenario, preset_help)->default_val("keepalive");
  sub->add_option("--duration", f->options.duration_s, "Seconds each run lasts (held: how long they hold)")
      ->default_val(3.0)
      ->check(CLI::Range(0.2, 600.0));
  sub->add_option("--root", f->options.root, "Directory every server serves (default: the sample files)")
      ->check(CLI::ExistingDirectory);
  CLI::Option* no_trace =
      sub->add_flag("--no-trace", f->no_trace, "Run our servers without tracing (the clients still report)");
  sub->add_flag("--trace-both", f->trace_both,
                "Run each of ours twice, traced and untraced, side by side: what tracing costs")
      ->excludes(no_trace);
  sub->add_option("--export", f->exports, "Write the table: .md, .csv, .json, or .jsonl (with every run's session)");
  servers::add_setting_options(*sub, f->given, f->alias_given);
  sub->callback([f, &exit_code] {
    CompareOptions o = options_from(*f);
    exit_code = run_compare(o, *f);
  });
}

}  // namespace sockscope::compare
