#include "clients/scenario.h"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace sockscope::clients {
namespace {

std::string upper_verb(std::string_view command) {
  std::string verb(command.substr(0, command.find(' ')));
  for (char& c : verb) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  return verb;
}

bool is_login(std::string_view command) {
  std::string v = upper_verb(command);
  return v == "USER" || v == "PASS" || v == "ACCT";
}

// Shortest text that parses back to the same double: the round trip through
// to_args must be exact.
std::string number(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// Spreads a share evenly over n items: item k is picked when the rounded
// running total round((k+1)*share) steps up at k. n*share is rounded, not
// truncated, so "slow" with 2 clients (0.4) still has one slow client. Share
// 0.5 of 4 picks items 0 and 2.
bool picked(int k, double share) {
  if (share <= 0.0) return false;
  constexpr double eps = 1e-9;  // 0.1 * 10 must count as 1
  return std::floor((k + 1) * share + 0.5 + eps) > std::floor(k * share + 0.5 + eps);
}

// Which steps a repeating client runs again and again (ClientPlan::loop_begin,
// loop_end). On one FTP connection the login is done once and a final QUIT
// would end the conversation, so the loop is what lies between them.
std::pair<std::size_t, std::size_t> loop_of(const std::vector<std::string>& steps, bool http, bool reconnect) {
  if (http || reconnect) return {0, steps.size()};
  std::size_t begin = 0, end = steps.size();
  while (begin < end && is_login(steps[begin])) ++begin;
  if (end > begin && upper_verb(steps[end - 1]) == "QUIT") --end;
  return {begin, end};
}

}  // namespace

std::vector<std::string> default_script(protocol::Protocol p) {
  if (p == protocol::Protocol::http) return {"GET /", "GET /hello.txt"};
  return {"USER anonymous", "PASS x", "PWD", "EPSV", "LIST", "TYPE I", "PASV", "RETR hello.txt", "QUIT"};
}

namespace {
constexpr PresetInfo kPresets[] = {
    {"steady", "clients arrive one after another at an even pace"},
    {"burst", "all clients connect at once: the accept queue fills"},
    {"slow", "some clients send and read byte by byte, holding their connection"},
    {"heavy", "half the clients ask the server to burn CPU (SITE WORK / GET /work)"},
    {"counter", "every client asks for the visitor count once (SITE COUNT / GET /count), all at once"},
    {"held", "every client connects at once and holds its connection idle: the cost of N open connections"},
    {"keepalive", "load: each client asks again and again on one connection until the deadline"},
    {"close", "load: the same with a new connection for every request (HTTP Connection: close; FTP connect, QUIT)"},
    {"custom", "every client sends the lines you typed, in order"},
};
}  // namespace

std::span<const PresetInfo> presets() { return kPresets; }

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& p : kPresets) n.emplace_back(p.name);
    return n;
  }();
  return names;
}

std::string preset_list() {
  std::string valid;
  for (const auto& n : preset_names()) valid += (valid.empty() ? "" : ", ") + n;
  return valid;
}

std::vector<std::string> counter_script(protocol::Protocol p) {
  if (p == protocol::Protocol::http) return {"GET /count"};
  return {"USER anonymous", "PASS x", "SITE COUNT", "QUIT"};
}

namespace {

// The lines of the held, keepalive and close presets.
std::vector<std::string> held_script(protocol::Protocol p) {
  if (p == protocol::Protocol::http) return {"GET /hello.txt"};
  return {"USER anonymous", "PASS x", "QUIT"};
}

std::vector<std::string> keepalive_script(protocol::Protocol p) {
  if (p == protocol::Protocol::http) return {"GET /hello.txt"};
  return {"USER anonymous", "PASS x", "PWD", "NOOP", "QUIT"};
}

std::vector<std::string> close_script(protocol::Protocol p) {
  if (p == protocol::Protocol::http) return {"GET /hello.txt"};
  return {"QUIT"};
}

}  // namespace

bool is_count_step(std::string_view step) {
  std::string upper(step);
  for (char& c : upper) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  return upper == "SITE COUNT" || upper.rfind("GET /COUNT", 0) == 0;
}

