// `sockscope run`: a whole lesson headless. Starts a real server and the client
// simulator through a Lab, waits for the clients, stops everything, prints a
// short narrative and the summary, and writes the exports.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "clients/scenario.h"
#include "lab/lab.h"

namespace CLI {
class App;
}

namespace sockscope::lab {

struct RunOptions {
  ServerSpec server;
  clients::Scenario scenario;
  double duration_s = 30.0;                     // upper bound on the whole run
  std::vector<std::filesystem::path> exports;   // format by extension
  bool quiet = false;                           // summary only, no narrative
  int narrative_lines = 40;                     // how much of the story to print
};

void add_run_command(CLI::App& app, int& exit_code);

// Runs one headless lesson. Returns the exit status: 0 when the run went
// through and the exports were written, 1 otherwise.
int run_headless(const RunOptions& options);

}  // namespace sockscope::lab
