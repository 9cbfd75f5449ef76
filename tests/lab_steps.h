// Scaffolding for tests that drive real servers through a Lab and step them
// at gates: the waiter list once it settles, the session's events of one
// kind, and quick scripted clients (polling with a deadline, eventually(), is
// support/wait.h's).
#pragma once

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "clients/scenario.h"
#include "lab/lab.h"
#include "support/wait.h"
#include "trace/gate.h"

namespace sockscope::test {

// Runs SOCKSCOPE_BIN with `args`; returns its exit status and stdout+stderr.
inline std::pair<int, std::string> run_bin(const std::vector<std::string>& args) {
  std::string cmd = std::string("'") + SOCKSCOPE_BIN + "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

inline lab::LabOptions lab_options() {
  lab::LabOptions o;
  o.self_exe = SOCKSCOPE_BIN;
  return o;
}

// The waiter list once it has stopped changing for `quiet` (at most `limit`).
inline std::vector<trace::GateWaiter> settled(trace::GateTable& g,
                                                        std::chrono::milliseconds quiet = std::chrono::milliseconds(150),
                                                        std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  auto last = g.waiters();
  auto stable_since = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto now = g.waiters();
    if (now != last) {
      last = now;
      stable_since = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - stable_since >= quiet) {
      break;
    }
  }
  return last;
}

inline std::vector<trace::Event> events_of(lab::Lab& lab, trace::Kind kind) {
  return lab.session().read([&](const session::Session& s) {
    std::vector<trace::Event> out;
    for (const auto& e : s.events())
      if (e.kind == kind) out.push_back(e);
    return out;
  });
}

inline std::size_t count_of(lab::Lab& lab, trace::Kind kind) {
  return events_of(lab, kind).size();
}

// Puts the lab's gates in step mode, then starts `arch` (FTP): the server
// parks at its first gate. Returns its pid.
inline pid_t start_stepped(lab::Lab& lab, const std::string& arch) {
  lab.gates().set_mode(trace::GateMode::step);
  lab::ServerSpec spec;
  spec.arch = arch;
  lab.start_server(spec);
  return lab.server_pid();
}

// Scripted clients that start at once and never think.
inline clients::Scenario quick_clients(int count, protocol::Protocol p,
                                                  std::vector<std::string> script) {
  clients::Scenario sc = clients::preset("steady", p);
  sc.count = count;
  sc.spacing_ms = 0;
  sc.think_ms = 0;
  sc.timeout_ms = 30000;
  sc.script = std::move(script);
  return sc;
}

}  // namespace sockscope::test
