// StepMonitor: the interval record is the per-step mean of batch_diagnostics (min for p+ min), of the pair
// accuracy and of the gradient norm; throughput, wait share and the rank fields follow their definitions.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>

#include "flatclr/losses/diagnostics.h"
#include "flatclr/losses/flat_nce.h"
#include "flatclr/losses/pair_accuracy.h"
#include "flatclr/train/step_monitor.h"

using namespace flatclr;
using train::StepMonitor;

namespace {
std::map<std::string, double> as_map(const train::Record& r) {
  std::map<std::string, double> m;
  for (auto& [k, v] : r) m[k] = v;
  return m;
}
}  // namespace

TEST(StepMonitor, IntervalMeansMinAndThroughput) {
  const int64_t n = 4;
  StepMonitor mon(0.2, n, /*rank_every=*/0);
  std::vector<losses::ContrastiveOutput> outs;
  double sum_pos = 0, min_p = 1, sum_top1 = 0, sum_mi = 0;
  for (int step = 0; step < 3; ++step) {
    torch::manual_seed(20 + step);
    auto out = losses::flat_nce_loss(torch::randn({2 * n, 6}, torch::kDouble), 0.2);
    auto d = losses::batch_diagnostics(out.similarity, 0.2);
    sum_pos += d.pos_sim.item<double>();
    sum_mi += d.mi_estimate.item<double>();
    min_p = std::min(min_p, d.p_pos_min.item<double>());
    const auto expected = losses::positive_pair_accuracy(out.similarity);
    sum_top1 += expected.top1.item<double>();
    // The accuracy it returns (the loop's epoch sums use it) is the step's own.
    const auto acc =
        mon.observe_step(out, torch::tensor(1.0 + step, torch::kDouble), /*applied=*/{}, /*data=*/0.1,
                         /*step=*/0.5);
    EXPECT_EQ(acc.top1.item<double>(), expected.top1.item<double>());
    EXPECT_EQ(acc.top5.item<double>(), expected.top5.item<double>());
  }
  // A step whose update was not made (its loss NaN, its flag known on the device only) is counted as
  // skipped, adds its time, and stays out of every average and minimum.
  {
    auto bad = losses::flat_nce_loss(torch::full({2 * n, 6}, std::nan(""), torch::kDouble), 0.2);
    mon.observe_step(bad, torch::tensor(std::nan(""), torch::kDouble), torch::tensor(0.0, torch::kDouble),
                     /*data=*/0.1, /*step=*/0.5);
  }
  EXPECT_EQ(mon.steps_observed(), 4);
  auto r = as_map(mon.flush(0.25));
  EXPECT_NEAR(r["pos_sim"], sum_pos / 3, 1e-12);
  EXPECT_NEAR(r["mi_estimate"], sum_mi / 3, 1e-12);
  EXPECT_NEAR(r["p_pos_min"], min_p, 1e-12);
  EXPECT_NEAR(r["top1"], sum_top1 / 3, 1e-6);
  EXPECT_NEAR(r["log_k"], std::log(2.0 * n - 1), 1e-12);
  EXPECT_NEAR(r["grad_norm"], 2.0, 1e-12);
  EXPECT_EQ(r["lr"], 0.25);
  EXPECT_NEAR(r["images_per_s"], 4 * n / 2.0, 1e-9);
  EXPECT_NEAR(r["step_time_s"], 0.5, 1e-12);
  EXPECT_NEAR(r["data_wait_share"], 0.2, 1e-12);
  EXPECT_EQ(r["skipped_steps"], 1.0);
  EXPECT_EQ(r.count("effective_rank_z"), 0u);
  // Reset: the next interval starts empty.
  EXPECT_EQ(mon.steps_observed(), 0);
  auto empty = as_map(mon.flush(0.5));
  EXPECT_EQ(empty.count("info_nce"), 0u);
  EXPECT_EQ(empty["skipped_steps"], 0.0);
}

