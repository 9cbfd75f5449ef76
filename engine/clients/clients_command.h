// `sockscope clients`: the client simulator as its own process. The lab execs
// it with Scenario::to_args(); a teacher can run it by hand against a server
// started with `sockscope serve`.
#pragma once

#include <string>
#include <vector>

#include "clients/scenario.h"

namespace CLI {
class App;
}

namespace sockscope::clients {

// Registers `clients` on `app`. When it runs, exit_code becomes 0 when every
// client succeeded, 1 otherwise (a failure, a refusal, or the host does not
// resolve). Bad flags, and flags that contradict each other (--idle above
// --count), are CLI11 parse errors: usage and exit 2.
void add_clients_command(CLI::App& app, int& exit_code);

// Parses `clients` arguments (without the subcommand name) through the same
// registration, without running anything: the other half of
// Scenario::to_args(). Throws CLI::ParseError (CLI::ValidationError for a
// scenario that cannot run).
Scenario parse_clients_args(const std::vector<std::string>& args);

}  // namespace sockscope::clients
