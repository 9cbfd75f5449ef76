// See ingest.h.
#include "lab/ingest.h"

#include <algorithm>
#include <iterator>

namespace sockscope::lab {

namespace {

// A function object, not a function: the sorts and searches inline it
// (through a function pointer, perf had the comparison at a tenth of
// ingest's CPU).
constexpr auto earlier = [](const trace::Event& a, const trace::Event& b) { return a.ts_ns < b.ts_ns; };

}  // namespace

std::size_t Ingest::step(std::deque<observe::ProcSnapshot> snapshots, bool all, std::uint64_t hold_from) {
  std::lock_guard lock(mutex_);
  std::size_t drained = 0;
  std::uint64_t newest_drained = 0;
  std::size_t taken = 0;  // events the last pass drained
  do {
    // Popped straight onto the end of what is pending: one copy out of the
    // ring, none through a batch buffer.
    const std::size_t start = pending_.size();
    trace::Event e;
    while (pending_.size() - start < kBatch && ring_.pop(e)) pending_.push_back(e);
    taken = pending_.size() - start;
    drained += taken;
    const auto first_new = pending_.begin() + static_cast<std::ptrdiff_t>(start);
    // Time order, stably (equal stamps keep push order), merged into what
    // is pending. Often already in order (one busy process): then both are
    // skipped.
    if (!std::is_sorted(first_new, pending_.end(), earlier)) std::stable_sort(first_new, pending_.end(), earlier);
    if (taken > 0) newest_drained = std::max(newest_drained, pending_.back().ts_ns);
    const bool after_pending = taken == 0 || start == head_ || !earlier(*first_new, pending_[start - 1]);
    if (!after_pending)
      std::inplace_merge(pending_.begin() + static_cast<std::ptrdiff_t>(head_), first_new, pending_.end(), earlier);
  } while (all && taken == kBatch);
  for (auto& snap : snapshots) {
    auto at = std::upper_bound(pending_snaps_.begin(), pending_snaps_.end(), snap.ts_ns,
                               [](std::uint64_t t, const observe::ProcSnapshot& s) { return t < s.ts_ns; });
    pending_snaps_.insert(at, std::move(snap));
  }

  // The window ends kReorderWindowNs before now; or, when the ring may hold
  // more (a full batch: ingest is behind), before the newest event drained,
  // since what is still in the ring was pushed after it; and never after a
  // /proc sample still being taken (`hold_from`) began.
  std::uint64_t end = trace::now_ns();
  if (taken == kBatch) end = std::min(end, newest_drained);
  const std::uint64_t cutoff =
      all ? UINT64_MAX : std::min(end > kReorderWindowNs ? end - kReorderWindowNs : 0, hold_from > 0 ? hold_from - 1 : 0);
  const auto first = pending_.begin() + static_cast<std::ptrdiff_t>(head_);
  const auto ready = std::upper_bound(first, pending_.end(), cutoff,
                                      [](std::uint64_t t, const trace::Event& x) { return t < x.ts_ns; });
  std::size_t snaps_ready = 0;
  while (snaps_ready < pending_snaps_.size() && pending_snaps_[snaps_ready].ts_ns <= cutoff) ++snaps_ready;
  const std::uint64_t drops = ring_.drops();
  if (ready == first && snaps_ready == 0) {
    if (drops != drops_told_) session_.write([&](session::Session& s) { s.set_drops(drops); });
    drops_told_ = drops;
    return drained;
  }
  session_.write([&](session::Session& s) {
    s.add_events(pending_.data() + head_, static_cast<std::size_t>(ready - first));
    for (std::size_t i = 0; i < snaps_ready; ++i) s.add_snapshot(std::move(pending_snaps_[i]));
    s.set_drops(drops);
  });
  drops_told_ = drops;
  // What was handed over is skipped, not erased: moving the window's worth
  // of events down on every step cost more than folding them. The vector is
  // compacted once the skipped part is kCompactRatio times what is left, so
  // an event is moved there 1/kCompactRatio times on average (compacting at
  // half, with the copy through a batch buffer, memmove was most of
  // ingest's CPU under load in perf).
  head_ = static_cast<std::size_t>(ready - pending_.begin());
  if (head_ == pending_.size()) {
    pending_.clear();
    head_ = 0;
  } else if (head_ > kCompactRatio * (pending_.size() - head_)) {
    compact();
  }
  pending_snaps_.erase(pending_snaps_.begin(), pending_snaps_.begin() + static_cast<std::ptrdiff_t>(snaps_ready));
  return drained;
}

void Ingest::compact() {
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(head_));
  head_ = 0;
}

void Ingest::discard_before(std::uint64_t ts_ns) {
  std::lock_guard lock(mutex_);
  compact();
  std::erase_if(pending_, [&](const trace::Event& e) { return e.ts_ns < ts_ns; });
  std::erase_if(pending_snaps_, [&](const observe::ProcSnapshot& s) { return s.ts_ns < ts_ns; });
}

}  // namespace sockscope::lab
