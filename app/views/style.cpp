#include "views/style.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace sockscope::app::style {
namespace {

Theme g_theme = Theme::dark;

// Chosen for contrast on a washed-out projector: saturated fills, text on
// them always dark-on-light or light-on-dark, never mid-grey on mid-grey.
const Palette kDark = {
    IM_COL32(44, 62, 92, 255),    IM_COL32(150, 180, 230, 255), IM_COL32(240, 244, 250, 255),
    IM_COL32(30, 90, 150, 255),   IM_COL32(40, 120, 60, 255),   IM_COL32(200, 30, 30, 255),
    IM_COL32(255, 255, 255, 255), IM_COL32(70, 70, 70, 255),    IM_COL32(90, 60, 120, 255),
    IM_COL32(140, 90, 20, 255),   IM_COL32(255, 255, 255, 255), IM_COL32(170, 180, 200, 255), IM_COL32(230, 180, 60, 255),
    IM_COL32(255, 230, 90, 255),  ImVec4(0.45f, 0.90f, 0.45f, 1), ImVec4(1.0f, 0.80f, 0.30f, 1),
    ImVec4(1.0f, 0.35f, 0.35f, 1), ImVec4(0.62f, 0.65f, 0.70f, 1),
};
const Palette kLight = {
    IM_COL32(214, 228, 248, 255), IM_COL32(40, 70, 130, 255),   IM_COL32(10, 15, 30, 255),
    IM_COL32(170, 205, 245, 255), IM_COL32(190, 235, 195, 255), IM_COL32(210, 20, 20, 255),
    IM_COL32(255, 255, 255, 255), IM_COL32(215, 215, 215, 255), IM_COL32(225, 210, 245, 255),
    IM_COL32(250, 220, 170, 255), IM_COL32(10, 15, 30, 255),    IM_COL32(60, 70, 90, 255),    IM_COL32(190, 120, 0, 255),
    IM_COL32(240, 170, 0, 255),   ImVec4(0.05f, 0.50f, 0.10f, 1), ImVec4(0.70f, 0.42f, 0.0f, 1),
    ImVec4(0.80f, 0.05f, 0.05f, 1), ImVec4(0.35f, 0.37f, 0.42f, 1),
};

Fonts g_fonts;

}  // namespace

void apply_theme(Theme theme, float ui_scale) {
  g_theme = theme;
  ImGuiStyle& s = ImGui::GetStyle();
  s = ImGuiStyle();
  if (theme == Theme::dark) {
    ImGui::StyleColorsDark(&s);
  } else {
    ImGui::StyleColorsLight(&s);
  }
  s.WindowRounding = 4.0f;
  s.FrameRounding = 3.0f;
  s.FramePadding = ImVec2(8, 5);
  s.ItemSpacing = ImVec2(10, 7);
  s.WindowBorderSize = 1.0f;
  s.FrameBorderSize = theme == Theme::light ? 1.0f : 0.0f;
  s.ScaleAllSizes(ui_scale);
}

Theme current_theme() { return g_theme; }
const Palette& palette() { return g_theme == Theme::dark ? kDark : kLight; }

Fonts& fonts() { return g_fonts; }

MonoFont::MonoFont() : pushed_(g_fonts.mono != nullptr) {
  if (pushed_) ImGui::PushFont(g_fonts.mono);
}
MonoFont::~MonoFont() {
  if (pushed_) ImGui::PopFont();
}

void text_colored(const ImVec4& colour, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  ImGui::PushStyleColor(ImGuiCol_Text, colour);
  ImGui::TextV(fmt, args);
  ImGui::PopStyleColor();
  va_end(args);
}

void copyable_command(const char* id, const std::string& command) {
  ImGui::PushID(id);
  {
    MonoFont mono;
    ImGui::TextUnformatted(command.c_str());
  }
  ImGui::SameLine();
  if (ImGui::SmallButton("Copy")) ImGui::SetClipboardText(command.c_str());
  ImGui::PopID();
}

void same_line_if_fits(float width) {
  const float right = ImGui::GetWindowPos().x + ImGui::GetWindowContentRegionMax().x;
  if (ImGui::GetItemRectMax().x + ImGui::GetStyle().ItemSpacing.x + width <= right) ImGui::SameLine();
}

void same_line_if_fits(const std::string& next) { same_line_if_fits(ImGui::CalcTextSize(next.c_str()).x); }

void help_marker(const char* text) {
  ImGui::TextDisabled("(?)");
  if (ImGui::IsItemHovered()) {
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 30.0f);
    ImGui::TextUnformatted(text);
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
  }
}

std::string count_of(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string format_kb(std::uint64_t kb) {
  char buf[32];
  if (kb >= 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f GB", static_cast<double>(kb) / (1024.0 * 1024.0));
  } else if (kb >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(kb) / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%llu KB", static_cast<unsigned long long>(kb));
  }
  return buf;
}

std::string format_duration_ns(std::uint64_t ns) {
  char buf[32];
  double ms = static_cast<double>(ns) / 1e6;
  if (ms < 1.0) {
    std::snprintf(buf, sizeof buf, "%.0f us", ms * 1000.0);
  } else if (ms < 1000.0) {
    std::snprintf(buf, sizeof buf, "%.0f ms", ms);
  } else if (ms < 120000.0) {
    std::snprintf(buf, sizeof buf, "%.1f s", ms / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f min", ms / 60000.0);
  }
  return buf;
}

ImU32 identity_colour(const session::Model& model, pid_t pid, pid_t tid) {
  // Golden-ratio steps round the wheel: the process's order of appearance,
  // plus, for a thread, how far its tid is from the process's (threads are
  // numbered in the order they start, so a pool's workers 1, 2, 3 and 4
  // steps on get far apart hues, and none the hue of their process).
  const session::ProcessView* p = model.find_process(pid);
  double index = p ? static_cast<double>(p - model.processes.data()) : static_cast<double>(static_cast<unsigned>(pid));
  if (tid != 0 && tid != pid) index += static_cast<double>(static_cast<unsigned>(tid - pid));
  const double turns = 0.35 + index * 0.6180339887498949;
  const float hue = static_cast<float>(turns - std::floor(turns));
  return current_theme() == Theme::dark ? ImColor::HSV(hue, 0.60f, 0.98f) : ImColor::HSV(hue, 0.80f, 0.68f);
}

ImU32 series_colour(std::size_t index) {
  const double turns = 0.58 + static_cast<double>(index) * 0.6180339887498949;
  const float hue = static_cast<float>(turns - std::floor(turns));
  return current_theme() == Theme::dark ? ImColor::HSV(hue, 0.55f, 0.95f) : ImColor::HSV(hue, 0.80f, 0.70f);
}

ImVec4 state_colour(char state) {
  const Palette& p = palette();
  switch (state) {
    case 'R': return p.ok;
    case 'D': return p.warn;
    case 'Z': return p.bad;
    case 'X': return p.dim;
    default: return ImGui::GetStyleColorVec4(ImGuiCol_Text);
  }
}

std::string_view state_name(char state) {
  switch (state) {
    case 'R': return "running";
    case 'S': return "sleeping";
    case 'D': return "disk wait";
    case 'Z': return "ZOMBIE";
    case 'T': return "stopped";
    case 't': return "traced";
    case 'I': return "idle";
    case 'X': return "gone";
    default: return "unknown";
  }
}

}  // namespace sockscope::app::style
