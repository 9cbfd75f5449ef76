// Waiting on other processes and threads: poll a condition until it holds or
// a deadline passes. Tests assert on the result, so a hang fails, not blocks.
#pragma once

#include <chrono>
#include <thread>

namespace sockscope::test {

// True as soon as `pred()` holds (checked every 10 ms); false if it still
// does not after `timeout` (checked once more at the deadline).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

}  // namespace sockscope::test
