// `--precision=auto` on a CPU (train/precision_probe.h): requested precisions pass unmeasured, a resumed run
// keeps its precision, a CPU without native bf16 stays in fp32 unmeasured, the cache's entry decides when
// there is one, otherwise the step is timed (on a small real model) and stored; a corrupt cache is a warning
// and a fresh measurement. The probe leaves the global random generator as it was, and its cache key
// separates what changes a step's speed.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "flatclr/core/error.h"
#include "flatclr/train/precision_probe.h"

using namespace flatclr;
using namespace flatclr::train;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kNow = 1'800'000'000;

std::string fresh_cache(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("flatclr_probe_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return (dir / "precision-probe.json").string();
}

// ResNet-10 at 1/8 width on 32 px views, batch 8: a probe of a fraction of a second.
ProbeSetting tiny() {
  ProbeSetting s;
  s.cpu_model = "Test CPU";
  s.threads = 1;
  s.model.arch = models::Arch::kRes10;
  s.model.width_multiplier = 0.125;
  s.model.head.out_dim = 16;
  s.image_size = 32;
  s.batch = 8;
  return s;
}

core::CpuBf16 with_bf16() {
  core::CpuBf16 c;
  c.avx512_bf16 = true;
  return c;
}

}  // namespace

TEST(PrecisionProbe, RequestedPrecisionsAreNotMeasured) {
  const auto cache = fresh_cache("requested");
  for (const auto p : {core::Precision::kFp32, core::Precision::kBf16}) {
    const auto c = choose_precision(p, torch::kCPU, tiny(), cache, std::nullopt, kNow, with_bf16());
    EXPECT_EQ(c.precision, p);
    EXPECT_EQ(c.source, PrecisionSource::kRequested);
    EXPECT_EQ(c.describe(), core::name_of(p));
  }
  EXPECT_FALSE(fs::exists(cache));
  EXPECT_THROW(
      choose_precision(core::Precision::kFp16, torch::kCPU, tiny(), cache, std::nullopt, kNow, with_bf16()),
      UsageError);
}

TEST(PrecisionProbe, AResumedRunKeepsItsPrecision) {
  const auto cache = fresh_cache("resumed");
  for (const auto p : {core::Precision::kFp32, core::Precision::kBf16}) {
    const auto c = choose_precision(core::Precision::kAuto, torch::kCPU, tiny(), cache, p, kNow, with_bf16());
    EXPECT_EQ(c.precision, p);
    EXPECT_EQ(c.source, PrecisionSource::kResumed);
    EXPECT_NE(c.describe().find("resumed"), std::string::npos) << c.describe();
  }
  EXPECT_FALSE(fs::exists(cache));
  EXPECT_THROW(choose_precision(core::Precision::kAuto, torch::kCPU, tiny(), cache, core::Precision::kFp16,
                                kNow, with_bf16()),
               UsageError);
}

TEST(PrecisionProbe, ACpuWithoutNativeBf16StaysInFp32Unmeasured) {
  const auto cache = fresh_cache("nobf16");
  const auto c = choose_precision(core::Precision::kAuto, torch::kCPU, tiny(), cache, std::nullopt, kNow,
                                  core::CpuBf16{});
  EXPECT_EQ(c.precision, core::Precision::kFp32);
  EXPECT_EQ(c.source, PrecisionSource::kNoBf16Instructions);
  EXPECT_NE(c.describe().find("Test CPU has no native bf16"), std::string::npos) << c.describe();
  EXPECT_FALSE(fs::exists(cache));
}

TEST(PrecisionProbe, TheCacheDecidesWithoutMeasuring) {
  const auto cache = fresh_cache("hit");
  const auto s = tiny();
  StepTimes t;
  t.fp32_seconds = 0.40;
  t.bf16_seconds = 0.20;
  t.batch = 8;
  t.measured_at = kNow - 3600;
  ASSERT_EQ(store_step_times(cache, s.key(), t), "");
  auto c = choose_precision(core::Precision::kAuto, torch::kCPU, s, cache, std::nullopt, kNow, with_bf16());
  EXPECT_EQ(c.source, PrecisionSource::kCached);
  EXPECT_EQ(c.precision, core::Precision::kBf16);
  EXPECT_DOUBLE_EQ(c.times.fp32_seconds, 0.40);  // the stored numbers, not a new measurement
  EXPECT_EQ(
      c.describe(),
      "bf16 (auto: a step took 0.200 s in bf16, 0.400 s in fp32 at batch 8 on Test CPU, measured earlier)");
  t.bf16_seconds = 0.38;  // 1.05x: inside the margin
  ASSERT_EQ(store_step_times(cache, s.key(), t), "");
  c = choose_precision(core::Precision::kAuto, torch::kCPU, s, cache, std::nullopt, kNow, with_bf16());
  EXPECT_EQ(c.source, PrecisionSource::kCached);
  EXPECT_EQ(c.precision, core::Precision::kFp32);
}

