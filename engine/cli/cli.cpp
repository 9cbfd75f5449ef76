#include "cli/cli.h"

#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"

namespace sockscope::cli {

int main(int argc, char** argv, Extend extend, DefaultAction default_action) {
  CLI::App app{"sockscope: watch real servers handle many connections", "sockscope"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", "sockscope 0.1.0");
  int exit_code = 0;
  register_headless_commands(app, exit_code);
  if (extend) extend(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kUsageExit;
  }
  if (app.get_subcommands().empty()) {
    if (default_action) return default_action(app);
    return run_default_lesson();
  }
  return exit_code;
}

}  // namespace sockscope::cli
