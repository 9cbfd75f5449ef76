// Writing a PNG of the window (or a crop of it): encoded in memory, then
// written like every export (a temp name in the same directory, checked
// writes, fsync, rename). stb's own file writer ignores write errors, so a
// full disk used to leave a truncated PNG that was reported as written.
#pragma once

#include <string>

namespace sockscope::app {

// `rgb`: w * h pixels, 3 bytes each, rows top to bottom. False, with `error`
// naming the path and the reason, when nothing (or not all) could be written;
// then no file and no temp file is left.
bool write_png_file(const std::string& path, int w, int h, const unsigned char* rgb, std::string& error);

}  // namespace sockscope::app
