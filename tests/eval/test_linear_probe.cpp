// Linear probe: values produced by PyTorch (scripts/gen/gen_eval_reference.py: the seeded init and whole
// training runs with the same data order, schedule and per-sample metrics), convergence on separable
// blobs for every optimizer, per-sample averaging, best/last bookkeeping, determinism, the cosine lr
// trace, standardisation and config errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../test_paths.h"
#include "flatclr/core/error.h"
#include "flatclr/eval/accuracy.h"
#include "flatclr/eval/linear_probe.h"

using flatclr::eval::EpochResult;
using flatclr::eval::linear_probe_logits;
using flatclr::eval::LinearProbeConfig;
using flatclr::eval::ProbeResult;
using flatclr::eval::train_linear_probe;

namespace {

const nlohmann::json& reference() {
  static const nlohmann::json j = [] {
    std::ifstream f(flatclr::testing::source_path("tests/eval/data/eval_reference.json"));
    if (!f.good()) throw std::runtime_error("missing tests/eval/data/eval_reference.json");
    return nlohmann::json::parse(f);
  }();
  return j;
}

at::Tensor from_json(const nlohmann::json& values, std::vector<int64_t> shape, at::ScalarType dtype) {
  return torch::tensor(values.get<std::vector<double>>(), at::kDouble).reshape(shape).to(dtype);
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// C classes of Gaussian blobs in D dimensions, centres far apart (linearly separable with overwhelming
// probability).
struct Blobs {
  at::Tensor x, y, xt, yt;
};
Blobs make_blobs(int64_t n, int64_t m, int64_t d, int64_t classes, uint64_t seed) {
  torch::manual_seed(seed);
  auto centres = torch::randn({classes, d}) * 10;
  Blobs b;
  b.y = torch::randint(0, classes, {n}, at::kLong);
  b.yt = torch::randint(0, classes, {m}, at::kLong);
  b.x = centres.index_select(0, b.y) + torch::randn({n, d});
  b.xt = centres.index_select(0, b.yt) + torch::randn({m, d});
  return b;
}

std::string config_error(const LinearProbeConfig& c) {
  try {
    c.validate();
  } catch (const flatclr::UserError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(LinearProbe, SeededInitProducesPyTorchValues) {
  // torch.manual_seed(seed); torch.nn.Linear(d, c): read back through a zero-lr, one-epoch probe.
  for (const auto& r : reference()["linear_init"]) {
    const int64_t d = r["d"], c = r["c"];
    LinearProbeConfig cfg;
    cfg.epochs = 1;
    cfg.lr = 0;
    cfg.scheduler = flatclr::optim::ScheduleKind::kConstant;
    cfg.seed = r["seed"];
    const auto res = train_linear_probe(torch::randn({4, d}), torch::zeros({4}, at::kLong),
                                        torch::randn({2, d}), torch::zeros({2}, at::kLong), c, cfg);
    const auto w = from_json(r["weight"], {c, d}, at::kFloat), b = from_json(r["bias"], {c}, at::kFloat);
    EXPECT_LE(max_abs_diff(res.weight, w), 1e-7) << "seed " << cfg.seed << "\n" << res.weight << "\n" << w;
    EXPECT_LE(max_abs_diff(res.bias, b), 1e-7) << "seed " << cfg.seed;
  }
}

TEST(LinearProbe, TrainingProducesPyTorchValues) {
  for (const auto& r : reference()["probes"]) {
    const std::string name = r["name"];
    const int64_t n = r["n"], m = r["m"], d = r["d"], c = r["c"];
    LinearProbeConfig cfg;
    cfg.epochs = r["epochs"];
    cfg.batch_size = r["batch_size"];
    cfg.lr = r["lr"];
    cfg.momentum = r["momentum"];
    cfg.weight_decay = r["weight_decay"];
    cfg.optimizer =
        flatclr::core::parse_choice<flatclr::optim::OptimizerKind>(r["optimizer"].get<std::string>()).value();
    cfg.scheduler =
        flatclr::core::parse_choice<flatclr::optim::ScheduleKind>(r["scheduler"].get<std::string>()).value();
    cfg.seed = r["seed"];
    cfg.standardize = r["standardize"];
    const auto x = from_json(r["train_x"], {n, d}, at::kFloat),
               xt = from_json(r["test_x"], {m, d}, at::kFloat);
    const auto y = torch::tensor(r["train_y"].get<std::vector<int64_t>>(), at::kLong);
    const auto yt = torch::tensor(r["test_y"].get<std::vector<int64_t>>(), at::kLong);
    const auto res = train_linear_probe(x, y, xt, yt, c, cfg);

    const auto lrs = r["lr_trace"].get<std::vector<double>>();
    ASSERT_EQ(res.lr_trace.size(), lrs.size()) << name;
    for (size_t s = 0; s < lrs.size(); ++s)
      EXPECT_NEAR(res.lr_trace[s], lrs[s], 1e-15 * lrs[0]) << name << " " << s;
    const auto& hist = r["history"];
    ASSERT_EQ(res.history.size(), hist.size()) << name;
    for (size_t e = 0; e < hist.size(); ++e) {
      const EpochResult& got = res.history[e];
      EXPECT_EQ(got.epoch, hist[e]["epoch"].get<int64_t>());
      EXPECT_NEAR(got.train_loss, hist[e]["train_loss"].get<double>(), 1e-5)
          << name << " epoch " << got.epoch;
      EXPECT_DOUBLE_EQ(got.train_top1, hist[e]["train_top1"].get<double>()) << name << " epoch " << got.epoch;
      EXPECT_DOUBLE_EQ(got.test_top1, hist[e]["test_top1"].get<double>()) << name << " epoch " << got.epoch;
      EXPECT_DOUBLE_EQ(got.test_top5, hist[e]["test_top5"].get<double>()) << name << " epoch " << got.epoch;
      EXPECT_DOUBLE_EQ(got.lr, hist[e]["lr"].get<double>()) << name << " epoch " << got.epoch;
    }
    const double dw = max_abs_diff(res.weight, from_json(r["weight"], {c, d}, at::kFloat));
    const double db = max_abs_diff(res.bias, from_json(r["bias"], {c}, at::kFloat));
    EXPECT_LE(dw, 1e-5) << name << ": max abs weight diff " << dw;
    EXPECT_LE(db, 1e-5) << name << ": max abs bias diff " << db;
    EXPECT_EQ(res.feature_mean.defined(), cfg.standardize) << name;
  }
}

TEST(LinearProbe, SeparableBlobsReachFullAccuracyWithEveryOptimizer) {
  const auto b = make_blobs(1000, 500, 32, 10, 21);
  for (const std::string opt : {"sgd", "adam", "lars"}) {
    LinearProbeConfig cfg;
    cfg.epochs = 5;
    cfg.batch_size = 128;
    cfg.optimizer = flatclr::core::parse_choice<flatclr::optim::OptimizerKind>(opt).value();
    cfg.lr = opt == "adam" ? 0.05 : opt == "sgd" ? 0.1 : 5.0;
    const auto res = train_linear_probe(b.x, b.y, b.xt, b.yt, 10, cfg);
    EXPECT_EQ(res.history.back().train_top1, 1.0) << opt;
    EXPECT_EQ(res.last_top1, 1.0) << opt;
    EXPECT_EQ(res.last_top5, 1.0) << opt;
    EXPECT_LT(res.history.back().train_loss, res.history.front().train_loss) << opt;
  }
}

TEST(LinearProbe, AccuracyAndLossAreAveragedPerSample) {
  // lr = 0 keeps the seeded init, so the predictions are known in advance. 5 test rows are evaluated in
  // batches of 4 + 1, 5 train rows trained in batches of 4 + 1; labels are chosen so that the first
  // 4-row block of the test set has 2 right and the last row is right: per sample 3/5 = 0.6, where the
  // reference's per-batch mean would give (2/4 + 1) / 2 = 0.75.
  torch::manual_seed(31);
  const int64_t d = 8, classes = 3;
  auto x = torch::randn({5, d}), xt = torch::randn({5, d});
  LinearProbeConfig cfg;
  cfg.epochs = 1;
  cfg.batch_size = 4;
  cfg.lr = 0;
  cfg.scheduler = flatclr::optim::ScheduleKind::kConstant;
  cfg.seed = 4;
  auto probe =
      train_linear_probe(x, torch::zeros({5}, at::kLong), xt, torch::zeros({5}, at::kLong), classes, cfg);
  const auto pred_t = linear_probe_logits(probe, xt).argmax(1);
  auto yt = pred_t.clone();
  yt[1] = (pred_t[1] + 1) % classes;
  yt[2] = (pred_t[2] + 1) % classes;  // rows 0, 3, 4 right
  // Train: exactly one of the 5 rows right, so the per-sample rate is 0.2 whichever batch it falls in;
  // a per-batch mean would give 1/4 / 2 = 0.125 or (0 + 1) / 2 = 0.5.
  const auto pred = linear_probe_logits(probe, x).argmax(1);
  auto y = (pred + 1) % classes;
  y[2] = pred[2];
  const auto res = train_linear_probe(x, y, xt, yt, classes, cfg);
  EXPECT_DOUBLE_EQ(res.history[0].test_top1, 0.6);
  EXPECT_DOUBLE_EQ(res.history[0].test_top5, 1.0);
  EXPECT_DOUBLE_EQ(res.history[0].train_top1, 0.2);
  // Loss: the mean cross-entropy over the 5 train samples (not the mean of the two batch means).
  const auto ce = torch::nn::functional::cross_entropy(linear_probe_logits(probe, x).to(at::kDouble), y);
  EXPECT_NEAR(res.history[0].train_loss, ce.item<double>(), 1e-6);
}

TEST(LinearProbe, BestAndLastBookkeeping) {
  // Test labels are the train labels shifted by one class: the better the probe learns the train task,
  // the worse it does on this test set, so the best epoch is an early one.
  const auto b = make_blobs(200, 200, 16, 10, 41);
  LinearProbeConfig cfg;
  cfg.epochs = 6;
  cfg.batch_size = 64;
  cfg.lr = 0.002;
  std::vector<EpochResult> seen;
  const auto res = train_linear_probe(b.x, b.y, b.x, (b.y + 1) % 10, 10, cfg,
                                      [&](const EpochResult& e) { seen.push_back(e); });
  ASSERT_EQ(seen.size(), 6u);
  ASSERT_EQ(res.history.size(), 6u);
  double best1 = -1, best5 = -1;
  int64_t best_epoch = 0;
  for (size_t e = 0; e < seen.size(); ++e) {
    EXPECT_EQ(seen[e].epoch, static_cast<int64_t>(e) + 1);
    EXPECT_EQ(seen[e].test_top1, res.history[e].test_top1);
    if (seen[e].test_top1 > best1) best1 = seen[e].test_top1, best_epoch = seen[e].epoch;
    best5 = std::max(best5, seen[e].test_top5);
  }
  EXPECT_EQ(res.best_top1, best1);
  EXPECT_EQ(res.best_epoch, best_epoch);
  EXPECT_EQ(res.best_top5, best5);
  EXPECT_EQ(res.last_top1, seen.back().test_top1);
  EXPECT_EQ(res.last_top5, seen.back().test_top5);
  // The scenario really has a best epoch before the last one.
  EXPECT_LT(res.best_epoch, 6);
  EXPECT_LT(res.last_top1, res.best_top1);
  // The final layer is the last epoch's: it reproduces last_top1.
  const auto counts = flatclr::eval::topk_counts(linear_probe_logits(res, b.x), (b.y + 1) % 10);
  EXPECT_EQ(counts.top1_rate(), res.last_top1);
  EXPECT_EQ(counts.top5_rate(), res.last_top5);
}

TEST(LinearProbe, BestEpochIsTheFirstToReachTheBest) {
  // lr = 0: every epoch has the same accuracy, so the best epoch is 1.
  const auto b = make_blobs(50, 30, 8, 4, 43);
  LinearProbeConfig cfg;
  cfg.epochs = 3;
  cfg.lr = 0;
  const auto res = train_linear_probe(b.x, b.y, b.xt, b.yt, 4, cfg);
  EXPECT_EQ(res.best_epoch, 1);
  EXPECT_EQ(res.best_top1, res.last_top1);
}

TEST(LinearProbe, SameSeedSameRunOtherSeedOtherRun) {
  const auto b = make_blobs(300, 100, 16, 5, 51);
  LinearProbeConfig cfg;
  cfg.epochs = 3;
  cfg.batch_size = 64;
  cfg.lr = 0.05;
  cfg.seed = 7;
  const auto r1 = train_linear_probe(b.x, b.y, b.xt, b.yt, 5, cfg);
  const auto r2 = train_linear_probe(b.x, b.y, b.xt, b.yt, 5, cfg);
  EXPECT_TRUE(torch::equal(r1.weight, r2.weight));
  EXPECT_TRUE(torch::equal(r1.bias, r2.bias));
  for (size_t e = 0; e < r1.history.size(); ++e) {
    EXPECT_EQ(r1.history[e].train_loss, r2.history[e].train_loss);
    EXPECT_EQ(r1.history[e].test_top1, r2.history[e].test_top1);
  }
  cfg.seed = 8;
  const auto r3 = train_linear_probe(b.x, b.y, b.xt, b.yt, 5, cfg);
  EXPECT_FALSE(torch::equal(r1.weight, r3.weight));
}

TEST(LinearProbe, LeavesTheGlobalGeneratorAlone) {
  const auto b = make_blobs(40, 10, 4, 3, 52);
  torch::manual_seed(99);
  const auto expected = torch::rand({4});
  torch::manual_seed(99);
  LinearProbeConfig cfg;
  cfg.epochs = 2;
  train_linear_probe(b.x, b.y, b.xt, b.yt, 3, cfg);
  EXPECT_TRUE(torch::equal(torch::rand({4}), expected));
}

TEST(LinearProbe, LrFollowsPerStepCosineToFinalLr) {
  const auto b = make_blobs(100, 10, 4, 3, 53);
  LinearProbeConfig cfg;
  cfg.epochs = 4;
  cfg.batch_size = 30;  // ceil(100 / 30) = 4 steps per epoch, the last one short
  cfg.lr = 1.6;
  std::vector<double> epoch_lrs;
  const auto res = train_linear_probe(b.x, b.y, b.xt, b.yt, 3, cfg,
                                      [&](const EpochResult& e) { epoch_lrs.push_back(e.lr); });
  const int64_t total = 16;
  ASSERT_EQ(static_cast<int64_t>(res.lr_trace.size()), total);
  const double pi = std::acos(-1.0);
  for (int64_t s = 0; s < total; ++s) {
    const double want = 1e-6 + (1.6 - 1e-6) * 0.5 * (1 + std::cos(pi * s / total));
    EXPECT_NEAR(res.lr_trace[s], want, 1e-14) << "step " << s;
  }
  EXPECT_EQ(res.lr_trace[0], 1.6) << "no warmup";
  for (int64_t s = 1; s < total; ++s) EXPECT_LT(res.lr_trace[s], res.lr_trace[s - 1]);
  EXPECT_LT(res.lr_trace.back(), 0.02) << "last step close to the end of the cosine";
  ASSERT_EQ(epoch_lrs.size(), 4u);
  for (int64_t e = 0; e < 4; ++e) EXPECT_EQ(epoch_lrs[e], res.lr_trace[(e + 1) * 4 - 1]);

  cfg.scheduler = flatclr::optim::ScheduleKind::kConstant;
  const auto flat = train_linear_probe(b.x, b.y, b.xt, b.yt, 3, cfg);
  for (double lr : flat.lr_trace) EXPECT_EQ(lr, 1.6);
}

TEST(LinearProbe, StandardizationUsesTrainStatistics) {
  // Features with a large offset and very different scales, one dimension constant.
  torch::manual_seed(61);
  auto x = torch::randn({64, 4}) * torch::tensor({1.0, 100.0, 0.01, 0.0}) + 500;
  auto xt = torch::randn({16, 4}) * torch::tensor({1.0, 100.0, 0.01, 0.0}) + 500;
  auto y = torch::randint(0, 2, {64}, at::kLong), yt = torch::randint(0, 2, {16}, at::kLong);
  LinearProbeConfig cfg;
  cfg.epochs = 1;
  cfg.standardize = true;
  const auto res = train_linear_probe(x, y, xt, yt, 2, cfg);
  ASSERT_TRUE(res.feature_mean.defined());
  const auto xd = x.to(at::kDouble);
  const auto mean = xd.mean(0), std = (xd - mean).square().mean(0).sqrt();
  EXPECT_LT(max_abs_diff(res.feature_mean, mean), 1e-3);
  EXPECT_LT(max_abs_diff(res.feature_std.slice(0, 0, 3), std.slice(0, 0, 3)), 1e-3);
  EXPECT_EQ(res.feature_std[3].item<float>(), 1.0f) << "a constant dimension is only centred";
  // The exposed layer + statistics reproduce the reported test accuracy.
  const auto counts = flatclr::eval::topk_counts(linear_probe_logits(res, xt), yt);
  EXPECT_EQ(counts.top1_rate(), res.last_top1);
  cfg.standardize = false;
  EXPECT_FALSE(train_linear_probe(x, y, xt, yt, 2, cfg).feature_mean.defined());
}

TEST(LinearProbe, ConfigErrorsNameTheField) {
  LinearProbeConfig ok;
  EXPECT_EQ(config_error(ok), "no error");
  auto with = [&](auto edit) {
    LinearProbeConfig c = ok;
    edit(c);
    return config_error(c);
  };
  auto has = [](const std::string& message, const std::string& part) {
    return message.find(part) != std::string::npos;
  };
  EXPECT_PRED2(has, with([](auto& c) { c.epochs = 0; }), "`probe.epochs`=0: expected an integer >= 1");
  EXPECT_PRED2(has, with([](auto& c) { c.batch_size = -2; }),
               "`probe.batch_size`=-2: expected an integer >= 1");
  EXPECT_PRED2(has, with([](auto& c) { c.lr = -0.1; }), "`probe.lr`=-0.1");
  EXPECT_PRED2(has, with([](auto& c) { c.lr = std::nan(""); }), "`probe.lr`");
  EXPECT_PRED2(has, with([](auto& c) { c.momentum = 1.0; }),
               "`probe.momentum`=1: expected a number in [0, 1)");
  EXPECT_PRED2(has, with([](auto& c) { c.weight_decay = -1e-4; }), "`probe.weight_decay`");
  // train_linear_probe validates before doing anything.
  LinearProbeConfig bad = ok;
  bad.epochs = 0;
  auto x = torch::randn({4, 2});
  auto y = torch::zeros({4}, at::kLong);
  EXPECT_THROW(train_linear_probe(x, y, x, y, 2, bad), flatclr::UserError);
}

TEST(LinearProbe, RejectsMismatchedData) {
  LinearProbeConfig cfg;
  cfg.epochs = 1;
  auto x = torch::randn({6, 3});
  auto y = torch::tensor({0, 1, 2, 0, 1, 2}, at::kLong);
  auto error = [&](const at::Tensor& tx, const at::Tensor& ty, const at::Tensor& vx, const at::Tensor& vy,
                   int64_t c) -> std::string {
    try {
      train_linear_probe(tx, ty, vx, vy, c, cfg);
    } catch (const flatclr::UserError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(error(x, y, x, y, 2).find("train labels must lie in [0, 2)"), std::string::npos);
  EXPECT_NE(error(x, y, torch::randn({6, 4}), y, 3).find("test features must be [rows, 3]"),
            std::string::npos);
  EXPECT_NE(error(x, y.slice(0, 0, 5), x, y, 3).find("train labels must be [6]"), std::string::npos);
  EXPECT_NE(error(x, y, x, y * 2, 3).find("test labels must lie in [0, 3)"), std::string::npos);
  EXPECT_NE(error(x, y.to(at::kFloat), x, y, 3).find("integers"), std::string::npos);
  EXPECT_NE(error(torch::zeros({0, 3}), torch::zeros({0}, at::kLong), x, y, 3).find("N, D >= 1"),
            std::string::npos);
  EXPECT_EQ(error(x, y, x, y, 3), "no error");
}

TEST(LinearProbe, CudaMatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto b = make_blobs(600, 200, 16, 6, 71);
  LinearProbeConfig cfg;
  cfg.epochs = 3;
  cfg.batch_size = 128;
  cfg.lr = 0.05;
  const auto cpu = train_linear_probe(b.x, b.y, b.xt, b.yt, 6, cfg);
  const auto gpu = train_linear_probe(b.x.cuda(), b.y.cuda(), b.xt.cuda(), b.yt.cuda(), 6, cfg);
  EXPECT_FALSE(gpu.weight.is_cuda()) << "the trained layer is returned on the CPU";
  EXPECT_LE(max_abs_diff(gpu.weight, cpu.weight), 1e-4);
  EXPECT_LE(max_abs_diff(gpu.bias, cpu.bias), 1e-4);
  for (size_t e = 0; e < cpu.history.size(); ++e) {
    EXPECT_NEAR(gpu.history[e].train_loss, cpu.history[e].train_loss, 1e-4) << "epoch " << e + 1;
  }
  EXPECT_EQ(gpu.last_top1, 1.0);
  const auto logits = linear_probe_logits(gpu, b.xt.cuda());
  EXPECT_TRUE(logits.is_cuda());
}
