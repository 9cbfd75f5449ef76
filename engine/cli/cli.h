// The command line of the one `sockscope` binary.
//
//   sockscope                 the GUI on the default lesson (app/ supplies it)
//   sockscope serve ...       one real server, for real clients
//   sockscope clients ...     the client simulator
//   sockscope run ...         a headless run: server + clients + export
//   sockscope compare ...     the same clients against every architecture, one table
//
// Each part of the engine registers its own subcommand; this file only wires
// them together and turns CLI11's errors into usage text and exit code 2.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace sockscope::cli {

inline constexpr int kUsageExit = 2;

// Called when no subcommand was given. Returns the process exit code.
using DefaultAction = std::function<int(CLI::App& app)>;

// Registers extra top-level options or subcommands (the GUI's, from app/).
using Extend = std::function<void(CLI::App& app, int& exit_code)>;

int main(int argc, char** argv, Extend extend = {}, DefaultAction default_action = {});

}  // namespace sockscope::cli
