// User settings (text size, theme, window size) and the ImGui layout file,
// kept in $XDG_CONFIG_HOME/sockscope/ or ~/.config/sockscope/, never in the
// working directory.
#pragma once

#include <filesystem>
#include <string>

#include "views/style.h"

namespace sockscope::app {

struct Settings {
  float font_px = 19.0f;
  style::Theme theme = style::Theme::dark;
  int window_w = 1600;
  int window_h = 900;
  // The window arrangement imgui.ini's positions were saved in: "overview"
  // or "stepping" (see AppUi::Layout).
  std::string layout = "overview";
};

// The config directory (created on demand by save()); empty when neither
// XDG_CONFIG_HOME nor HOME is set.
std::filesystem::path config_dir();
// Missing or unreadable file: the defaults. A bad value is ignored, not fatal.
Settings load_settings(const std::filesystem::path& dir);
// Best effort: a read-only home must not stop the app. False on failure.
bool save_settings(const std::filesystem::path& dir, const Settings& s);

}  // namespace sockscope::app
