// The timeline window: one lane per process and per thread, spans for what
// each was doing, markers for events, arrows for fork/spawn/handoff (all
// computed by session::TimelineIndex; this file only draws and handles
// input). Zoom with the mouse wheel or +/-, pan by dragging or with the arrow
// keys, from the whole session down to a microsecond.
//
// It also owns the *selected instant*: click the timeline (or use the replay
// controls) to pick one; AppUi then folds the session at that instant and
// every other view shows the state there. No instant = follow the newest data
// (live) or show the end (replay). Replay controls: go to start, step back one
// event, play/pause with a speed, step forward one event, back to live/end.
//
// OpenSessionDialog (File → Open) lives here too: it reads a JSON Lines
// session and hands it to the shell, or shows the file's line and reason.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "frame.h"
#include "session/timeline.h"

namespace sockscope::app {

// What the time axis spans: from the session's first event or snapshot to its
// end (the newest data; "now" while a live lab runs). nullopt while there are
// no events: an axis from 0 to "now" (the machine's uptime) would measure
// nothing, so the view shows a hint instead.
struct AxisRange {
  std::uint64_t first_ns = 0;
  std::uint64_t end_ns = 0;
};
std::optional<AxisRange> timeline_axis_range(const session::Session& s, std::uint64_t now_ns, bool live);
inline constexpr const char* kTimelineEmptyHint = "No events yet: start a server and connect clients.";

class TimelineView {
 public:
  // Advances playback by the frame's time; call once per frame before the
  // other views read instant().
  void tick(const session::Session& s, double dt_s);
  void draw(FrameContext& ctx);

  // The instant the other views show; nullopt = live / the end.
  std::optional<std::uint64_t> instant() const { return instant_; }
  void set_instant(std::optional<std::uint64_t> t) { instant_ = t; }
  bool playing() const { return playing_; }
  // Replay controls (also used by tests and the shell's shortcuts).
  void play(const session::Session& s);
  void pause() { playing_ = false; }
  void step(const session::Session& s, int direction);  // ±1 event
  void set_speed(double x) { speed_ = x; }
  double speed() const { return speed_; }

  // The visible time range (for tests): set explicitly, or fit the session.
  void set_range(std::uint64_t t0, std::uint64_t t1);
  void fit() { fit_ = true; }
  std::uint64_t range_t0() const { return static_cast<std::uint64_t>(t0_); }
  std::uint64_t range_t1() const { return static_cast<std::uint64_t>(t0_ + span_); }

  const session::TimelineIndex& index() const { return index_; }
  const session::TimelineLayout& last_layout() const { return layout_; }
  // The axis drawn in the last frame; nullopt = none (no events: the hint
  // instead; or no room).
  const std::optional<AxisRange>& last_axis() const { return axis_; }

 private:
  void controls(FrameContext& ctx);
  void canvas(FrameContext& ctx);
  void zoom(double factor, double anchor_t);
  void clamp_range(std::uint64_t first, std::uint64_t end);

  session::TimelineIndex index_;
  session::TimelineLayout layout_;
  std::optional<AxisRange> axis_;
  std::optional<std::uint64_t> instant_;
  bool playing_ = false;
  double speed_ = 1.0;
  double play_pos_ = 0.0;  // fractional ns, so slow speeds still move
  // Visible range: [t0_, t0_ + span_] in trace ns.
  double t0_ = 0.0;
  double span_ = 1e9;
  bool fit_ = true;     // show the whole session (until the user zooms or pans)
  bool follow_ = true;  // keep the right edge on the newest data
  bool dragging_ = false;
  float drag_moved_ = 0.0f;
};

class OpenSessionDialog {
 public:
  void request_open() { open_requested_ = true; }
  // Draws the modal; on success fills `opened` and `title`.
  void draw(std::optional<session::Session>& opened, std::string& title);
  const std::string& error() const { return error_; }
  // Opens `path` now (the dialog's button; tests): true on success.
  bool open(const std::string& path, std::optional<session::Session>& opened, std::string& title);

 private:
  bool open_requested_ = false;
  char path_[512] = {};
  std::string error_;
};

}  // namespace sockscope::app
