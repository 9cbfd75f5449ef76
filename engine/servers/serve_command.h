// `sockscope serve`: one real server process of a chosen architecture, for
// real clients (curl, lftp, ftp, wrk, a browser) and for the lab, which execs
// this command and reads the port from the banner line.
#pragma once

#include <array>
#include <filesystem>
#include <string>

#include "servers/server.h"

namespace CLI {
class App;
}

namespace sockscope::servers {

// Registers `serve` on `app`; when it runs, the server's exit status goes
// into `exit_code` (0 after a clean SIGTERM/SIGINT shutdown, 1 when it cannot
// start). Bad flags are CLI11 parse errors (usage, exit 2).
void add_serve_command(CLI::App& app, int& exit_code);

// Runs a server until SIGTERM/SIGINT. Prints one banner line to stdout:
//   sockscope serve: <arch> <protocol> server listening on <addr>:<port> (pid <pid>)
// and otherwise only errors (stderr). `trace` false = --no-trace.
int serve(ServerConfig config, bool trace);

// The directory `serve` serves when no --root is given: the sample files.
std::filesystem::path default_root();

// One option per row of the settings table (--max-children N, --reap on|off,
// --counter unsafe|mutex, ...) and its one-word aliases (--no-reap, --mutex),
// for `serve` and `run`. Values land in `given` / `alias_given`;
// apply_setting_options() turns them into settings after parsing. A bad value
// is a parse error naming the allowed values (usage, exit 2).
void add_setting_options(CLI::App& sub, std::array<std::string, kSettingCount>& given,
                         std::array<std::array<bool, 2>, kSettingCount>& alias_given);
void apply_setting_options(const std::array<std::string, kSettingCount>& given,
                           const std::array<std::array<bool, 2>, kSettingCount>& alias_given,
                           SettingValues& values);

}  // namespace sockscope::servers