TEST(StepMonitor, RanksOnTheFirstStepOfEveryKthInterval) {
  StepMonitor mon(0.1, 4, /*rank_every=*/2);
  auto h = torch::zeros({8, 5}, torch::kDouble);
  h.narrow(1, 0, 1).fill_(1);  // rank one
  auto z = torch::randn({8, 3}, torch::kDouble);
  std::vector<bool> wanted;
  for (int interval = 0; interval < 4; ++interval) {
    wanted.push_back(mon.wants_embeddings());
    if (mon.wants_embeddings()) mon.observe_embeddings(h, z, /*applied=*/{});
    EXPECT_FALSE(mon.wants_embeddings());  // once per interval
    auto out = losses::flat_nce_loss(z, 0.1);
    mon.observe_step(out, torch::tensor(0.0, torch::kDouble), {}, 0, 1);
    auto r = as_map(mon.flush(0.1));
    EXPECT_EQ(r.count("effective_rank_h"), interval % 2 == 0 ? 1u : 0u);
    if (interval % 2 == 0) {
      EXPECT_NEAR(r["effective_rank_h"], 1.0, 1e-9);
      EXPECT_NEAR(r["effective_rank_z"], losses::effective_rank(z), 1e-12);
      EXPECT_NEAR(r["z_dim_std"], losses::normalized_dim_std(z), 1e-12);
      EXPECT_NEAR(r["z_dim_std_spread"], 1 / std::sqrt(3.0), 1e-12);
      EXPECT_EQ(r["z_dim"], 3.0);
      EXPECT_EQ(r["rank_max_z"], 3.0);  // min(8 rows, 3 dimensions)
    }
  }
  EXPECT_EQ(wanted, (std::vector<bool>{true, false, true, false}));
}

// The embeddings are kept on the device and ranked at flush(): a copy, so that a CUDA graph overwriting the
// step's outputs does not change them, and nothing when the step's update (known on the device only) was not
// made.
TEST(StepMonitor, RanksAreComputedAtFlushFromACopyAndOnlyForAnAppliedStep) {
  for (const double applied : {1.0, 0.0}) {
    StepMonitor mon(0.1, 4, /*rank_every=*/1);
    torch::manual_seed(3);
    auto h = torch::randn({8, 5}, torch::kDouble), z = torch::randn({8, 3}, torch::kDouble);
    const double rank_h = losses::effective_rank(h), rank_z = losses::effective_rank(z);
    ASSERT_TRUE(mon.wants_embeddings());
    mon.observe_embeddings(h, z, torch::tensor(applied, torch::kDouble));
    h.zero_();  // what a replay does to the step's outputs
    z.zero_();
    mon.observe_step(losses::flat_nce_loss(torch::randn({8, 3}, torch::kDouble), 0.1),
                     torch::tensor(0.0, torch::kDouble), torch::tensor(applied, torch::kDouble), 0, 1);
    auto r = as_map(mon.flush(0.1));
    ASSERT_EQ(r.count("effective_rank_h"), applied > 0 ? 1u : 0u);
    if (applied > 0) {
      EXPECT_NEAR(r["effective_rank_h"], rank_h, 1e-12);
      EXPECT_NEAR(r["effective_rank_z"], rank_z, 1e-12);
    }
    EXPECT_TRUE(mon.wants_embeddings());  // the next interval asks again
  }
}

TEST(StepMonitor, TagsAreGrouped) {
  EXPECT_EQ(train::tag_for_key("info_nce"), "loss/info_nce");
  EXPECT_EQ(train::tag_for_key("mi_estimate"), "loss/mi_estimate");
  EXPECT_EQ(train::tag_for_key("log_k"), "loss/log_k");
  EXPECT_EQ(train::tag_for_key("p_pos_mean"), "diag/p_pos_mean");
  EXPECT_EQ(train::tag_for_key("effective_rank_z"), "diag/effective_rank_z");
  EXPECT_EQ(train::tag_for_key("images_per_s"), "perf/images_per_s");
  EXPECT_EQ(train::tag_for_key("data_wait_share"), "perf/data_wait_share");
  EXPECT_EQ(train::tag_for_key("knn_top1"), "eval/knn_top1");
}
