// std::source_location for clang 14 with GCC 12's libstdc++ (Debian 12), for
// the fuzz build only: fuzz/CMakeLists.txt force-includes it (-include) into
// every file when clang is older than 15.
//
// libstdc++ defines std::source_location only when the compiler has
// __builtin_source_location(), which clang gained in version 15; clang 14
// sees an empty <source_location>, and engine/trace/gate.h (gate()'s default
// argument) does not compile. Clang 14 has the older builtins libc++ used for
// the same class, so this is that class. Nothing is defined when the library
// already has one.
#pragma once

#ifdef __cplusplus
#include <source_location>

#ifndef __cpp_lib_source_location
#include <cstdint>

namespace std {

struct source_location {
  static constexpr source_location current(const char* file = __builtin_FILE(),
                                           const char* function = __builtin_FUNCTION(),
                                           std::uint_least32_t line = __builtin_LINE(),
                                           std::uint_least32_t column = __builtin_COLUMN()) noexcept {
    source_location s;
    s.file_ = file;
    s.function_ = function;
    s.line_ = line;
    s.column_ = column;
    return s;
  }
  constexpr source_location() noexcept = default;
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return function_; }
  constexpr std::uint_least32_t line() const noexcept { return line_; }
  constexpr std::uint_least32_t column() const noexcept { return column_; }

 private:
  const char* file_ = "";
  const char* function_ = "";
  std::uint_least32_t line_ = 0;
  std::uint_least32_t column_ = 0;
};

}  // namespace std
#endif
#endif
