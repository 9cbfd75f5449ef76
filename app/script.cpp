#include "script.h"

#include "lab/lab.h"
#include "lab_controller.h"
#include "views/step_view.h"

#include <charconv>
#include <istream>
#include <sstream>

#include "app_ui.h"
#include "model_dump.h"
#include "clients/scenario.h"
#include "servers/architecture.h"
#include "trace/ring.h"

namespace sockscope::app {
namespace {

bool to_int(const std::string& s, int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

struct Parser {
  std::vector<std::string> words;
  std::string error;
  std::vector<std::string> lines;  // the last `lines` command's, for `clients N preset=custom`

  // key=value words after the positional ones.
  bool option(const std::string& w, std::string& key, std::string& value) {
    auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0) {
      error = "expected key=value, got '" + w + "'";
      return false;
    }
    key = w.substr(0, eq);
    value = w.substr(eq + 1);
    return true;
  }

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
    if (!to_int(s, out) || out < lo || out > hi) {
      error = what + " must be a number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got '" + s + "'";
      return false;
    }
    return true;
  }

  bool parse(ScriptCommand& c) {
    const std::string& verb = words[0];
    using Op = ScriptCommand::Op;
    auto want = [&](std::size_t lo, std::size_t hi, const char* usage) {
      if (words.size() < lo || words.size() > hi) {
        error = std::string("usage: ") + usage;
        return false;
      }
      return true;
    };
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
        } else if (!setting(arch, k, v, c.spec.settings)) {
          return false;
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
      if (words.size() == 4) {
        std::string k, v;
        if (!option(words[3], k, v)) return false;
        int s = 0;
        if (k != "timeout") {
          error = "unknown option '" + k + "' for wait";
          return false;
        }
        if (!number("timeout (seconds)", v, 1, 600, s)) return false;
        c.timeout_ms = s * 1000;
      }
      return true;
    }
    if (verb == "theme") {
      if (!want(2, 2, "theme dark|light")) return false;
      style::Theme t;
      if (!style::theme_from_name(words[1], t)) {
        error = "theme must be dark or light, got '" + words[1] + "'";
        return false;
      }
      c.op = Op::theme;
      c.text = words[1];
      return true;
    }
    if (verb == "font-size") {
      if (!want(2, 2, "font-size PX")) return false;
      c.op = Op::font_size;
      return number("font size", words[1], static_cast<int>(kMinFontPx), static_cast<int>(kMaxFontPx), c.number);
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
      if (words.size() == 3) {
        std::string k, v;
        int s = 0;
        if (!option(words[2], k, v)) return false;
        if (k != "timeout") {
          error = "unknown option '" + k + "' for step stage";
          return false;
        }
        if (!number("timeout (seconds)", v, 1, 600, s)) return false;
        c.timeout_ms = s * 1000;
      }
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
    if (verb == "layout" || verb == "present" || verb == "controls") {
      c.op = Op::layout;
      c.text = verb;
      if (!want(2, 2, verb == "layout" ? "layout overview|stepping" : verb == "present" ? "present VIEW|off" : "controls hide|show"))
        return false;
      c.arg = words[1];
      if (verb == "layout" && words[1] != "overview" && words[1] != "stepping") {
        error = "layout must be overview or stepping, got '" + words[1] + "' (presentation mode: present VIEW)";
        return false;
      }
      if (verb == "controls" && words[1] != "hide" && words[1] != "show") {
        error = "controls takes hide or show, got '" + words[1] + "'";
        return false;
      }
      if (verb == "present" && words[1] != "off") {
        auto id = window_from_key(words[1]);
        if (!id || window_spec(*id).present_key == 0) {
          std::string known;
          for (const auto& w : kWindows)
            if (w.present_key != 0) known += (known.empty() ? "" : ", ") + std::string(w.key);
          error = "present what? '" + words[1] + "' is not a view (" + known + ", or off)";
          return false;
        }
      }
      return true;
    }
    if (verb == "dump-model") {
      if (!want(2, 2, "dump-model FILE")) return false;
      c.op = Op::dump_model;
      c.text = words[1];
      return true;
    }
    if (verb == "export") {
      if (!want(3, 4, "export jsonl|chrome|csv|text|png FILE [timeout=S]")) return false;
      c.op = Op::export_session;
      if (!export_format_from_name(words[1], c.format)) {
        error = "export format must be jsonl, chrome, csv, text or png, got '" + words[1] + "'";
        return false;
      }
      c.text = words[2];
      c.timeout_ms = 60000;  // a large session takes a while to write
      if (words.size() == 4) {
        std::string k, v;
        int s = 0;
        if (!option(words[3], k, v)) return false;
        if (k != "timeout") {
          error = "unknown option '" + k + "' for export";
          return false;
        }
        if (!number("timeout (seconds)", v, 1, 600, s)) return false;
        c.timeout_ms = s * 1000;
      }
      return true;
    }
    if (verb == "screenshot") {
      if (!want(1, 2, "screenshot [FILE]")) return false;
      c.op = Op::screenshot;
      if (words.size() == 2) c.text = words[1];
      return true;
    }
    error = "unknown command '" + verb + "'";
    return false;
  }
};

std::uint64_t now_ns() { return trace::now_ns(); }

}  // namespace

