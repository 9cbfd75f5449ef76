// The session's chunked event store: read like a vector, appended without
// moving what it holds, late events shifted into place across chunks.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "session/event_store.h"
#include "session/session.h"
#include "support/events.h"

using namespace sockscope;
using session::EventStore;

namespace {

constexpr std::size_t kChunk = EventStore::kChunk;

trace::Event at(std::uint64_t ts) { return test::event(ts, 1, trace::Kind::read, static_cast<std::uint32_t>(ts)); }

}  // namespace

TEST(EventStore, AppendsAcrossChunksWithoutMovingWhatItHolds) {
  EventStore store;
  store.push_back(at(0));
  const trace::Event* first = &store[0];
  for (std::uint64_t t = 1; t < 3 * kChunk + 5; ++t) store.push_back(at(t));
  EXPECT_EQ(store.size(), 3 * kChunk + 5);
  EXPECT_EQ(store.chunks(), 4u);
  EXPECT_EQ(&store[0], first);  // a vector would have moved it several times
  for (std::size_t i = 0; i < store.size(); ++i) ASSERT_EQ(store[i].ts_ns, i);
  EXPECT_EQ(store.front().ts_ns, 0u);
  EXPECT_EQ(store.back().ts_ns, 3 * kChunk + 4);
}

TEST(EventStore, IteratesAndSearchesLikeAVector) {
  EventStore store;
  std::vector<trace::Event> vec;
  for (std::uint64_t t = 0; t < kChunk + 100; ++t) {
    store.push_back(at(2 * t));
    vec.push_back(at(2 * t));
  }
  auto ts_less = [](const trace::Event& e, std::uint64_t t) { return e.ts_ns < t; };
  for (std::uint64_t t : {0ull, 1ull, 2ull * kChunk, 2ull * kChunk + 1, 2ull * kChunk + 199, 2ull * kChunk + 500}) {
    auto a = std::lower_bound(store.begin(), store.end(), t, ts_less) - store.begin();
    auto b = std::lower_bound(vec.begin(), vec.end(), t, ts_less) - vec.begin();
    EXPECT_EQ(a, b) << t;
  }
  std::size_t n = 0;
  for (const auto& e : store) EXPECT_EQ(e.ts_ns, vec[n++].ts_ns);
  EXPECT_EQ(n, vec.size());
  EXPECT_EQ(store.rbegin()->ts_ns, vec.back().ts_ns);
  EXPECT_EQ((store.end() - 1)->ts_ns, vec.back().ts_ns);
}

TEST(EventStore, ALateEventIsShiftedIntoPlaceAcrossAChunkBoundary) {
  EventStore store;
  for (std::uint64_t t = 0; t < kChunk + 10; ++t) store.push_back(at(10 * t));
  // Belongs just before the chunk boundary: the tail moves one place.
  const std::uint64_t late = 10 * (kChunk - 3) + 5;
  store.insert(kChunk - 2, at(late));
  EXPECT_EQ(store.size(), kChunk + 11);
  EXPECT_TRUE(std::is_sorted(store.begin(), store.end(),
                             [](const trace::Event& a, const trace::Event& b) { return a.ts_ns < b.ts_ns; }));
  EXPECT_EQ(store[kChunk - 2].ts_ns, late);
  EXPECT_EQ(store.back().ts_ns, 10 * (kChunk + 9));
}

TEST(EventStore, ACopyKeepsAppendingAndTheSessionStoresLateEventsInOrder) {
  session::Session s;
  for (std::uint64_t t = 0; t < kChunk + 3; ++t) s.add_event(at(100 + 2 * t));
  session::Session copy = s;
  copy.add_event(at(100 + 2 * (kChunk + 3)));
  copy.add_event(at(101));  // late: between the first two
  ASSERT_EQ(copy.events().size(), kChunk + 5);
  EXPECT_EQ(copy.events()[1].ts_ns, 101u);
  EXPECT_TRUE(std::is_sorted(copy.events().begin(), copy.events().end(),
                             [](const trace::Event& a, const trace::Event& b) { return a.ts_ns < b.ts_ns; }));
  EXPECT_EQ(s.events().size(), kChunk + 3);  // the original is untouched
}
