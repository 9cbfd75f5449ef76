// The window's script verbs, and the names they take, with no ImGui, GLFW or
// GL: lessons use these verbs too, so `sockscope lesson NAME --check` parses
// them the same way in the headless build (SOCKSCOPE_BUILD_GUI=OFF), where
// the window itself does not exist. The runner (script.cpp) does the work.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lesson/script.h"

namespace sockscope::app {

inline constexpr float kDefaultFontPx = 19.0f;
inline constexpr float kMinFontPx = 10.0f;
inline constexpr float kMaxFontPx = 48.0f;

namespace style {
enum class Theme { dark, light };
std::string_view theme_name(Theme t);
bool theme_from_name(std::string_view name, Theme& out);
}  // namespace style

// File > Export's radio buttons, in order; the names are the script's words.
enum class ExportFormat { jsonl, chrome, csv, text, png };
inline constexpr std::string_view kExportFormatNames[] = {"jsonl", "chrome", "csv", "text", "png"};
bool export_format_from_name(std::string_view name, ExportFormat& out);

using lesson::ScriptCommand;

// The window's verbs, for lesson::ScriptParser (lessons use them too).
bool parse_window_verb(const std::vector<std::string>& words, ScriptCommand& c, std::string& error);

// Parses a whole script. On the first bad line returns nullopt and sets
// `error` to "<name>:<line>: <reason>".
std::optional<std::vector<ScriptCommand>> parse_script(std::istream& in, const std::string& name,
                                                       std::string& error);

}  // namespace sockscope::app
