#include "cli/commands.h"

#include <CLI/CLI.hpp>

#include "clients/clients_command.h"
#include "compare/compare_command.h"
#include "lab/run_command.h"
#include "servers/serve_command.h"

namespace sockscope::cli {

void register_headless_commands(CLI::App& app, int& exit_code) {
  servers::add_serve_command(app, exit_code);
  clients::add_clients_command(app, exit_code);
  lab::add_run_command(app, exit_code);
  compare::add_compare_command(app, exit_code);
}

int run_default_lesson() {
  // The default lesson, headless: process per connection, three clients.
  lab::RunOptions options;
  options.server.arch = "fork";
  options.scenario.count = 3;
  return lab::run_headless(options);
}

}  // namespace sockscope::cli
