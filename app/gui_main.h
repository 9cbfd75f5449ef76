// The window: GLFW, OpenGL 3.3 core, Dear ImGui. Owns the lab for the GUI
// session and runs the frame loop; everything drawn comes from AppUi.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "session/session.h"
#include "settings.h"

namespace sockscope::app {

struct GuiOptions {
  std::string script;       // --script FILE
  std::string screenshot;   // --screenshot FILE
  float font_px = 0.0f;     // --font-size PX (0 = settings)
  std::string theme;        // --theme dark|light ("" = settings)
  int port = 0;             // --port N (0 = 4481 or the next free one)
  int width = 0, height = 0;  // --geometry WxH (0 = settings, or the screen's work area)
  bool fullscreen = false;    // --fullscreen
  std::string lesson;         // --lesson LESSON, `lesson LESSON`: open on it
};

// Runs the GUI on the default lesson (a live lab). Returns the exit code.
int run_gui(const GuiOptions& options);
// Runs the GUI on a recorded session (no lab).
int run_gui_replay(const GuiOptions& options, session::Session recording, const std::string& title);

}  // namespace sockscope::app
