// User settings (text size, theme, window size) and the ImGui layout file,
// kept in $XDG_CONFIG_HOME/sockscope/ or ~/.config/sockscope/, never in the
// working directory.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "views/style.h"

namespace sockscope::app {

// How far a student got in one lesson.
struct LessonProgress {
  int reached = 0;  // steps entered
  int steps = 0;
  bool finished = false;
  bool operator==(const LessonProgress&) const = default;
};
using LessonProgressMap = std::map<std::string, LessonProgress>;

struct Settings {
  float font_px = 19.0f;
  style::Theme theme = style::Theme::dark;
  // 0 x 0 until the first exit: the first start fits the screen's work area.
  int window_w = 0;
  int window_h = 0;
  bool controls_collapsed = false;  // Tab
  // The layout to start in: "overview" or "stepping" (layout.h).
  std::string layout = "overview";
  // The Start-here list opens by itself on the first launch only.
  bool start_here_seen = false;
  LessonProgressMap lessons;  // by lesson name
};

inline constexpr int kMinWindowW = 640;
inline constexpr int kMinWindowH = 400;

// Parses --geometry's "WxH" (each at least the minimum, at most 8192).
// False, and `error` says why, when it is not.
bool parse_geometry(const std::string& text, int& w, int& h, std::string& error);

// The config directory (created on demand by save()); empty when neither
// XDG_CONFIG_HOME nor HOME is set.
std::filesystem::path config_dir();
// Missing or unreadable file: the defaults. A bad value is ignored, not fatal.
Settings load_settings(const std::filesystem::path& dir);
// Best effort: a read-only home must not stop the app. False on failure.
bool save_settings(const std::filesystem::path& dir, const Settings& s);

}  // namespace sockscope::app