TEST(PrecisionProbe, AMissMeasuresAndStoresAndTheNextRunReadsIt) {
  const auto cache = fresh_cache("miss");
  const auto s = tiny();
  const auto c =
      choose_precision(core::Precision::kAuto, torch::kCPU, s, cache, std::nullopt, kNow, with_bf16());
  EXPECT_EQ(c.source, PrecisionSource::kMeasured);
  EXPECT_EQ(c.warning, "");
  EXPECT_GT(c.times.fp32_seconds, 0.0);
  EXPECT_GT(c.times.bf16_seconds, 0.0);
  EXPECT_GE(c.times.batch, kProbeMinBatch);
  EXPECT_LE(c.times.batch, s.batch);
  EXPECT_EQ(c.times.measured_at, kNow);
  EXPECT_EQ(c.precision, core::choose_by_step_times(c.times.fp32_seconds, c.times.bf16_seconds));
  EXPECT_NE(c.describe().find("measured now"), std::string::npos) << c.describe();
  const auto again =
      choose_precision(core::Precision::kAuto, torch::kCPU, s, cache, std::nullopt, kNow + 60, with_bf16());
  EXPECT_EQ(again.source, PrecisionSource::kCached);
  EXPECT_EQ(again.precision, c.precision);
  EXPECT_DOUBLE_EQ(again.times.bf16_seconds, c.times.bf16_seconds);
}

TEST(PrecisionProbe, ACorruptCacheIsAWarningAndAFreshMeasurement) {
  const auto cache = fresh_cache("corrupt");
  std::ofstream(cache) << "{\"format\": 1, \"entr";
  const auto s = tiny();
  const auto c =
      choose_precision(core::Precision::kAuto, torch::kCPU, s, cache, std::nullopt, kNow, with_bf16());
  EXPECT_EQ(c.source, PrecisionSource::kMeasured);
  EXPECT_NE(c.warning.find(cache), std::string::npos) << c.warning;
  EXPECT_NE(c.warning.find("measuring again"), std::string::npos) << c.warning;
  EXPECT_EQ(lookup_step_times(cache, s.key(), kNow).status, CacheStatus::kHit);  // rewritten whole
}

TEST(PrecisionProbe, MeasuringLeavesTheGlobalGeneratorAsItWas) {
  torch::manual_seed(123);
  const auto expected = torch::rand({4});
  torch::manual_seed(123);
  const auto t = measure_step_times(tiny());
  EXPECT_TRUE(torch::equal(torch::rand({4}), expected));
  EXPECT_GT(t.fp32_seconds, 0.0);
}

TEST(PrecisionProbe, TheKeySeparatesWhatChangesTheStepsSpeed) {
  const auto base = tiny();
  auto differs = [&](auto change) {
    auto s = base;
    change(s);
    return s.key() != base.key();
  };
  EXPECT_TRUE(differs([](ProbeSetting& s) { s.cpu_model = "Other CPU"; }));
  EXPECT_TRUE(differs([](ProbeSetting& s) { s.threads = 2; }));
  EXPECT_TRUE(differs([](ProbeSetting& s) { s.model.arch = models::Arch::kRes18; }));
  EXPECT_TRUE(differs([](ProbeSetting& s) { s.model.width_multiplier = 0.25; }));
  EXPECT_TRUE(differs([](ProbeSetting& s) { s.model.imagenet_stem = true; }));
  EXPECT_TRUE(differs([](ProbeSetting& s) { s.image_size = 224; }));
  EXPECT_TRUE(differs([](ProbeSetting& s) { s.batch = 16; }));
  EXPECT_TRUE(differs([](ProbeSetting& s) { s.channels_last = true; }));
  // SimCLR and FlatCLR runs of one configuration share a decision.
  EXPECT_FALSE(differs([](ProbeSetting& s) { s.method = losses::Method::kSimCLR; }));
}