Scenario preset(std::string_view name, protocol::Protocol p) {
  Scenario s;
  s.protocol = p;
  if (name == "steady") {
    // One client every 100 ms: each architecture keeps up; the baseline.
    s.count = 5;
    s.spacing_ms = 100;
    s.think_ms = 50;
  } else if (name == "burst") {
    // Everyone at once: the listen backlog fills, a serial server queues them.
    s.count = 20;
    s.spacing_ms = 0;
    s.think_ms = 0;
  } else if (name == "slow") {
    // Two in five clients trickle their bytes: a serial server stalls behind them.
    s.count = 5;
    s.spacing_ms = 100;
    s.think_ms = 50;
    s.slow_share = 0.4;
    s.slow_byte_ms = 20;
  } else if (name == "heavy") {
    // Half the clients ask for 200 ms of CPU: one busy handler blocks an event loop.
    s.count = 10;
    s.spacing_ms = 20;
    s.think_ms = 10;
    s.work_share = 0.5;
    s.work_ms = 200;
  } else if (name == "counter") {
    // Everyone asks at the same moment, so their read-pause-write windows
    // overlap: the visitor counter's race, or its mutex, in one click.
    s.count = 10;
    s.spacing_ms = 0;
    s.think_ms = 0;
    s.script = counter_script(p);
  } else if (name == "held") {
    // Everyone connects, logs in (FTP) or asks once (HTTP, keep-alive), then
    // says nothing until the hold ends: what N open, idle connections cost each
    // architecture (a process, a thread, a worker taken, or a few bytes of an
    // event loop). The script, not idle_count, makes them idle, so a caller
    // that changes count keeps every client idle.
    s.count = 5;
    s.spacing_ms = 0;
    s.think_ms = 0;
    s.hold_ms = 3000;
    s.script = held_script(p);
  } else if (name == "keepalive") {
    // Closed-loop load: every client asks again as soon as it has its answer,
    // on one connection, until the deadline. Requests per second, no
    // connection setup in the way.
    s.count = 10;
    s.spacing_ms = 0;
    s.think_ms = 0;
    s.repeat = true;
    s.deadline_ms = kLoadDeadlineMs;
    s.script = keepalive_script(p);
  } else if (name == "close") {
    // The same loop with a connection per request: accept, fork or spawn, and
    // close on every round, which keep-alive saves.
    s.count = 10;
    s.spacing_ms = 0;
    s.think_ms = 0;
    s.repeat = true;
    s.reconnect = true;
    s.deadline_ms = kLoadDeadlineMs;
    s.script = close_script(p);
  } else if (name == "custom") {
    // Steady timing; the lines are the caller's (the default script until then).
    s.script = default_script(p);
  } else {
    throw std::invalid_argument("unknown scenario '" + std::string(name) + "' (valid: " + preset_list() + ")");
  }
  return s;
}

std::vector<std::string> Scenario::effective_script() const {
  return script.empty() ? default_script(protocol) : script;
}

long Scenario::run_deadline_ms() const {
  if (deadline_ms > 0) return deadline_ms;
  return static_cast<long>(spacing_ms) * count + hold_ms + 120000;
}

std::vector<std::string> Scenario::to_args() const {
  std::vector<std::string> a = {
      "--protocol",    std::string(protocol::protocol_name(protocol)),
      "--host",        host,
      "--port",        std::to_string(port),
      "--count",       std::to_string(count),
      "--first-id",    std::to_string(first_id),
      "--spacing-ms",  std::to_string(spacing_ms),
      "--think-ms",    std::to_string(think_ms),
      "--work-share",  number(work_share),
      "--work-ms",     std::to_string(work_ms),
      "--slow-share",  number(slow_share),
      "--slow-byte-ms", std::to_string(slow_byte_ms),
      "--idle",        std::to_string(idle_count),
      "--hold-ms",     std::to_string(hold_ms),
      "--timeout-ms",  std::to_string(timeout_ms),
      "--deadline-ms", std::to_string(deadline_ms),
      repeat ? "--repeat" : "--no-repeat",
      reconnect ? "--reconnect" : "--no-reconnect",
  };
  for (const auto& step : script) {
    a.push_back("--step");
    a.push_back(step);
  }
  if (!trace) a.push_back("--no-trace");
  return a;
}

