// See ingest.h.
#include "lab/ingest.h"

#include <algorithm>
#include <iterator>

namespace sockscope::lab {

namespace {

bool earlier(const trace::Event& a, const trace::Event& b) { return a.ts_ns < b.ts_ns; }

}  // namespace

std::size_t Ingest::step(std::deque<observe::ProcSnapshot> snapshots, bool all, std::uint64_t hold_from) {
  std::lock_guard lock(mutex_);
  std::size_t drained = 0;
  std::uint64_t newest_drained = 0;
  do {
    batch_.clear();
    trace::Event e;
    while (batch_.size() < kBatch && ring_.pop(e)) batch_.push_back(e);
    drained += batch_.size();
    // Time order, stably (equal stamps keep push order), merged into what
    // is pending. Often already in order (one busy process): then both are
    // skipped.
    if (!std::is_sorted(batch_.begin(), batch_.end(), earlier)) std::stable_sort(batch_.begin(), batch_.end(), earlier);
    if (!batch_.empty()) newest_drained = std::max(newest_drained, batch_.back().ts_ns);
    const bool after_pending = batch_.empty() || pending_.size() == head_ || !earlier(batch_.front(), pending_.back());
    const auto middle = static_cast<std::ptrdiff_t>(pending_.size());
    pending_.insert(pending_.end(), batch_.begin(), batch_.end());
    if (!after_pending)
      std::inplace_merge(pending_.begin() + static_cast<std::ptrdiff_t>(head_), pending_.begin() + middle,
                         pending_.end(), earlier);
  } while (all && batch_.size() == kBatch);
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
  if (batch_.size() == kBatch) end = std::min(end, newest_drained);
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
  // compacted once the skipped part is the bigger one.
  head_ = static_cast<std::size_t>(ready - pending_.begin());
  if (head_ == pending_.size()) {
    pending_.clear();
    head_ = 0;
  } else if (head_ > pending_.size() / 2) {
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
