// The script parser: each line to a ScriptCommand, or a reason. No I/O
// besides the stream: LabCommandRunner (script_run.cpp) and the app run them.
#include "lesson/script.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <istream>
#include <limits>
#include <sstream>

#include "clients/scenario.h"
#include "protocol/protocol.h"
#include "servers/architecture.h"

namespace sockscope::lesson {
namespace {
bool to_int(const std::string& s, int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

struct Parser {
  std::vector<std::string> words;
  std::string error;
  std::vector<std::string> lines;  // the last `lines` command's, for `clients N preset=custom`
  const WindowVerbParser* window = nullptr;
  bool lesson = false;

  VerbArgs args{words, error};
  bool option(const std::string& w, std::string& key, std::string& value) { return args.option(w, key, value); }

  // SETTING=VALUE from the settings table; `arch` (when given) must use it.
  bool setting(const servers::Architecture* arch, const std::string& key, const std::string& value,
               servers::SettingValues& into) {
    const servers::Setting* s = servers::find_setting(key);
    if (s == nullptr) {
      error = "unknown setting '" + key + "' (known: port, protocol, " + servers::setting_keys() + ")";
      return false;
    }
    if (arch != nullptr && !arch->uses(s->id)) {
      std::string used;
      for (auto id : arch->settings) used += (used.empty() ? "" : ", ") + std::string(servers::setting(id).key);
      error = "the " + std::string(arch->name) + " server has no setting '" + key + "' (its settings: port, protocol" +
              (used.empty() ? "" : ", " + used) + ")";
      return false;
    }
    return into.set_text(s->id, value, error);
  }

  bool number(const std::string& what, const std::string& s, int lo, int hi, int& out) {
    return args.number(what, s, lo, hi, out);
  }

  bool parse(ScriptCommand& c) {
    const std::string& verb = words[0];
    using Op = ScriptCommand::Op;
    auto want = [&](std::size_t lo, std::size_t hi, const char* usage) { return args.want(lo, hi, usage); };
    if (verb == "start") {
      if (words.size() < 2) {
        error = "usage: start ARCH [port=N] [protocol=ftp|http] [SETTING=VALUE ...]";
        return false;
      }
      c.op = Op::start;
      c.spec.arch = words[1];
      const servers::Architecture* arch = servers::find_architecture(c.spec.arch);
      if (arch == nullptr) {
        error = "unknown architecture '" + words[1] + "' (known: " + servers::architecture_names() + ")";
        return false;
      }
      c.spec.port = 0;
      for (std::size_t i = 2; i < words.size(); ++i) {
        std::string k, v;
        if (!option(words[i], k, v)) return false;
        int n = 0;
        if (k == "port") {
          if (!number("port", v, 0, 65535, n)) return false;
          c.spec.port = static_cast<std::uint16_t>(n);
          c.port_given = true;
        } else if (k == "protocol") {
          if (v != "ftp" && v != "http") {
            error = "protocol must be ftp or http, got '" + v + "'";
            return false;
          }
          c.spec.protocol = v;
          c.protocol_given = true;
        } else if (!setting(arch, k, v, c.spec.settings)) {
          return false;
        } else {
          c.settings_given.push_back(servers::find_setting(k)->id);
        }
      }
      return true;
    }
    if (verb == "set") {
      if (words.size() < 2) {
        error = "usage: set SETTING=VALUE ... (" + servers::setting_keys() + ")";
        return false;
      }
      c.op = Op::set;
      for (std::size_t i = 1; i < words.size(); ++i) {
        std::string k, v;
        if (!option(words[i], k, v) || !setting(nullptr, k, v, c.spec.settings)) return false;
        c.settings_given.push_back(servers::find_setting(k)->id);
      }
      return true;
    }
    if (verb == "lines") {
      // The rest of the line, split at '|': the custom preset's protocol lines.
      c.op = Op::lines;
      std::string rest;
      for (std::size_t i = 1; i < words.size(); ++i) rest += (i > 1 ? " " : "") + words[i];
      std::size_t start = 0;
      while (start <= rest.size()) {
        std::size_t bar = rest.find('|', start);
        if (bar == std::string::npos) bar = rest.size();
        std::string line = rest.substr(start, bar - start);
        while (!line.empty() && line.front() == ' ') line.erase(0, 1);
        while (!line.empty() && line.back() == ' ') line.pop_back();
        if (!line.empty()) c.clients.lines.push_back(line);
        start = bar + 1;
      }
      if (c.clients.lines.empty()) {
        error = "usage: lines LINE | LINE | ... (e.g. lines USER anonymous | PASS x | SITE COUNT | QUIT)";
        return false;
      }
      lines = c.clients.lines;
      return true;
    }
    if (verb == "stop" || verb == "quit") {
      if (!want(1, 1, verb == "stop" ? "stop" : "quit")) return false;
      c.op = verb == "stop" ? Op::stop : Op::quit;
      return true;
    }
    if (verb == "clients") {
      if (!want(2, 5, "clients N [preset=NAME] [hold_ms=MS] [work_ms=MS]")) return false;
      c.op = Op::clients;
      if (!number("client count", words[1], 1, 1000, c.clients.count)) return false;
      for (std::size_t i = 2; i < words.size(); ++i) {
        std::string k, v;
        if (!option(words[i], k, v)) return false;
        if (k == "preset") {
          bool known = false;
          for (const auto& p : clients::presets()) known = known || p.name == v;
          if (!known) {
            error = "unknown preset '" + v + "' (known: " + clients::preset_list() + ")";
            return false;
          }
          c.clients.preset = v;
        } else if (k == "hold_ms") {
          if (!number("hold_ms", v, 0, 600000, c.clients.hold_ms)) return false;
        } else if (k == "work_ms") {
          if (!number("work_ms", v, 1, protocol::kTeachingCapMs, c.clients.work_ms)) return false;
        } else {
          error = "unknown option '" + k + "' for clients (preset, hold_ms, work_ms)";
          return false;
        }
      }
      if (c.clients.preset == "custom") c.clients.lines = lines;  // empty: the default script
      return true;
    }
    if (verb == "wait") {
      if (!want(3, 4, "wait children N [timeout=S] | wait connections N [timeout=S] | wait ms MS")) return false;
      const std::string& what = words[1];
      if (what == "ms") {
        if (words.size() != 3) {
          error = "usage: wait ms MS";
          return false;
        }
        c.op = Op::wait_ms;
        return number("wait ms", words[2], 0, 600000, c.number);
      }
      if (what != "children" && what != "connections") {
        error = "wait for what? expected children, connections or ms, got '" + what + "'";
        return false;
      }
      c.op = what == "children" ? Op::wait_children : Op::wait_connections;
      if (!number(what, words[2], 0, 100000, c.number)) return false;
      if (!args.timeout(3, "wait", c.timeout_ms)) return false;
      return true;
    }
    if (verb == "step" && words.size() >= 2 && words[1] == "until") {
      if (!want(3, 4, "step until GATE [conn=N]")) return false;
      c.op = Op::step;
      c.text = words[1];
      if (!trace::gate_from_name(words[2], c.until.kind)) {
        std::string known;
        for (auto n : trace::kGateNames) known += (known.empty() ? "" : ", ") + std::string(n);
        error = "unknown gate '" + words[2] + "' (" + known + ")";
        return false;
      }
      if (words.size() == 4) {
        std::string k, v;
        int n = 0;
        if (!option(words[3], k, v)) return false;
        if (k != "conn") {
          error = "unknown option '" + k + "' for step until";
          return false;
        }
        if (!number("conn", v, 0, 1000000, n)) return false;
        c.until.conn = static_cast<std::uint32_t>(n);
      }
      return true;
    }
    if (verb == "step" && words.size() >= 2 && words[1] == "stage") {
      if (!want(2, 3, "step stage [timeout=S]")) return false;
      c.op = Op::step;
      c.text = words[1];
      if (!args.timeout(2, "step stage", c.timeout_ms)) return false;
      return true;
    }
    if (verb == "step") {
      if (!want(2, 2, "step run|step|pause|slow|until|stage")) return false;
      if (words[1] != "run" && words[1] != "step" && words[1] != "pause" && words[1] != "slow") {
        error = "step takes run, step, pause, slow or until (or stage), got '" + words[1] + "'";
        return false;
      }
      c.op = Op::step;
      c.text = words[1];
      return true;
    }
    if (verb == "compare" && words.size() >= 2 && words[1] == "export") {
      if (!want(3, 4, "compare export FILE [timeout=S]")) return false;
      c.op = Op::compare_export;
      c.text = words[2];
      const std::string ext = std::filesystem::path(c.text).extension().string();
      if (ext != ".md" && ext != ".csv" && ext != ".json" && ext != ".png") {
        error = "compare export writes .md, .csv, .json or .png, not '" + c.text + "'";
        return false;
      }
      c.timeout_ms = 30000;
      if (!args.timeout(3, "compare export", c.timeout_ms)) return false;
      return true;
    }
    if (verb == "compare") {
      c.op = Op::compare;
      compare::CompareOptions& o = c.compare;
      o.archs = {"fork", "thread", "evloop"};
      int timeout_s = -1;
      auto list = [](const std::string& v) {
        std::vector<std::string> out;
        std::string cur;
        for (char ch : v + ",") {
          if (ch == ',') {
            if (!cur.empty()) out.push_back(cur);
            cur.clear();
          } else {
            cur += ch;
          }
        }
        return out;
      };
      for (std::size_t i = 1; i < words.size(); ++i) {
        std::string k, v;
        if (!option(words[i], k, v)) return false;
        if (k == "archs") {
          o.archs = v == "none" ? std::vector<std::string>{} : v == "all" ? compare::all_architectures() : list(v);
        } else if (k == "references") {
          o.references = list(v);
        } else if (k == "clients") {
          o.clients.clear();
          for (const auto& n : list(v)) {
            int count = 0;
            if (!number("clients", n, 1, 10000, count)) return false;
            o.clients.push_back(count);
          }
        } else if (k == "scenario") {
          o.scenario = v;
        } else if (k == "protocol") {
          o.protocol = v;
        } else if (k == "duration") {
          int ms = 0;
          if (!number("duration (ms)", v, 200, 600000, ms)) return false;
          o.duration_s = ms / 1000.0;
        } else if (k == "trace") {
          if (v != "on" && v != "off") {
            error = "trace must be on or off, got '" + v + "'";
            return false;
          }
          o.trace = v == "on";
        } else if (k == "timeout") {
          if (!number("timeout (seconds)", v, 1, 7200, timeout_s)) return false;
        } else {
          error = "unknown option '" + k + "' for compare (archs, references, clients, scenario, protocol, "
                  "duration, trace, timeout)";
          return false;
        }
      }
      c.references_if_installed = lesson;
      if (std::string e = o.validate(!lesson); !e.empty()) {
        error = e;
        return false;
      }
      // A long sweep (say 9 servers x 400 client counts x 600 s) runs for
      // weeks: more milliseconds than an int holds, so the default is capped.
      const double per_row = o.duration_s + 30.0;
      const double all_rows_ms = per_row * 1000 * static_cast<double>(o.row_count());
      c.timeout_ms = timeout_s > 0 ? timeout_s * 1000
                                   : static_cast<int>(std::min(all_rows_ms, double{std::numeric_limits<int>::max()}));
      return true;
    }
    if (window != nullptr && *window && (*window)(words, c, error)) return error.empty();
    error = "unknown command '" + verb + "'";
    return false;
  }
};

}  // namespace

bool VerbArgs::want(std::size_t lo, std::size_t hi, const char* usage) {
  if (words.size() < lo || words.size() > hi) {
    error = std::string("usage: ") + usage;
    return false;
  }
  return true;
}

bool VerbArgs::number(const std::string& what, const std::string& s, int lo, int hi, int& out) {
  if (!to_int(s, out) || out < lo || out > hi) {
    error = what + " must be a number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got '" + s + "'";
    return false;
  }
  return true;
}

bool VerbArgs::option(const std::string& w, std::string& key, std::string& value) {
  auto eq = w.find('=');
  if (eq == std::string::npos || eq == 0) {
    error = "expected key=value, got '" + w + "'";
    return false;
  }
  key = w.substr(0, eq);
  value = w.substr(eq + 1);
  return true;
}

bool VerbArgs::timeout(std::size_t index, const std::string& verb, int& ms) {
  if (words.size() <= index) return true;
  std::string k, v;
  if (!option(words[index], k, v)) return false;
  if (k != "timeout") {
    error = "unknown option '" + k + "' for " + verb;
    return false;
  }
  int s = 0;
  if (!number("timeout (seconds)", v, 1, 600, s)) return false;
  ms = s * 1000;
  return true;
}

bool is_window_op(ScriptCommand::Op op) {
  using Op = ScriptCommand::Op;
  return op == Op::theme || op == Op::font_size || op == Op::layout || op == Op::dump_model || op == Op::screenshot ||
         op == Op::export_session || op == Op::lesson;
}

bool ScriptParser::parse(const std::string& text, ScriptCommand& out, bool& blank, std::string& error) {
  std::string line = text;
  if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
  Parser p;
  p.lines = lines_;
  p.window = &window_;
  p.lesson = lesson_;
  std::istringstream words(line);
  for (std::string w; words >> w;) p.words.push_back(w);
  blank = p.words.empty();
  if (blank) return true;
  ScriptCommand c;
  for (const auto& w : p.words) c.source += (c.source.empty() ? "" : " ") + w;
  if (!p.parse(c)) {
    error = p.error;
    return false;
  }
  lines_ = p.lines;
  c.line = out.line;
  out = std::move(c);
  return true;
}

std::optional<std::vector<ScriptCommand>> parse_script(std::istream& in, const std::string& name,
                                                       std::string& error, const WindowVerbParser& window) {
  std::vector<ScriptCommand> out;
  ScriptParser parser(window);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    ScriptCommand c;
    c.line = number;
    bool blank = false;
    std::string reason;
    if (!parser.parse(line, c, blank, reason)) {
      error = name + ":" + std::to_string(number) + ": " + reason;
      return std::nullopt;
    }
    if (!blank) out.push_back(std::move(c));
  }
  return out;
}

}  // namespace sockscope::lesson
