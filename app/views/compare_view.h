// The Compare window: choose architectures, reference servers, clients and a
// scenario; Run measures each in turn on the lab (the tree and totals beside
// it show the one being measured), with progress and Cancel; the results are
// a table and bar charts drawn with ImDrawList, one colour per server and the
// number on every bar, and a line chart per cost when the clients were a
// sweep (10,100,1000). Every finished run stays for the session; ticking two
// puts them side by side. Export writes .md, .csv, .json or a PNG of the
// charts.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compare/compare.h"
#include "frame.h"
#include "layout.h"

namespace sockscope::app {

class CompareRun;

class CompareView {
 public:
  void draw(FrameContext& ctx, CompareRun* run);
  // Every frame, drawn or not (the window may be closed, or another one
  // presented): collects a finished run, so the lab is freed and a script
  // waiting for it goes on.
  void update(CompareRun& run);

  // The form as options (what Run would start), for the script and tests.
  compare::CompareOptions options() const;
  // Starts `o` on `run` as the Run button does. False with `error`.
  bool start(CompareRun& run, const compare::CompareOptions& o, std::string& error);

  // Export of the shown results: .md, .csv, .json now; .png is written by
  // the shell after the next frame (due_png / png_written), of the charts
  // only. Returns false with `error` when nothing can be exported.
  bool request_export(const CompareRun& run, const std::string& path, std::string& error);
  struct PngRequest {
    std::string path;
    Rect crop;  // window coordinates (logical pixels)
  };
  std::optional<PngRequest> due_png();
  void png_written(bool ok, const std::string& message);
  // The message of the last export ("exported x.png", or why not).
  const std::string& export_message() const { return export_message_; }
  std::uint64_t exports_done() const { return exports_done_; }

 private:
  void draw_form(CompareRun& run);
  void draw_progress(CompareRun& run, FrameContext& ctx);
  void draw_results(CompareRun& run);
  void draw_export(const CompareRun& run);
  // The results ticked for showing, as (run number, result).
  std::vector<std::pair<std::size_t, const compare::Result*>> shown(const CompareRun& run) const;

  std::vector<bool> arch_on_;  // by servers::architectures() index
  std::vector<bool> ref_on_;   // by compare::references() index
  int protocol_ = 0;           // 0 http, 1 ftp
  char clients_[64] = "50";
  int scenario_ = -1;          // index into the scenario list; -1 = keepalive
  float duration_s_ = 3.0f;
  bool trace_ = true;
  std::string form_error_;
  bool fold_form_ = false;  // close the form next frame (a run started or finished)

  std::vector<bool> run_shown_;  // by result index
  std::size_t results_seen_ = 0;
  char export_path_[256] = "compare.md";
  std::string export_message_;
  std::uint64_t exports_done_ = 0;
  std::optional<Rect> charts_rect_;       // where the charts were drawn last frame
  std::optional<std::string> png_pending_;
  int png_delay_ = 0;
};

}  // namespace sockscope::app
