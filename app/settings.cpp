#include "settings.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <string_view>
#include <system_error>

namespace sockscope::app {

bool parse_geometry(const std::string& text, int& w, int& h, std::string& error) {
  const auto x = text.find('x');
  auto number = [](std::string_view digits, int& out) {
    if (digits.empty() || digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string_view::npos)
      return false;
    out = std::stoi(std::string(digits));
    return true;
  };
  int pw = 0, ph = 0;
  if (x == std::string::npos || !number(std::string_view(text).substr(0, x), pw) ||
      !number(std::string_view(text).substr(x + 1), ph)) {
    error = "'" + text + "' is not WIDTHxHEIGHT in pixels, e.g. 1280x720";
    return false;
  }
  if (pw < kMinWindowW || ph < kMinWindowH || pw > 8192 || ph > 8192) {
    error = text + ": the window must be at least " + std::to_string(kMinWindowW) + "x" +
            std::to_string(kMinWindowH) + " and at most 8192x8192";
    return false;
  }
  w = pw;
  h = ph;
  return true;
}

std::filesystem::path config_dir() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && xdg[0] == '/') {
    return std::filesystem::path(xdg) / "sockscope";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] != '\0') {
    return std::filesystem::path(home) / ".config" / "sockscope";
  }
  return {};
}

Settings load_settings(const std::filesystem::path& dir) {
  Settings s;
  if (dir.empty()) return s;
  std::ifstream in(dir / "settings.json");
  if (!in) return s;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return s;
  if (j.contains("font_px") && j["font_px"].is_number()) s.font_px = j["font_px"].get<float>();
  if (j.contains("theme") && j["theme"].is_string()) {
    style::theme_from_name(j["theme"].get<std::string>(), s.theme);
  }
  if (j.contains("window_w") && j["window_w"].is_number_integer()) s.window_w = j["window_w"].get<int>();
  if (j.contains("window_h") && j["window_h"].is_number_integer()) s.window_h = j["window_h"].get<int>();
  if (j.contains("controls_collapsed") && j["controls_collapsed"].is_boolean())
    s.controls_collapsed = j["controls_collapsed"].get<bool>();
  if (j.contains("layout") && j["layout"].is_string() &&
      (j["layout"] == "overview" || j["layout"] == "stepping"))
    s.layout = j["layout"].get<std::string>();
  if (j.contains("start_here_seen") && j["start_here_seen"].is_boolean()) s.start_here_seen = j["start_here_seen"].get<bool>();
  if (j.contains("lessons") && j["lessons"].is_object()) {
    for (const auto& [name, v] : j["lessons"].items()) {
      if (!v.is_object()) continue;
      LessonProgress p;
      if (v.contains("reached") && v["reached"].is_number_integer()) p.reached = v["reached"].get<int>();
      if (v.contains("steps") && v["steps"].is_number_integer()) p.steps = v["steps"].get<int>();
      if (v.contains("finished") && v["finished"].is_boolean()) p.finished = v["finished"].get<bool>();
      s.lessons[name] = p;
    }
  }
  return s;
}

bool save_settings(const std::filesystem::path& dir, const Settings& s) {
  if (dir.empty()) return false;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return false;
  nlohmann::json j = {{"font_px", s.font_px},
                      {"theme", std::string(style::theme_name(s.theme))},
                      {"window_w", s.window_w},
                      {"window_h", s.window_h},
                      {"layout", s.layout},
                      {"controls_collapsed", s.controls_collapsed},
                      {"start_here_seen", s.start_here_seen}};
  nlohmann::json lessons = nlohmann::json::object();
  for (const auto& [name, p] : s.lessons)
    lessons[name] = {{"reached", p.reached}, {"steps", p.steps}, {"finished", p.finished}};
  j["lessons"] = lessons;
  auto tmp = dir / "settings.json.tmp";
  {
    std::ofstream out(tmp);
    if (!out) return false;
    out << j.dump(2) << "\n";
    if (!out) return false;
  }
  std::filesystem::rename(tmp, dir / "settings.json", ec);
  return !ec;
}

}  // namespace sockscope::app
