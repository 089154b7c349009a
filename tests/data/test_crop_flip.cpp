#include <gtest/gtest.h>
#include <torch/torch.h>

#include "flatclr/data/crop_flip.h"

using namespace flatclr;

TEST(RandomCropFlip, EachOutputIsAPaddedCropOrItsMirror) {
  torch::manual_seed(0);
  auto images = torch::rand({64, 3, 8, 8});
  std::vector<int64_t> idx(64);
  for (int i = 0; i < 64; ++i) idx[i] = 1000 + i;
  auto out = data::random_crop_flip(images, idx, 2, 7, 3);
  auto padded = torch::constant_pad_nd(images, {2, 2, 2, 2}, 0);
  int flips = 0;
  for (int64_t b = 0; b < 64; ++b) {
    bool found = false;
    for (int64_t i = 0; i <= 4 && !found; ++i) {
      for (int64_t j = 0; j <= 4 && !found; ++j) {
        auto crop = padded[b].slice(1, i, i + 8).slice(2, j, j + 8);
        if (torch::allclose(out[b], crop, 0, 1e-6)) found = true;
        if (!found && torch::allclose(out[b], crop.flip({2}), 0, 1e-6)) {
          found = true;
          ++flips;
        }
      }
    }
    EXPECT_TRUE(found) << "image " << b;
  }
  EXPECT_GT(flips, 15);
  EXPECT_LT(flips, 49);
  // Deterministic per (seed, epoch, index); another epoch differs.
  EXPECT_TRUE(torch::equal(out, data::random_crop_flip(images, idx, 2, 7, 3)));
  EXPECT_FALSE(torch::equal(out, data::random_crop_flip(images, idx, 2, 7, 4)));
}
