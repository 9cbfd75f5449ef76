// File → Export: writes the session in the engine's formats (JSON Lines,
// Chrome trace, CSV, narrative) on a worker thread, from a copy taken in the
// frame (under the read lock), with a progress bar. The UI never blocks on it.
// A PNG of the window is written by the shell, which owns the framebuffer.
// The Export button and a script's `export` both go through request_export().
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "frame.h"
#include "window_verbs.h"

namespace sockscope::app {


// How one export ended: ok, and "Wrote PATH" or the writer's error.
struct ExportOutcome {
  bool ok = false;
  std::string message;
};

class ExportView {
 public:
  ExportView();
  ~ExportView();  // waits for a running export
  ExportView(const ExportView&) = delete;
  ExportView& operator=(const ExportView&) = delete;

  void request_open() { open_requested_ = true; }
  // A worker is writing, or an export is requested and not finished yet.
  bool busy() const { return busy_.load() || pending_.has_value() || !png_path_.empty(); }
  void draw(FrameContext& ctx);

  // What the dialog's Export button does (and `export` in a --script): the
  // export starts in the next draw(), from the session that frame shows, so
  // the button and a script take one code path. Returns a ticket for
  // outcome(), or 0 (and `error`) when another export is still running.
  std::uint64_t request_export(ExportFormat format, const std::string& path, std::string& error);
  // The outcome of the export with `ticket`, once it has finished: the
  // worker is done, or (PNG) the shell reported png_written().
  std::optional<ExportOutcome> outcome(std::uint64_t ticket) const;

  // PNG of the window: the shell owns the framebuffer, so the view only asks.
  // The dialog closes first and the shot is taken two frames later, so the
  // picture shows the lesson, not the export dialog. due_png() returns the
  // path once it is time (and forgets it); png_written() reports back and
  // reopens the dialog with the result.
  std::string due_png();
  // Text that travels with every export (the lesson's summary), written
  // beside the file as FILE.lesson.md; "" = none. Asked when an export starts.
  void set_attachment(std::function<std::string()> text) { attachment_ = std::move(text); }
  void png_written(bool ok, const std::string& message);

 private:
  struct Request {
    ExportFormat format = ExportFormat::jsonl;
    std::filesystem::path path;
    std::uint64_t ticket = 0;
  };
  void launch(const Request& r, const session::Session& session);
  void start(const Request& r, const session::Session& session);
  void join();

  bool open_requested_ = false;
  // Reopen the dialog with the result after a PNG: only when the shot was
  // asked for from the dialog, so a script's later screenshots stay clean.
  bool reopen_after_png_ = false;
  std::optional<Request> pending_;  // asked for, starts in the next draw()
  std::uint64_t last_ticket_ = 0;
  std::string png_path_;
  std::uint64_t png_ticket_ = 0;
  int png_delay_ = 0;
  int format_ = 0;
  char path_[512] = {};
  std::thread worker_;
  std::function<std::string()> attachment_;
  std::atomic<bool> busy_{false};
  std::atomic<double> progress_{0.0};
  // Written by the worker before busy_ goes false (release), read after (acquire).
  std::string result_;
  bool result_ok_ = false;
  std::uint64_t worker_ticket_ = 0;  // the worker's export, until draw() collects its result
  // The last finished export. UI thread only: draw() copies the worker's
  // result here once busy_ has gone false, png_written() writes it directly.
  std::uint64_t done_ticket_ = 0;
  ExportOutcome done_;
};

}  // namespace sockscope::app
