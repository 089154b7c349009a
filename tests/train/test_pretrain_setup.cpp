// The set-up of a pretraining run, in-process on a small synthetic image folder
// (tests/train/synthetic_folder.h): the colour jitter strength in effect (the given one, else a resumed run's
// own, else the dataset's) reaches the batched and the per-image view sources and config.json, and a resumed
// run keeps it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <vector>

#include "flatclr/data/augment_batch.h"
#include "flatclr/train/pretrain.h"
#include "flatclr/train/pretrain_setup.h"
#include "flatclr/train/run_config.h"
#include "synthetic_folder.h"

using namespace flatclr;
namespace fs = std::filesystem;

namespace {

train::PretrainConfig small_config(const fs::path& root, bool faster_version) {
  train::PretrainConfig c;
  c.data.root = root.string();
  c.data.dataset_name = "synthetic";
  c.data.download = false;
  c.data.workers = 1;
  c.faster_version = faster_version;
  c.model.arch = models::Arch::kRes10;
  c.model.width_multiplier = 0.125;
  c.batch_size = 8;
  c.epochs = 1;
  c.warmup_epochs = 0;
  c.lr = 0.3;
  c.save_every_n_epochs = 1;
  c.save_dir = (root / "results").string();
  c.run.progress = core::ProgressMode::kNone;
  c.tensorboard = false;
  c.plots = false;
  c.run.threads = 2;
  c.precision = core::Precision::kFp32;
  return c;
}

std::unique_ptr<train::PretrainSetup> setup(train::PretrainConfig c) {
  c.validate();
  c.resolve();
  return train::setup_pretraining(c);
}

// The first batch of epoch 1 as the view source makes it: [16, 3, 16, 16].
at::Tensor first_views(train::PretrainSetup& s, const std::vector<int64_t>& order) {
  s.views->start_epoch(1, order, 8);
  return s.views->next();
}

std::vector<int64_t> first_order() {
  std::vector<int64_t> order(8);
  std::iota(order.begin(), order.end(), 20);
  return order;
}

double in_effect(const train::PretrainConfig& c, const train::RunStart& start) {
  return nlohmann::json::parse(train::run_config_json(c, start))["color_jitter_strength_in_effect"];
}

}  // namespace

TEST(PretrainSetup, TheBatchedViewsTakeTheGivenColorJitterStrengthOrTheDatasets) {
  const fs::path root = flatclr::testing::write_synthetic_folder("flatclr_setup_batched");
  const auto order = first_order();
  auto c = small_config(root, /*faster_version=*/true);
  auto dataset = setup(c);
  ASSERT_TRUE(dataset->source.small);
  EXPECT_DOUBLE_EQ(dataset->start.color_jitter_strength, 0.5);  // 16x16 images: the CIFAR-sized default
  EXPECT_DOUBLE_EQ(in_effect(c, dataset->start), 0.5);
  c.color_jitter_strength = 0.25;
  auto weak = setup(c);
  EXPECT_DOUBLE_EQ(weak->start.color_jitter_strength, 0.25);
  EXPECT_DOUBLE_EQ(in_effect(c, weak->start), 0.25);
  // The views are make_two_views' at s = 0.25, and differ from the dataset's.
  const auto idx = torch::tensor(order, torch::kLong);
  const auto expected =
      data::make_two_views(weak->train_set.images.index_select(0, idx), order,
                           data::AugmentConfig::for_dataset("cifar10", 16, 0.25), /*seed=*/42, /*epoch=*/1);
  const auto got = first_views(*weak, order);
  EXPECT_TRUE(torch::equal(got, expected));
  EXPECT_FALSE(torch::equal(got, first_views(*dataset, order)));
  fs::remove_all(root);
}

TEST(PretrainSetup, ThePerImageViewsTakeTheColorJitterStrength) {
  const fs::path root = flatclr::testing::write_synthetic_folder("flatclr_setup_per_image");
  const auto order = first_order();
  auto c = small_config(root, /*faster_version=*/false);
  const auto dataset = first_views(*setup(c), order);
  c.color_jitter_strength = 0.5;  // the dataset's, given: the same views
  EXPECT_TRUE(torch::equal(first_views(*setup(c), order), dataset));
  c.color_jitter_strength = 0.0;
  auto off = setup(c);
  EXPECT_DOUBLE_EQ(off->start.color_jitter_strength, 0.0);
  EXPECT_FALSE(torch::equal(first_views(*off, order), dataset));
  fs::remove_all(root);
}

TEST(PretrainSetup, BothViewSourcesCropAtLeastTheGivenScale) {
  const fs::path root = flatclr::testing::write_synthetic_folder("flatclr_setup_crop_scale");
  const auto order = first_order();
  for (const bool faster : {true, false}) {
    auto c = small_config(root, faster);
    const auto paper = first_views(*setup(c), order);
    c.crop_min_scale = 0.08;  // the default, given: the same views
    EXPECT_TRUE(torch::equal(first_views(*setup(c), order), paper)) << faster;
    c.crop_min_scale = 1.0;  // the whole image every time: the crop no longer varies
    const auto whole = first_views(*setup(c), order);
    EXPECT_FALSE(torch::equal(whole, paper)) << faster;
    if (faster) {
      // make_two_views with scale_min 1: every crop box is the full 16x16 image.
      auto aug = data::AugmentConfig::for_dataset("cifar10", 16);
      aug.scale_min = 1.0;
      auto s = setup(c);
      const auto idx = torch::tensor(order, torch::kLong);
      const auto expected = data::make_two_views(s->train_set.images.index_select(0, idx), order, aug,
                                                 /*seed=*/42, /*epoch=*/1);
      EXPECT_TRUE(torch::equal(whole, expected));
    }
  }
  fs::remove_all(root);
}

TEST(PretrainSetup, AResumedRunKeepsItsColorJitterStrengthUnlessGivenAnother) {
  const fs::path root = flatclr::testing::write_synthetic_folder("flatclr_setup_resume");
  auto c = small_config(root, /*faster_version=*/true);
  c.color_jitter_strength = 0.25;
  c.validate();
  c.resolve();
  const auto result = train::pretrain(c, {});
  const auto config = nlohmann::json::parse(std::ifstream(fs::path(result.run_dir) / "config.json"));
  EXPECT_EQ(config["color_jitter_strength"], 0.25);
  EXPECT_EQ(config["color_jitter_strength_in_effect"], 0.25);

  auto resumed = small_config(root, /*faster_version=*/true);
  resumed.epochs = 2;
  resumed.log_dir = result.run_dir;
  resumed.train_from = "checkpoint_0001.pth.tar";
  auto kept = setup(resumed);  // not given: the checkpoint's
  EXPECT_DOUBLE_EQ(kept->start.color_jitter_strength, 0.25);
  EXPECT_DOUBLE_EQ(in_effect(resumed, kept->start), 0.25);
  const auto order = first_order();
  const auto kept_views = first_views(*kept, order);
  kept.reset();
  resumed.color_jitter_strength = 1.0;  // given: this one
  auto given = setup(resumed);
  EXPECT_DOUBLE_EQ(given->start.color_jitter_strength, 1.0);
  EXPECT_FALSE(torch::equal(first_views(*given, order), kept_views));
  given.reset();
  resumed.color_jitter_strength = 0.25;
  EXPECT_TRUE(torch::equal(first_views(*setup(resumed), order), kept_views));
  fs::remove_all(root);
}
