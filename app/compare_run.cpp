#include "compare_run.h"

#include "lab_controller.h"

namespace sockscope::app {

CompareRun::CompareRun(LabController& lab) : lab_(lab) {}

CompareRun::~CompareRun() {
  cancel();
  if (worker_.joinable()) worker_.join();
  lab_.set_busy({});
}

bool CompareRun::start(const compare::CompareOptions& options, std::string& error) {
  if (running()) {
    error = "a comparison is already running";
    return false;
  }
  if (worker_.joinable()) worker_.join();
  if (error = options.validate(); !error.empty()) return false;
  if (auto problems = compare::limit_problems(options); !problems.empty()) {
    error = problems.front();
    return false;
  }
  lab_.stop();
  lab_.set_busy("a comparison is running (Compare window: Cancel)");
  cancel_ = false;
  running_ = true;
  {
    std::lock_guard lock(mutex_);
    status_ = Status{true, {}, {}};
    status_.progress.total = options.row_count();
  }
  last_error_.clear();
  worker_ = std::thread([this, options] {
    compare::RunHooks hooks;
    hooks.cancel = &cancel_;
    hooks.progress = [this](const compare::Progress& p) {
      std::lock_guard lock(mutex_);
      status_.progress = p;
    };
    hooks.row_done = [this](const compare::Row& r) {
      std::lock_guard lock(mutex_);
      status_.rows.push_back(r);
    };
    compare::Result result;
    try {
      result = compare::run(lab_.lab(), options, hooks);
    } catch (const std::exception& e) {
      result.options = options;
      compare::Row failed;
      failed.status = std::string("the comparison failed: ") + e.what();
      result.rows.push_back(failed);
    }
    std::lock_guard lock(mutex_);
    done_ = std::move(result);
    status_.running = false;
    running_ = false;
  });
  return true;
}

void CompareRun::cancel() { cancel_ = true; }

bool CompareRun::poll() {
  std::optional<compare::Result> done;
  {
    std::lock_guard lock(mutex_);
    done.swap(done_);
  }
  if (!done) return false;
  if (worker_.joinable()) worker_.join();
  lab_.set_busy({});
  for (const auto& r : done->rows)
    if (r.status != "ok" && r.status != "cancelled") last_error_ = r.server + ": " + r.status;
  results_.push_back(std::move(*done));
  ++finished_;
  return true;
}

CompareRun::Status CompareRun::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void CompareRun::forget(std::size_t index) {
  if (index < results_.size()) results_.erase(results_.begin() + static_cast<std::ptrdiff_t>(index));
}

}  // namespace sockscope::app
