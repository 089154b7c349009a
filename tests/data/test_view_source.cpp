// The two view sources the training loop reads (data/view_source.h): the batched source gives exactly
// make_two_views of each slice of the order; the loader source gives the same batches whatever its worker
// count, on the device, one per slice.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "flatclr/data/augment_batch.h"
#include "flatclr/data/augment_image.h"
#include "flatclr/data/loader.h"
#include "flatclr/data/view_source.h"

using namespace flatclr;

TEST(ViewSource, BatchedSourceIsMakeTwoViewsOfEachSliceOfTheOrder) {
  torch::manual_seed(3);
  auto images = torch::randint(0, 256, {20, 3, 8, 8}, torch::kUInt8);
  const auto aug = data::AugmentConfig::for_dataset("cifar10", 8);
  data::BatchedViewSource source(images, aug, /*seed=*/5, torch::kCPU);
  const std::vector<int64_t> order{7, 3, 19, 0, 4, 11};
  for (int64_t epoch : {0, 2}) {
    source.start_epoch(epoch, order, 3);
    for (int b = 0; b < 2; ++b) {
      std::vector<int64_t> slice(order.begin() + 3 * b, order.begin() + 3 * b + 3);
      auto want = data::make_two_views(images.index_select(0, torch::tensor(slice, torch::kLong)), slice, aug,
                                       5, epoch);
      auto got = source.next();
      ASSERT_EQ(got.sizes(), (at::IntArrayRef{6, 3, 8, 8}));
      EXPECT_TRUE(torch::equal(got, want)) << "epoch " << epoch << " batch " << b;
    }
  }
  EXPECT_EQ(source.wait_seconds(), 0.0);
}

TEST(ViewSource, LoaderSourceBatchesDoNotDependOnTheWorkers) {
  torch::manual_seed(4);
  auto images =
      std::make_shared<data::MemoryImageSource>(torch::randint(0, 256, {12, 3, 8, 8}, torch::kUInt8));
  const std::vector<int64_t> order{5, 1, 9, 2, 8, 0, 11, 3};
  std::vector<at::Tensor> batches[2];
  for (int workers : {0, 2}) {
    data::LoaderOptions lo;
    lo.workers = workers;
    lo.augment = data::per_image_config(/*small=*/true, 8);
    lo.seed = 9;
    data::LoaderViewSource source(images, lo, torch::kCPU);
    source.start_epoch(1, order, 4);
    for (int b = 0; b < 2; ++b) batches[workers == 0 ? 0 : 1].push_back(source.next());
    EXPECT_GE(source.wait_seconds(), 0.0);
  }
  for (int b = 0; b < 2; ++b) {
    ASSERT_EQ(batches[0][b].sizes(), (at::IntArrayRef{8, 3, 8, 8}));
    EXPECT_EQ(batches[0][b].scalar_type(), at::kFloat);
    EXPECT_TRUE(torch::equal(batches[0][b], batches[1][b])) << b;
  }
}
