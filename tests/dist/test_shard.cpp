// rank_slice: the ranks' slices are disjoint, contiguous and together the global batch in its order.
#include <gtest/gtest.h>

#include "flatclr/dist/shard.h"

namespace flatclr::dist {
namespace {

TEST(Shard, SlicesConcatenateToTheGlobalBatch) {
  const std::vector<int64_t> global{9, 4, 7, 1, 0, 3, 8, 2};
  for (int w : {1, 2, 4, 8}) {
    std::vector<int64_t> joined;
    for (int r = 0; r < w; ++r) {
      auto s = rank_slice(global, r, w);
      EXPECT_EQ(s.size(), global.size() / w);
      joined.insert(joined.end(), s.begin(), s.end());
    }
    EXPECT_EQ(joined, global) << "world " << w;
  }
  EXPECT_EQ(rank_slice(global, 1, 2), (std::vector<int64_t>{0, 3, 8, 2}));
}

}  // namespace
}  // namespace flatclr::dist
