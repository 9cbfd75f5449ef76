#include "fonts.h"

#include <imgui.h>

#include <filesystem>

#include "views/style.h"

namespace sockscope::app {
namespace {

constexpr const char* kDirs[] = {"/usr/share/fonts/truetype/dejavu/", "/usr/share/fonts/dejavu/",
                                 "/usr/local/share/fonts/"};

std::string find_font(const char* file) {
  for (const char* dir : kDirs) {
    std::filesystem::path p = std::filesystem::path(dir) / file;
    std::error_code ec;
    if (std::filesystem::is_regular_file(p, ec)) return p.string();
  }
  return {};
}

// Latin, Latin-1, general punctuation (· … –), arrows (← →) and a few
// geometric shapes (● ▶) the views use.
constexpr ImWchar kRanges[] = {0x0020, 0x00FF, 0x2010, 0x2027, 0x2190, 0x21FF, 0x25A0, 0x25FF, 0};

}  // namespace

bool load_fonts(float px, float scale) {
  ImGuiIO& io = ImGui::GetIO();
  io.Fonts->Clear();
  style::Fonts& f = style::fonts();
  f = {};
  const float size = px * scale;
  ImFontConfig cfg;
  cfg.OversampleH = 2;
  cfg.OversampleV = 1;
  auto load = [&](const char* file) -> ImFont* {
    std::string path = find_font(file);
    if (path.empty()) return nullptr;
    return io.Fonts->AddFontFromFileTTF(path.c_str(), size, &cfg, kRanges);
  };
  f.regular = load("DejaVuSans.ttf");
  if (f.regular == nullptr) {
    ImFontConfig fallback;
    fallback.SizePixels = size;
    f.regular = io.Fonts->AddFontDefault(&fallback);
    io.Fonts->Build();
    return false;
  }
  f.bold = load("DejaVuSans-Bold.ttf");
  f.mono = load("DejaVuSansMono.ttf");
  io.FontDefault = f.regular;
  io.Fonts->Build();
  return true;
}

}  // namespace sockscope::app
