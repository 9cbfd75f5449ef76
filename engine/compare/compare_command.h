// `sockscope compare`: the comparison headless. Runs each architecture (and
// each reference server) in turn with the same clients, prints the table and
// writes the exports. Ctrl-C stops it: the rows measured so far are printed
// and exported, marked incomplete, and nothing is left running.
#pragma once

namespace CLI {
class App;
}

namespace sockscope::compare {

void add_compare_command(CLI::App& app, int& exit_code);

}  // namespace sockscope::compare
