// The status bar along the bottom of the window: server state, events/s, ring
// drops (red when any), FPS. Stateless.
#pragma once

#include "frame.h"

namespace sockscope::app {

// Height the bar takes at the current font size (the shell keeps windows above it).
float status_bar_height();
void draw_status_bar(FrameContext& ctx);

}  // namespace sockscope::app
