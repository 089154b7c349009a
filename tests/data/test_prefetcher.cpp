// The prefetching engine under both loaders: every item of the order once, in order, whatever the worker
// count and prefetch depth; short last batch or drop_last; items that fail are flagged, errors rethrown,
// and a new epoch may start before the last one was consumed.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <numeric>
#include <stdexcept>

#include "flatclr/core/error.h"
#include "flatclr/data/prefetcher.h"

namespace {

using flatclr::data::PrefetchedBatch;
using flatclr::data::Prefetcher;

// Row r of a batch holds 10 * item; items divisible by 7 "fail".
Prefetcher make(int workers, int prefetch) {
  return Prefetcher(
      workers, prefetch, [](int64_t rows) { return torch::full({rows}, -1, torch::kLong); },
      [](int64_t item, int64_t row, int64_t, const at::Tensor& batch) {
        if (item == 99) throw std::runtime_error("item 99");
        batch.data_ptr<int64_t>()[row] = 10 * item;
        return item % 7 != 0;
      });
}

}  // namespace

TEST(Prefetcher, EveryItemOnceInOrderForAnyWorkerCount) {
  std::vector<int64_t> order(23);
  std::iota(order.rbegin(), order.rend(), 1);  // 23, 22, ..., 1
  for (auto [workers, prefetch] : {std::pair{0, 1}, std::pair{1, 1}, std::pair{3, 2}, std::pair{4, 6}}) {
    for (bool drop_last : {false, true}) {
      auto p = make(workers, prefetch);
      p.start(order, 5, drop_last);
      ASSERT_EQ(p.batches(), drop_last ? 4 : 5);
      std::vector<int64_t> seen;
      for (int64_t b = 0; b < p.batches(); ++b) {
        const PrefetchedBatch batch = p.next();
        EXPECT_EQ(batch.rows, b == 4 ? 3 : 5);
        ASSERT_EQ(batch.data.size(0), batch.rows);
        for (int64_t r = 0; r < batch.rows; ++r) {
          const int64_t item = batch.items[static_cast<size_t>(r)];
          seen.push_back(item);
          EXPECT_EQ(batch.data[r].item<int64_t>(), 10 * item);
          EXPECT_EQ(batch.ok[static_cast<size_t>(r)] != 0, item % 7 != 0) << item;
        }
      }
      std::vector<int64_t> want(order.begin(), order.begin() + (drop_last ? 20 : 23));
      EXPECT_EQ(seen, want) << workers << " workers, prefetch " << prefetch;
      EXPECT_THROW(p.next(), flatclr::InternalError);
      EXPECT_GE(p.wait_seconds(), 0.0);
    }
  }
}

TEST(Prefetcher, ErrorsComeBackAndANewEpochStartsCleanly) {
  auto p = make(2, 2);
  p.start({1, 2, 99, 3, 4, 5}, 2, false);
  EXPECT_EQ(p.next().items, (std::vector<int64_t>{1, 2}));  // whole, though a later batch failed
  EXPECT_THROW(p.next(), std::runtime_error);
  // A new epoch before the old one was consumed: its own items only.
  p.start({8, 9, 10}, 2, false);
  EXPECT_EQ(p.next().items, (std::vector<int64_t>{8, 9}));
  p.start({11}, 2, false);
  const auto last = p.next();
  EXPECT_EQ(last.items, (std::vector<int64_t>{11}));
  EXPECT_EQ(last.data[0].item<int64_t>(), 110);
}
