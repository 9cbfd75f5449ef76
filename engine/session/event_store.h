// The session's events in time order, kept in fixed chunks.
//
// A std::vector doubles when it fills: at three million events that is a
// 200 MB copy and as many fresh page faults, on the ingest thread, while the
// trace ring fills behind it and drops what the servers push. Here an event,
// once stored, never moves (but for the short shift a late event causes, see
// insert()): appending fills the last chunk of kChunk events, and a full one
// is followed by a new chunk. Indices and a random-access iterator read it as
// they would a vector, so the folds, the timeline and the exporters do not
// care.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <vector>

#include "trace/event.h"

namespace sockscope::session {

class EventStore {
 public:
  static constexpr std::size_t kChunkBits = 14;
  static constexpr std::size_t kChunk = std::size_t{1} << kChunkBits;  // 16,384 events, 1 MiB

  using value_type = trace::Event;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using reference = const trace::Event&;
  using const_reference = const trace::Event&;

  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = trace::Event;
    using difference_type = std::ptrdiff_t;
    using pointer = const trace::Event*;
    using reference = const trace::Event&;

    const_iterator() = default;
    const_iterator(const EventStore* store, std::size_t index) : store_(store), index_(index) {}

    reference operator*() const { return (*store_)[index_]; }
    pointer operator->() const { return &(*store_)[index_]; }
    reference operator[](difference_type n) const { return (*store_)[index_ + static_cast<std::size_t>(n)]; }
    const_iterator& operator++() {
      ++index_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator t = *this;
      ++index_;
      return t;
    }
    const_iterator& operator--() {
      --index_;
      return *this;
    }
    const_iterator operator--(int) {
      const_iterator t = *this;
      --index_;
      return t;
    }
    const_iterator& operator+=(difference_type n) {
      index_ = static_cast<std::size_t>(static_cast<difference_type>(index_) + n);
      return *this;
    }
    const_iterator& operator-=(difference_type n) { return *this += -n; }
    friend const_iterator operator+(const_iterator it, difference_type n) { return it += n; }
    friend const_iterator operator+(difference_type n, const_iterator it) { return it += n; }
    friend const_iterator operator-(const_iterator it, difference_type n) { return it -= n; }
    friend difference_type operator-(const const_iterator& a, const const_iterator& b) {
      return static_cast<difference_type>(a.index_) - static_cast<difference_type>(b.index_);
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) { return a.index_ == b.index_; }
    friend auto operator<=>(const const_iterator& a, const const_iterator& b) { return a.index_ <=> b.index_; }

    std::size_t index() const { return index_; }

   private:
    const EventStore* store_ = nullptr;
    std::size_t index_ = 0;
  };
  using iterator = const_iterator;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const trace::Event& operator[](std::size_t i) const { return chunks_[i >> kChunkBits][i & (kChunk - 1)]; }
  const trace::Event& front() const { return (*this)[0]; }
  const trace::Event& back() const { return (*this)[size_ - 1]; }
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size_}; }
  const_reverse_iterator rbegin() const { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const { return const_reverse_iterator(begin()); }

  void push_back(const trace::Event& e) {
    if (chunks_.empty() || chunks_.back().size() == kChunk) {
      chunks_.emplace_back();
      chunks_.back().reserve(kChunk);
    } else if (chunks_.back().capacity() < kChunk) {
      chunks_.back().reserve(kChunk);  // a copied store's last chunk holds only what it had
    }
    chunks_.back().push_back(e);
    ++size_;
  }

  // Puts `e` at `index`, moving the events from there on one place back. A
  // late event (stamped earlier by another process, pushed later) belongs a
  // few hundred places from the end, so the shift is short.
  void insert(std::size_t index, const trace::Event& e) {
    if (index >= size_) {
      push_back(e);
      return;
    }
    push_back(back());
    for (std::size_t i = size_ - 2; i > index; --i) at(i) = at(i - 1);
    at(index) = e;
  }

  void clear() {
    chunks_.clear();
    size_ = 0;
  }

  // The number of chunks (for tests and benchmarks).
  std::size_t chunks() const { return chunks_.size(); }

 private:
  trace::Event& at(std::size_t i) { return chunks_[i >> kChunkBits][i & (kChunk - 1)]; }

  std::vector<std::vector<trace::Event>> chunks_;  // each reserved to kChunk, full but for the last
  std::size_t size_ = 0;
};

}  // namespace sockscope::session
