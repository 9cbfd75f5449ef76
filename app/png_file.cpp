#include "png_file.h"

#include <stb/stb_image_write.h>

#include <filesystem>

#include "session/export.h"

namespace sockscope::app {

bool write_png_file(const std::string& path, int w, int h, const unsigned char* rgb, std::string& error) {
  // Name the missing directory rather than the temp file that could not be made.
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty() && !std::filesystem::is_directory(dir, ec)) {
    error = "cannot write " + path + ": " + dir.string() +
            (std::filesystem::exists(dir, ec) ? " is not a directory" : ": no such directory");
    return false;
  }
  std::string png;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<std::size_t>(size));
  };
  if (stbi_write_png_to_func(append, &png, w, h, 3, rgb, w * 3) == 0 || png.empty()) {
    error = "cannot encode " + path + " as PNG";
    return false;
  }
  return session::write_text_file(path, png, error);
}

}  // namespace sockscope::app
