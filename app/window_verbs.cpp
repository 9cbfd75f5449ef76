// The window's script verbs (theme, font-size, layout, present, controls,
// dump-model, export, screenshot, start-here, lesson) for
// lesson::ScriptParser, which parses the lab's. No I/O, no UI: the runner
// (script.cpp) does the work.
#include "window_verbs.h"

#include <charconv>
#include <istream>

#include "layout.h"
#include "lesson/lesson.h"

namespace sockscope::app {

namespace style {

std::string_view theme_name(Theme t) { return t == Theme::dark ? "dark" : "light"; }

bool theme_from_name(std::string_view name, Theme& out) {
  if (name == "dark") {
    out = Theme::dark;
    return true;
  }
  if (name == "light") {
    out = Theme::light;
    return true;
  }
  return false;
}

}  // namespace style

bool export_format_from_name(std::string_view name, ExportFormat& out) {
  for (std::size_t i = 0; i < std::size(kExportFormatNames); ++i) {
    if (kExportFormatNames[i] == name) {
      out = static_cast<ExportFormat>(i);
      return true;
    }
  }
  return false;
}

bool parse_window_verb(const std::vector<std::string>& words, ScriptCommand& c, std::string& error) {
  using Op = ScriptCommand::Op;
  const std::string& verb = words[0];
  lesson::VerbArgs args{words, error};
  auto want = [&](std::size_t lo, std::size_t hi, const char* usage) { return args.want(lo, hi, usage); };
  auto number = [&](const std::string& what, const std::string& v, int lo, int hi, int& out) {
    return args.number(what, v, lo, hi, out);
  };
  // Each branch returns false with `error` set when the line is bad.
  auto parse = [&]() -> bool {
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
      if (verb == "layout" || verb == "present" || verb == "controls") {
        c.op = Op::layout;
        c.text = verb;
        if (!want(2, 2, verb == "layout" ? "layout overview|stepping|compare" : verb == "present" ? "present VIEW|off" : "controls hide|show"))
          return false;
        c.arg = words[1];
        if (verb == "layout" && (!layout_from_name(words[1]) || words[1] == "present")) {
          error = "layout must be overview, stepping or compare, got '" + words[1] + "' (presentation mode: present VIEW)";
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
        ExportFormat fmt = ExportFormat::jsonl;
        if (!export_format_from_name(words[1], fmt)) {
          error = "export format must be jsonl, chrome, csv, text or png, got '" + words[1] + "'";
          return false;
        }
        c.number = static_cast<int>(fmt);
        c.text = words[2];
        c.timeout_ms = 60000;  // a large session takes a while to write
        if (!args.timeout(3, "export", c.timeout_ms)) return false;
        return true;
      }
      if (verb == "start-here") {
        if (!want(2, 2, "start-here open|close")) return false;
        if (words[1] != "open" && words[1] != "close") {
          error = "start-here takes open or close, got '" + words[1] + "'";
          return false;
        }
        c.op = Op::lesson;
        c.text = verb;
        c.arg = words[1];
        return true;
      }
      if (verb == "lesson") {
        if (!want(2, 4, "lesson open LESSON | next | back | skip | hint | show-me | close | answer N | wait-step N [timeout=S]"))
          return false;
        c.op = Op::lesson;
        c.text = words[1];
        const std::string& what = words[1];
        if (what == "open") {
          if (!want(3, 3, "lesson open LESSON")) return false;
          std::string why;
          auto path = lesson::resolve_lesson(words[2], why);
          if (!path) {
            error = why;
            return false;
          }
          c.arg = path->string();
          return true;
        }
        if (what == "answer") {
          if (!want(3, 3, "lesson answer N")) return false;
          c.arg = words[2];
          double v = 0;
          auto [end, ec] = std::from_chars(c.arg.data(), c.arg.data() + c.arg.size(), v);
          if (ec != std::errc() || end != c.arg.data() + c.arg.size()) {
            error = "lesson answer takes a number, got '" + c.arg + "'";
            return false;
          }
          return true;
        }
        if (what == "wait-step") {
          if (!want(3, 4, "lesson wait-step N [timeout=S]")) return false;
          if (!number("step", words[2], 1, 1000, c.number)) return false;
          c.timeout_ms = 30000;
          if (!args.timeout(3, "lesson wait-step", c.timeout_ms)) return false;
          return true;
        }
        if (what != "next" && what != "back" && what != "skip" && what != "hint" && what != "show-me" &&
            what != "close") {
          error = "lesson takes open, next, back, skip, hint, show-me, close, answer or wait-step, got '" + what + "'";
          return false;
        }
        return want(2, 2, "lesson next|back|skip|hint|show-me|close");
      }
      if (verb == "screenshot") {
        if (!want(1, 2, "screenshot [FILE]")) return false;
        c.op = Op::screenshot;
        if (words.size() == 2) c.text = words[1];
        return true;
      }
      return false;
    };
  const bool known = verb == "theme" || verb == "font-size" || verb == "layout" || verb == "present" ||
                     verb == "controls" || verb == "dump-model" || verb == "export" || verb == "screenshot" ||
                     verb == "start-here" || verb == "lesson";
  if (!known) return false;
  if (!parse() && error.empty()) error = "bad " + verb + " line";
  return true;  // ours, good or bad
}

std::optional<std::vector<ScriptCommand>> parse_script(std::istream& in, const std::string& name,
                                                       std::string& error) {
  return lesson::parse_script(in, name, error, parse_window_verb);
}

}  // namespace sockscope::app