std::string Scenario::validate() const {
  auto range = [](const char* what, long v, long lo, long hi) -> std::string {
    if (v >= lo && v <= hi) return {};
    return std::string(what) + " must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", not " +
           std::to_string(v);
  };
  std::string e;
  if (host.empty()) return "host is empty";
  if (port == 0) return "port must be set (1..65535): the simulator connects to a running server";
  if (!(e = range("count", count, 1, 10000)).empty()) return e;
  if (first_id == 0) return "first id must be at least 1 (0 means 'no client' in the trace)";
  if (first_id > 0xffffffffu - static_cast<std::uint32_t>(count)) return "first id too large for count";
  if (!(e = range("spacing", spacing_ms, 0, 60000)).empty()) return e;
  if (!(e = range("think time", think_ms, 0, 60000)).empty()) return e;
  if (!(work_share >= 0.0 && work_share <= 1.0)) return "work share must be in 0..1, not " + number(work_share);
  if (!(slow_share >= 0.0 && slow_share <= 1.0)) return "slow share must be in 0..1, not " + number(slow_share);
  if (!(e = range("work ms", work_ms, 1, protocol::kTeachingCapMs)).empty()) return e;
  if (!(e = range("slow byte delay", slow_byte_ms, 0, 10000)).empty()) return e;
  if (!(e = range("idle clients", idle_count, 0, count)).empty()) return e + " (idle clients are part of count)";
  if (!(e = range("hold ms", hold_ms, 0, 3600000)).empty()) return e;
  if (!(e = range("timeout ms", timeout_ms, 1, 600000)).empty()) return e;
  if (!(e = range("deadline ms", deadline_ms, 0, 86400000)).empty()) return e;
  if (repeat && !reconnect && protocol == protocol::Protocol::ftp) {
    auto [begin, end] = loop_of(effective_script(), false, false);
    if (begin >= end)
      return "repeat needs an FTP step between the login and QUIT to repeat on the connection "
             "(or reconnect, to repeat the whole script on new connections)";
  }
  for (const auto& step : script) {
    if (step.empty()) return "a script step is empty";
    if (step.find_first_of("\r\n") != std::string::npos) return "a script step contains CR or LF: '" + redacted(step) + "'";
    if (protocol == protocol::Protocol::http) {
      std::string v = upper_verb(step);
      auto sp = step.find(' ');
      if ((v != "GET" && v != "HEAD") || sp == std::string::npos || sp + 1 >= step.size() || step[sp + 1] != '/')
        return "an HTTP step must look like 'GET /path' or 'HEAD /path', not '" + step + "'";
      if (step.find(' ', sp + 1) != std::string::npos) return "an HTTP path may not contain spaces: '" + step + "'";
    }
  }
  return {};
}

std::vector<ClientPlan> plan(const Scenario& s) {
  const std::vector<std::string> script = s.effective_script();
  const bool http = s.protocol == protocol::Protocol::http;
  const int active = s.count - s.idle_count;
  std::vector<ClientPlan> plans;
  plans.reserve(static_cast<std::size_t>(s.count));
  for (int k = 0; k < s.count; ++k) {
    ClientPlan p;
    p.id = s.first_id + static_cast<std::uint32_t>(k);
    p.start_ms = k * s.spacing_ms;
    p.idle = k >= active;
    p.work = !p.idle && picked(k, s.work_share);
    p.slow = !p.idle && picked(k, s.slow_share);
    if (p.idle) {
      // Idle: log in (FTP) and say nothing more until the hold ends. An idle
      // HTTP client connects and sends nothing, like a browser's spare socket.
      if (!http) {
        for (const auto& c : script) {
          if (!is_login(c)) break;
          p.steps.push_back(c);
        }
        p.steps.push_back("QUIT");
      }
    } else {
      p.steps = script;
      if (p.work) {
        if (http) {
          p.steps.insert(p.steps.begin(), "GET /work?ms=" + std::to_string(s.work_ms));
        } else {
          // Right after logging in, so the server is in the authenticated state.
          auto at = p.steps.begin();
          while (at != p.steps.end() && is_login(*at)) ++at;
          p.steps.insert(at, "SITE WORK " + std::to_string(s.work_ms));
        }
      }
    }
    if (!p.idle) {
      p.repeat = s.repeat;
      p.reconnect = s.reconnect;
      std::tie(p.loop_begin, p.loop_end) = loop_of(p.steps, http, s.reconnect);
    }
    plans.push_back(std::move(p));
  }
  return plans;
}

bool is_data_command(std::string_view command) {
  std::string v = upper_verb(command);
  return v == "LIST" || v == "NLST" || v == "RETR" || v == "MLSD";
}

std::string redacted(std::string_view command) {
  if (upper_verb(command) == "PASS") return "PASS ***";
  return std::string(command);
}

}  // namespace sockscope::clients
