#include "views/export_view.h"

#include <imgui.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
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
static_assert(std::size(kFormats) == std::size(kExportFormatNames));

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

std::uint64_t ExportView::request_export(ExportFormat format, const std::string& path, std::string& error) {
  if (busy()) {
    error = "another export is still running";
    return 0;
  }
  if (path.empty()) {
    error = "no file name given";
    return 0;
  }
  const std::filesystem::path target = expand_home(path);
  std::error_code ec;
  if (!target.has_filename() || std::filesystem::is_directory(target, ec)) {
    error = target.string() + ": a directory; give a file name";
    return 0;
  }
  pending_ = Request{format, target, ++last_ticket_};
  return last_ticket_;
}

std::optional<ExportOutcome> ExportView::outcome(std::uint64_t ticket) const {
  if (ticket == 0 || ticket != done_ticket_) return std::nullopt;
  return done_;
}

void ExportView::launch(const Request& r, const session::Session& session) {
  if (r.format != ExportFormat::png) {
    start(r, session);
    return;
  }
  png_path_ = r.path.string();
  png_ticket_ = r.ticket;
  png_delay_ = 2;
  result_.clear();
}

void ExportView::start(const Request& r, const session::Session& session) {
  join();
  auto copy = std::make_shared<session::Session>(session);
  const std::filesystem::path target = r.path;
  const ExportFormat format = r.format;
  worker_ticket_ = r.ticket;
  busy_ = true;
  progress_ = 0.0;
  result_.clear();
  std::string attachment = attachment_ ? attachment_() : std::string();
  worker_ = std::thread([this, copy, target, format, attachment] {
    std::string error;
    auto progress = [this](double p) { progress_.store(p); };
    bool ok = false;
    switch (format) {
      case ExportFormat::jsonl: ok = session::write_jsonl(*copy, target, error, progress); break;
      case ExportFormat::chrome: ok = session::write_chrome_trace(*copy, target, error, progress); break;
      case ExportFormat::csv: ok = session::write_csv(*copy, target, error, progress); break;
      case ExportFormat::text: ok = session::write_narrative(*copy, target, error, progress); break;
      case ExportFormat::png: error = "a PNG is written by the window, not by a worker"; break;  // launch() routes it
    }
    std::string also;
    if (ok && !attachment.empty()) {
      const std::filesystem::path beside = target.string() + ".lesson.md";
      ok = session::write_text_file(beside, attachment, error);
      also = " and " + beside.string();
    }
    result_ok_ = ok;
    result_ = ok ? "Wrote " + target.string() + also : error;
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
  done_ = ExportOutcome{result_ok_, result_};
  done_ticket_ = std::exchange(png_ticket_, 0);
  if (std::exchange(reopen_after_png_, false)) open_requested_ = true;
}

void ExportView::draw(FrameContext& ctx) {
  // A finished worker: its result becomes the outcome of its ticket.
  if (worker_ticket_ != 0 && !busy_.load(std::memory_order_acquire)) {
    done_ = ExportOutcome{result_ok_, result_};
    done_ticket_ = std::exchange(worker_ticket_, 0);
  }
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
      std::string error;
      if (request_export(static_cast<ExportFormat>(format_), path_, error) == 0) {
        result_ok_ = false;
        result_ = error;
      }
    }
    ImGui::EndDisabled();
    // A PNG shows the lesson, not this dialog (whoever asked): close it now,
    // bring it back with the result.
    if (pending_ && pending_->format == ExportFormat::png) {
      reopen_after_png_ = true;
      ImGui::CloseCurrentPopup();
    }
    ImGui::SameLine();
    ImGui::BeginDisabled(running);
    if (ImGui::Button("Close")) {
      result_.clear();
      ImGui::CloseCurrentPopup();
    }
    ImGui::EndDisabled();
    ImGui::EndPopup();
  }
  // After the dialog, so a PNG's two frames count from the frame it closed in.
  if (pending_) {
    launch(*pending_, ctx.session);
    pending_.reset();
  }
}

}  // namespace sockscope::app
