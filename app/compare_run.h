// A comparison run from the app: compare::run() on a worker thread, on the
// app's own lab, so the process tree, totals and timeline show each server
// while it is measured. The Compare window and the script's `compare` verb
// both start it here; the finished results stay for the session, so two runs
// sit side by side.
//
// While it runs the lab belongs to it: LabController refuses Start and
// Clients (LabController::set_busy) until it is done or cancelled.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "compare/compare.h"

namespace sockscope::lab {
class Controller;
}

namespace sockscope::app {

using LabController = lab::Controller;

class CompareRun {
 public:
  explicit CompareRun(LabController& lab);
  ~CompareRun();  // cancels and joins; leaves nothing running
  CompareRun(const CompareRun&) = delete;
  CompareRun& operator=(const CompareRun&) = delete;

  // Stops whatever the lab runs and starts the comparison. False with
  // `error` (what is wrong with the options, or which limit stops it).
  bool start(const compare::CompareOptions& options, std::string& error);
  void cancel();
  bool running() const { return running_.load(); }

  // Call once a frame on the UI thread: joins a finished worker and keeps
  // its result. True when a run finished in this call.
  bool poll();

  struct Status {
    bool running = false;
    compare::Progress progress;
    std::vector<compare::Row> rows;  // the rows measured so far
  };
  Status status() const;

  // Every finished run of this session, oldest first (cancelled ones too,
  // marked incomplete).
  const std::vector<compare::Result>& results() const { return results_; }
  void forget(std::size_t index);
  // How many runs have finished (a script waits for this to grow).
  std::uint64_t finished() const { return finished_; }
  // The last error a start() or a run reported.
  const std::string& last_error() const { return last_error_; }

 private:
  LabController& lab_;
  std::thread worker_;
  std::atomic<bool> running_{false};
  std::atomic<bool> cancel_{false};
  mutable std::mutex mutex_;  // guards status_ and done_
  Status status_;
  std::optional<compare::Result> done_;
  std::vector<compare::Result> results_;
  std::uint64_t finished_ = 0;
  std::string last_error_;
};

}  // namespace sockscope::app