std::optional<std::vector<ScriptCommand>> parse_script(std::istream& in, const std::string& name,
                                                       std::string& error) {
  std::vector<ScriptCommand> out;
  std::string line;
  int number = 0;
  std::vector<std::string> lines;  // the custom preset's, from the last `lines` command
  while (std::getline(in, line)) {
    ++number;
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    Parser p;
    p.lines = lines;
    std::istringstream words(line);
    for (std::string w; words >> w;) p.words.push_back(w);
    if (p.words.empty()) continue;
    ScriptCommand c;
    c.line = number;
    if (!p.parse(c)) {
      error = name + ":" + std::to_string(number) + ": " + p.error;
      return std::nullopt;
    }
    lines = p.lines;
    out.push_back(std::move(c));
  }
  return out;
}

ScriptRunner::ScriptRunner(std::vector<ScriptCommand> commands, std::string name, std::string default_screenshot)
    : commands_(std::move(commands)), name_(std::move(name)), default_screenshot_(std::move(default_screenshot)) {}

void ScriptRunner::fail(const ScriptCommand& c, const std::string& reason) {
  error_ = name_ + ":" + std::to_string(c.line) + ": " + reason;
  exit_code_ = 1;
  finished_ = true;
}

void ScriptRunner::next() {
  ++pc_;
  started_current_ = false;
}

void ScriptRunner::screenshot_done(bool ok, const std::string& error) {
  capture_path_.clear();
  if (!ok) {
    fail(commands_[pc_], error);
    return;
  }
  next();
}

