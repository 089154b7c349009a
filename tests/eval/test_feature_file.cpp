// Fixed features on disk: the file holds what extract_features computes (exactly in float32, rounded to
// float16 otherwise), its labels, and disappears with its object; a feature beyond float16's range is an
// error naming the remedy. The precision chosen for ImageNet-sized runs, float16, is checked where it
// matters: a probe trained on float16-rounded features (gathered row by row from the CPU, as from the
// memory-mapped file) reaches the float32 features' accuracy within 0.5 points.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "flatclr/core/error.h"
#include "flatclr/eval/accuracy.h"
#include "flatclr/eval/feature_file.h"
#include "flatclr/eval/features.h"
#include "flatclr/eval/linear_probe.h"

namespace fs = std::filesystem;
using namespace flatclr;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("flatclr_feature_file_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

models::ResNet tiny() {
  torch::manual_seed(1);
  models::ResNetOptions o;
  o.arch = models::Arch::kRes10;
  o.width_multiplier = 0.125;
  return models::ResNet(o);
}

std::shared_ptr<const data::LabelledSplit> random_split(int64_t n) {
  torch::manual_seed(2);
  data::Dataset ds;
  ds.images = torch::randint(0, 256, {n, 3, 16, 16}, torch::kLong).to(torch::kByte);
  ds.labels = torch::randint(0, 3, {n}, torch::kLong);
  ds.num_classes = 3;
  return std::make_shared<const data::LabelledSplit>(data::LabelledSplit::in_memory(ds));
}

// Features shaped like pooled ReLU outputs (>= 0, a few units, class signal buried in noise) so that the
// probe is far from 100 %: 10 classes in 128 dimensions.
struct Features {
  at::Tensor x, y, xt, yt;
};
Features overlapping_classes(int64_t n, int64_t m) {
  torch::manual_seed(5);
  const auto centres = torch::randn({10, 128}) * 0.35;
  Features f;
  f.y = torch::randint(0, 10, {n}, torch::kLong);
  f.yt = torch::randint(0, 10, {m}, torch::kLong);
  f.x = (centres.index_select(0, f.y) + torch::randn({n, 128})).relu() * 3;
  f.xt = (centres.index_select(0, f.yt) + torch::randn({m, 128})).relu() * 3;
  return f;
}

}  // namespace

TEST(FeatureFile, HoldsTheExtractedFeaturesAndGoesWithItsObject) {
  TempDir t;
  auto model = tiny();
  const auto split = random_split(37);
  const auto want = eval::extract_features(model, split->images(), 8, torch::kCPU);
  eval::FeatureFileOptions o;
  o.batch_size = 8;
  for (auto dtype : {eval::FeatureDtype::kFloat32, eval::FeatureDtype::kFloat16}) {
    o.dtype = dtype;
    const std::string path = (t.path / "f.npy").string();
    {
      const auto file = eval::write_feature_file(model, split, path, torch::kCPU, o);
      EXPECT_EQ(file->rows(), 37);
      EXPECT_EQ(file->features().scalar_type(), eval::scalar_type_of(dtype));
      EXPECT_TRUE(torch::equal(file->features(), want.to(eval::scalar_type_of(dtype))));
      EXPECT_TRUE(torch::equal(file->labels(), split->labels()));
      EXPECT_TRUE(fs::exists(path));
    }
    EXPECT_FALSE(fs::exists(path)) << "removed with its object";
  }
  // Nothing else was left in the folder (the writer's temporary file went too).
  EXPECT_TRUE(fs::is_empty(t.path));
}

TEST(FeatureFile, AFeatureBeyondFloat16SaysToUseFloat32) {
  TempDir t;
  auto model = tiny();
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->named_parameters()) {
      if (p.key().rfind("layer4", 0) == 0 && p.key().find("bias") != std::string::npos) p.value().fill_(1e5);
    }
  }
  const std::string path = (t.path / "f.npy").string();
  try {
    eval::write_feature_file(model, random_split(4), path, torch::kCPU, {});
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("`feature_dtype`=float32"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(fs::is_empty(t.path));
}

TEST(FeatureFile, ProbeOnFloat16FeaturesMatchesFloat32Within0_5Points) {
  const auto f = overlapping_classes(6000, 3000);
  eval::LinearProbeConfig cfg;
  cfg.epochs = 10;
  cfg.batch_size = 256;
  cfg.lr = 0.05;
  cfg.seed = 3;
  for (bool standardize : {false, true}) {
    cfg.standardize = standardize;
    const auto full = eval::train_linear_probe(f.x, f.y, f.xt, f.yt, 10, cfg);
    // As from the file: float16 rows on the CPU, gathered per mini-batch, trained on the CPU.
    const auto half = eval::train_linear_probe(f.x.to(at::kHalf), f.y, f.xt.to(at::kHalf), f.yt, 10, cfg, {},
                                               c10::Device(torch::kCPU));
    EXPECT_GT(full.last_top1, 0.3) << "the probe learns";
    EXPECT_LT(full.last_top1, 0.95) << "not saturated: a difference could show";
    EXPECT_NEAR(half.last_top1, full.last_top1, 0.005) << "standardize " << standardize;
    EXPECT_NEAR(half.best_top1, full.best_top1, 0.005);
    EXPECT_NEAR(half.last_top5, full.last_top5, 0.005);
    // Gathering float16 rows is converting them: the same run as on the rounded float32 features.
    const auto rounded = eval::train_linear_probe(f.x.to(at::kHalf).to(at::kFloat), f.y,
                                                  f.xt.to(at::kHalf).to(at::kFloat), f.yt, 10, cfg);
    EXPECT_TRUE(torch::equal(rounded.weight, half.weight));
    EXPECT_EQ(rounded.last_top1, half.last_top1);
  }
}
