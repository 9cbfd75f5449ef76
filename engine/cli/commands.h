// Registration of the headless subcommands, one function per engine part.
#pragma once

namespace CLI {
class App;
}

namespace sockscope::cli {

// serve, clients, run and the hidden internal commands.
void register_headless_commands(CLI::App& app, int& exit_code);

// The default lesson without a GUI: the fork server with 3 clients, headless.
int run_default_lesson();

}  // namespace sockscope::cli
