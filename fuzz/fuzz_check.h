// What every harness shares: an invariant check that stays on in release
// builds (assert() is compiled out by NDEBUG), and the check that a parser's
// error names its file and a line of the input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

// abort() is a crash to libFuzzer: it saves the input and stops.
#define FUZZ_CHECK(cond, ...)                                                          \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      __VA_OPT__(std::fprintf(stderr, "  %s\n", std::string(__VA_ARGS__).c_str());)    \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

namespace sockscope::fuzz {

// Lines std::getline() reads from `text`: a last line without '\n' counts.
inline int line_count(std::string_view text) {
  int n = 0;
  for (char c : text) n += c == '\n';
  return n + (!text.empty() && text.back() != '\n');
}

// `error` is "<name><sep>N<after>reason" with N a line of the input (1 when
// the input is empty) and a non-empty reason. Returns N.
inline int check_line_error(const std::string& error, const std::string& name, std::string_view sep,
                            std::string_view after, std::string_view input) {
  FUZZ_CHECK(error.rfind(name + std::string(sep), 0) == 0, error);
  std::size_t i = name.size() + sep.size(), digits = 0;
  int line = 0;
  for (; i < error.size() && error[i] >= '0' && error[i] <= '9' && digits < 9; ++i, ++digits)
    line = line * 10 + (error[i] - '0');
  FUZZ_CHECK(digits > 0 && error.compare(i, after.size(), after) == 0, error);
  FUZZ_CHECK(error.size() > i + after.size(), "no reason: " + error);
  // One past the last line is allowed: "the file ends after ..." names it.
  FUZZ_CHECK(line >= 1 && line <= line_count(input) + 1, error);
  return line;
}

}  // namespace sockscope::fuzz
