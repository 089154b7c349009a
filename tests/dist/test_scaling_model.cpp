// scaling_model: the alpha-beta ring model against values worked out by hand, its limits, and fit_link
// recovering the link it is fed.
#include <gtest/gtest.h>

#include <limits>

#include "flatclr/dist/scaling_model.h"

namespace flatclr::dist {
namespace {

const Link kGbps8{1e9, 1e-5};  // 1 GB/s, 10 us

TEST(ScalingModel, RingAllReduceByHand) {
  // N=2: 2*1/2 * 1 ms + 2*1 * 10 us.
  EXPECT_NEAR(ring_all_reduce_seconds(1e6, 2, kGbps8), 1.02e-3, 1e-12);
  // N=16: 2*15/16 * 1 ms + 2*15 * 10 us.
  EXPECT_NEAR(ring_all_reduce_seconds(1e6, 16, kGbps8), 1.875e-3 + 3e-4, 1e-12);
  // Two messages pay the latency twice, the bytes once.
  EXPECT_NEAR(ring_all_reduce_seconds(1e6, 16, kGbps8, 2), 1.875e-3 + 6e-4, 1e-12);
  EXPECT_EQ(ring_all_reduce_seconds(1e6, 1, kGbps8), 0);
}

TEST(ScalingModel, RingAllGatherByHand) {
  EXPECT_NEAR(ring_all_gather_seconds(1e6, 2, kGbps8), 0.5e-3 + 1e-5, 1e-12);
  EXPECT_NEAR(ring_all_gather_seconds(1e6, 16, kGbps8), 15.0 / 16 * 1e-3 + 15e-5, 1e-12);
}

TEST(ScalingModel, StepByHand) {
  StepTraffic t;
  t.grad_bytes = 1e6;
  t.grad_buckets = 2;
  t.gather_bytes = 1e5;
  t.sync_bn_layers = 20;
  const auto p = predict_step(t, 10e-3, 16, kGbps8);
  EXPECT_NEAR(p.grad_s, 1.875e-3 + 6e-4, 1e-12);
  // all-gather 15/16*0.1 ms + 15 latencies, all-reduce 2*15/16*0.1 ms + 30 latencies.
  EXPECT_NEAR(p.gather_s, 9.375e-5 + 15e-5 + 1.875e-4 + 30e-5, 1e-12);
  EXPECT_NEAR(p.sync_bn_s, 20 * 45 * 1e-5, 1e-12);
  EXPECT_NEAR(p.comm_s, 12.20625e-3, 1e-12);
  EXPECT_NEAR(p.step_s, 22.20625e-3, 1e-12);
  EXPECT_NEAR(p.efficiency, 10 / 22.20625, 1e-12);
  // The gradient all-reduce (2.475 ms) hides behind 10 ms of compute.
  EXPECT_NEAR(p.overlap_efficiency, 10 / (10 + 0.73125 + 9.0), 1e-12);
}

TEST(ScalingModel, Limits) {
  StepTraffic t;
  t.grad_bytes = 45e6;
  t.grad_buckets = 2;
  t.gather_bytes = 4e6;
  t.sync_bn_layers = 20;
  // One node: nothing to communicate.
  EXPECT_EQ(predict_step(t, 0.01, 1, kGbps8).efficiency, 1);
  // Infinite bandwidth: only the latency terms are left, (2*2 + 3 + 20*3) per-message latencies at N=2.
  const Link fast{std::numeric_limits<double>::infinity(), 1e-5};
  const auto p = predict_step(t, 0.01, 2, fast);
  EXPECT_NEAR(p.comm_s, (4 + 3 + 60) * 1e-5, 1e-15);
  EXPECT_NEAR(p.efficiency, 0.01 / (0.01 + 67e-5), 1e-12);
  // ... and no latency either: perfect scaling.
  EXPECT_EQ(predict_step(t, 0.01, 16, Link{fast.bytes_per_s, 0}).efficiency, 1);
  // Efficiency falls with N (the latency terms grow) and rises with bandwidth.
  EXPECT_GT(predict_step(t, 0.01, 2, kGbps8).efficiency, predict_step(t, 0.01, 16, kGbps8).efficiency);
  EXPECT_GT(predict_step(t, 0.01, 8, Link{1e10, 1e-5}).efficiency,
            predict_step(t, 0.01, 8, kGbps8).efficiency);
  // Overlap can only help.
  EXPECT_GE(predict_step(t, 0.01, 8, kGbps8).overlap_efficiency, predict_step(t, 0.01, 8, kGbps8).efficiency);
}

TEST(ScalingModel, FitLinkRecoversTheLink) {
  for (int n : {2, 3, 4, 16}) {
    const double gather = ring_all_gather_seconds(0, n, kGbps8);
    const double reduce = ring_all_reduce_seconds(8e6, n, kGbps8);
    const Link fit = fit_link(n, gather, 8e6, reduce);
    EXPECT_NEAR(fit.latency_s, kGbps8.latency_s, 1e-15) << n;
    EXPECT_NEAR(fit.bytes_per_s, kGbps8.bytes_per_s, 1e-3) << n;
  }
  // An all-reduce no slower than its latency terms: its bytes cost nothing measurable.
  EXPECT_EQ(fit_link(2, 1e-3, 1e6, 1e-3).bytes_per_s, std::numeric_limits<double>::infinity());
}

}  // namespace
}  // namespace flatclr::dist