void ScriptRunner::step(LabController* live, AppUi& ui) {
  using Op = ScriptCommand::Op;
  // Instant commands run back to back in one frame; waits and screenshots
  // return and let frames be drawn.
  while (!finished_) {
    if (pc_ >= commands_.size()) {
      finished_ = true;
      return;
    }
    const ScriptCommand& c = commands_[pc_];
    const bool needs_lab = c.op != Op::wait_ms && c.op != Op::theme && c.op != Op::font_size &&
                           c.op != Op::screenshot && c.op != Op::export_session && c.op != Op::quit &&
                           c.op != Op::lines;
    if (needs_lab && live == nullptr) return fail(c, "this command needs a live lab, not a recording");
    switch (c.op) {
      case Op::start: {
        lab::ServerSpec spec = c.spec;
        if (!c.port_given) spec.port = live->spec().port;  // the default lesson's free port
        live->spec() = spec;
        if (!live->start()) return fail(c, "start failed: " + live->last_error());
        next();
        break;
      }
      case Op::stop:
        live->stop();
        next();
        break;
      case Op::set:
        // The controls' call: a running server gets only what it can take
        // now (reaping on); the rest waits for the next start.
        for (servers::SettingId id : c.settings_given) live->set_setting(id, c.spec.settings.get(id));
        next();
        break;
      case Op::lines:
        next();  // parsed into the clients commands that follow
        break;
      case Op::clients:
        if (!live->add_clients(c.clients)) return fail(c, "clients failed: " + live->last_error());
        next();
        break;
      case Op::wait_ms:
        if (!started_current_) {
          started_current_ = true;
          deadline_ns_ = now_ns() + static_cast<std::uint64_t>(c.number) * 1'000'000;
        }
        if (now_ns() < deadline_ns_) return;
        next();
        break;
      case Op::wait_children:
      case Op::wait_connections: {
        if (!started_current_) {
          started_current_ = true;
          deadline_ns_ = now_ns() + static_cast<std::uint64_t>(c.timeout_ms) * 1'000'000;
        }
        const bool children = c.op == Op::wait_children;
        int seen = live->lab().session().read([&](const session::Session& s) {
          const auto& m = s.model();
          if (!children) return static_cast<int>(m.counts.connections_open);
          pid_t root = s.meta().server_pid;
          int n = 0;
          for (const auto& p : m.processes) {
            if (root != 0 && p.ppid == root && p.alive() && p.in_proc) ++n;
          }
          return n;
        });
        if (seen >= c.number) {
          next();
          break;
        }
        if (now_ns() >= deadline_ns_) {
          return fail(c, "timed out after " + std::to_string(c.timeout_ms / 1000) + " s waiting for " +
                             std::to_string(c.number) + (children ? " live children" : " open connections") +
                             " (saw " + std::to_string(seen) + ")");
        }
        return;
      }
      case Op::step: {
        // The same calls the toolbar's buttons and keys make.
        if (c.text == "until") {
          apply_run_to(live->lab().gates(), c.until);
          next();
          break;
        }
        if (c.text == "stage") {
          // Step stage, then the frames that follow until its run ends.
          trace::GateTable& gates = live->lab().gates();
          if (!started_current_) {
            started_current_ = true;
            stage_started_ = false;
            deadline_ns_ = now_ns() + static_cast<std::uint64_t>(c.timeout_ms) * 1'000'000;
            if (gates.mode() != trace::GateMode::step) gates.set_mode(trace::GateMode::step);
          }
          if (!stage_started_) {
            const StagePlan plan = live->lab().session().read([](const session::Session& s) { return stage_plan(s.meta()); });
            stage_started_ = stage_.start(gates, 0, plan, now_ns());
            if (!stage_started_) {
              if (now_ns() >= deadline_ns_) return fail(c, "step stage: " + stage_.message());
              return;  // nobody at a gate yet
            }
          }
          if (stage_.running())
            live->lab().session().read([&](const session::Session& s) { stage_.tick(gates, &s, now_ns()); });
          if (stage_.running()) return;
          if (!stage_.succeeded()) return fail(c, "step stage: " + stage_.message());
          next();
          break;
        }
        StepCommand cmd = c.text == "run"     ? StepCommand::run
                          : c.text == "step"  ? StepCommand::step
                          : c.text == "pause" ? StepCommand::pause
                                              : StepCommand::slow;
        apply_step_command(live->lab().gates(), cmd, 300);
        next();
        break;
      }
      case Op::theme: {
        style::Theme t;
        style::theme_from_name(c.text, t);
        ui.set_theme(t);
        next();
        return;  // let the shell apply it before the next command
      }
      case Op::layout:
        if (c.text == "layout") ui.set_layout(*layout_from_name(c.arg));
        else if (c.text == "controls") ui.set_controls_collapsed(c.arg == "hide");
        else if (c.arg == "off") ui.leave_present();
        else ui.present(*window_from_key(c.arg));
        next();
        return;  // the shell applies a font change before the next command
      case Op::font_size:
        ui.set_font(static_cast<float>(c.number));
        next();
        return;
      case Op::dump_model: {
        live->lab().flush();
        // And what the views drew in the last frame: the layout, each
        // window's rectangle, the tree's folded nodes and the code view's
        // cursors (file and line of each parked process).
        nlohmann::json drawn = ui.drawn_json();
        drawn["code_cursors"] = nlohmann::json::array();
        for (const CodeCursor& cur : ui.code_view().cursors())
          drawn["code_cursors"].push_back({{"file", cur.file},
                                           {"line", cur.line},
                                           {"pid", cur.waiter.pid},
                                           {"tid", cur.waiter.tid},
                                           {"gate", std::string(trace::gate_name(cur.waiter.kind))},
                                           {"conn", cur.waiter.conn}});
        std::string error;
        bool ok = live->lab().session().read(
            [&](const session::Session& s) { return write_model_json(s, c.text, error, drawn); });
        if (!ok) return fail(c, "dump-model: " + error);
        next();
        break;
      }
      case Op::screenshot: {
        std::string path = c.text.empty() ? default_screenshot_ : c.text;
        if (path.empty()) return fail(c, "screenshot needs a FILE or --screenshot FILE");
        // A few frames first: windows size themselves on their first frames.
        if (!started_current_) {
          started_current_ = true;
          settle_frames_ = 3;
        }
        if (settle_frames_-- > 0) return;
        capture_path_ = path;
        return;  // the shell writes it after this frame and calls screenshot_done()
      }
      case Op::export_session: {
        // The Export button's call; the export runs in the frames that follow
        // (a worker, or the shell writing the PNG), and we wait for its outcome.
        if (!started_current_) {
          std::string error;
          export_ticket_ = ui.request_export(c.format, c.text, error);
          if (export_ticket_ == 0) return fail(c, "export " + c.text + ": " + error);
          started_current_ = true;
          deadline_ns_ = now_ns() + static_cast<std::uint64_t>(c.timeout_ms) * 1'000'000;
          return;
        }
        if (auto done = ui.export_outcome(export_ticket_)) {
          if (!done->ok) return fail(c, "export failed: " + done->message);
          next();
          break;
        }
        if (now_ns() >= deadline_ns_)
          return fail(c, "export " + c.text + ": not finished after " + std::to_string(c.timeout_ms / 1000) + " s");
        return;
      }
      case Op::quit:
        if (live != nullptr) live->stop();
        finished_ = true;
        return;
    }
  }
}

}  // namespace sockscope::app
