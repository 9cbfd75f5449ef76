// File → Export: writes the session in the engine's formats (JSON Lines,
// Chrome trace, CSV, narrative) on a worker thread, from a copy taken in the
// frame (under the read lock), with a progress bar. The UI never blocks on it.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "frame.h"

namespace sockscope::app {

class ExportView {
 public:
  ExportView();
  ~ExportView();  // waits for a running export
  ExportView(const ExportView&) = delete;
  ExportView& operator=(const ExportView&) = delete;

  void request_open() { open_requested_ = true; }
  bool busy() const { return busy_.load(); }
  void draw(FrameContext& ctx);

  // PNG of the window: the shell owns the framebuffer, so the view only asks.
  // The dialog closes first and the shot is taken two frames later, so the
  // picture shows the lesson, not the export dialog. due_png() returns the
  // path once it is time (and forgets it); png_written() reports back and
  // reopens the dialog with the result.
  std::string due_png();
  void png_written(bool ok, const std::string& message);

 private:
  void start(const session::Session& session);
  void join();

  bool open_requested_ = false;
  std::string png_path_;
  int png_delay_ = 0;
  int format_ = 0;
  char path_[512] = {};
  std::thread worker_;
  std::atomic<bool> busy_{false};
  std::atomic<double> progress_{0.0};
  // Written by the worker before busy_ goes false (release), read after (acquire).
  std::string result_;
  bool result_ok_ = false;
};

}  // namespace sockscope::app
