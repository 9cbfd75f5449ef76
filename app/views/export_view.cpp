#include "views/export_view.h"

#include <imgui.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

#include "session/export.h"
#include "views/style.h"

namespace sockscope::app {
namespace {

struct Format {
  const char* label;
  const char* extension;
};
constexpr Format kFormats[] = {
    {"JSON Lines (re-importable)", ".jsonl"},
    {"Chrome trace (Perfetto)", ".json"},
    {"CSV", ".csv"},
    {"Narrative (text)", ".txt"},
    {"PNG screenshot of the window", ".png"},
};
constexpr int kPngFormat = 4;

std::filesystem::path expand_home(const std::string& p) {
  if (p.rfind("~/", 0) == 0) {
    if (const char* home = std::getenv("HOME")) return std::filesystem::path(home) / p.substr(2);
  }
  return p;
}

}  // namespace

ExportView::ExportView() { std::snprintf(path_, sizeof path_, "~/sockscope-session.jsonl"); }

ExportView::~ExportView() { join(); }

void ExportView::join() {
  if (worker_.joinable()) worker_.join();
}

void ExportView::start(const session::Session& session) {
  join();
  auto copy = std::make_shared<session::Session>(session);
  std::filesystem::path target = expand_home(path_);
  const int format = format_;
  busy_ = true;
  progress_ = 0.0;
  result_.clear();
  worker_ = std::thread([this, copy, target, format] {
    std::string error;
    auto progress = [this](double p) { progress_.store(p); };
    bool ok = false;
    switch (format) {
      case 0: ok = session::write_jsonl(*copy, target, error, progress); break;
      case 1: ok = session::write_chrome_trace(*copy, target, error, progress); break;
      case 2: ok = session::write_csv(*copy, target, error, progress); break;
      default: ok = session::write_narrative(*copy, target, error, progress); break;
    }
    result_ok_ = ok;
    result_ = ok ? "Wrote " + target.string() : error;
    busy_.store(false, std::memory_order_release);
  });
}

std::string ExportView::due_png() {
  if (png_path_.empty() || png_delay_ > 0) return {};
  return std::exchange(png_path_, std::string{});
}

void ExportView::png_written(bool ok, const std::string& message) {
  result_ok_ = ok;
  result_ = ok ? "Wrote " + message : message;
  open_requested_ = true;
}

void ExportView::draw(FrameContext& ctx) {
  if (!png_path_.empty()) {
    if (png_delay_ > 0) --png_delay_;
    ctx.wants_redraw = true;
  }
  if (open_requested_) {
    ImGui::OpenPopup("Export session###export");
    open_requested_ = false;
  }
  if (busy()) ctx.wants_redraw = true;
  ImGui::SetNextWindowSize(ImVec2(ImGui::GetFontSize() * 30.0f, 0), ImGuiCond_Appearing);
  if (ImGui::BeginPopupModal("Export session###export", nullptr)) {
    ImGui::Text("%zu events, %zu /proc snapshots", ctx.session.events().size(), ctx.session.snapshots().size());
    for (int i = 0; i < static_cast<int>(std::size(kFormats)); ++i) {
      if (ImGui::RadioButton(kFormats[i].label, format_ == i)) {
        format_ = i;
        // Keep the name, switch the extension.
        std::filesystem::path p(path_);
        p.replace_extension(kFormats[i].extension);
        std::snprintf(path_, sizeof path_, "%s", p.string().c_str());
      }
    }
    ImGui::SetNextItemWidth(-1.0f);
    ImGui::InputText("##path", path_, sizeof path_);
    const bool running = busy();
    if (running) {
      ImGui::ProgressBar(static_cast<float>(progress_.load()), ImVec2(-1.0f, 0.0f));
    } else if (!result_.empty()) {
      ImGui::PushTextWrapPos(0.0f);
      style::text_colored(result_ok_ ? style::palette().ok : style::palette().bad, "%s", result_.c_str());
      ImGui::PopTextWrapPos();
    }
    ImGui::BeginDisabled(running || path_[0] == '\0');
    if (ImGui::Button("Export")) {
      if (format_ == kPngFormat) {
        png_path_ = expand_home(path_).string();
        png_delay_ = 2;
        result_.clear();
        ImGui::CloseCurrentPopup();
      } else {
        start(ctx.session);
      }
    }
    ImGui::EndDisabled();
    ImGui::SameLine();
    ImGui::BeginDisabled(running);
    if (ImGui::Button("Close")) {
      result_.clear();
      ImGui::CloseCurrentPopup();
    }
    ImGui::EndDisabled();
    ImGui::EndPopup();
  }
}

}  // namespace sockscope::app
