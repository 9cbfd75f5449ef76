// Fonts: DejaVu from the system (fonts-dejavu-core), found at run time, with
// ImGui's built-in font as the fallback. Rebuilt when the text size changes.
#pragma once

namespace sockscope::app {

// Clears the atlas and loads regular, bold and mono at `px` × `scale` (the
// monitor's content scale), registering them in style::fonts(). Returns false
// when the system fonts were missing and ImGui's default font is used.
// Call between frames; the renderer's font texture must be rebuilt after.
bool load_fonts(float px, float scale);

}  // namespace sockscope::app
