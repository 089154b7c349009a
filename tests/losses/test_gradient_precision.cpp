// losses/gradient_precision: the controlled batches have the positive probability asked for (float64 against
// the closed form), InfoNCE's gradient is (1 - p+) times FlatNCE's, and in float32 InfoNCE's gradient drowns
// in rounding near p+ = 1 while FlatNCE's keeps float32 accuracy (deterministic: no randomness in the
// batches).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "flatclr/losses/gradient_precision.h"
#include "flatclr/losses/info_nce.h"

using namespace flatclr::losses;

TEST(GradientPrecision, ControlledBatchesHaveThePositiveProbabilityAskedFor) {
  for (double q : {0.5, 1e-3, 1e-7}) {
    const double p = 1 - q;
    const double tau = temperature_for(p, 8, 0.5);
    const auto out = info_nce_loss(controlled_views(8, 0.5, torch::kDouble), tau);
    // p+ = 1 / (1 + xi) per row; 1 - p+ = xi / (1 + xi), compared without forming 1 - p+ from p+.
    const auto xi = out.log_xi.exp();
    const auto one_minus_p = xi / (1 + xi);
    EXPECT_LT((one_minus_p / q - 1).abs().max().item<double>(), 1e-9) << q;
    EXPECT_NEAR(out.info_nce.item<double>(), std::log1p(q / (1 - q)), 1e-12 * std::max(1.0, q)) << q;
  }
}

TEST(GradientPrecision, InfoNceGradientIsOneMinusPTimesFlatNces) {
  for (double q : {0.5, 1e-2, 1e-5}) {
    const auto info = gradient_precision(Method::kSimCLR, 1 - q, 8);
    const auto flat = gradient_precision(Method::kFlatCLR, 1 - q, 8);
    EXPECT_NEAR(info.grad_norm / flat.grad_norm, q, 1e-9 * q) << q;
  }
}

TEST(GradientPrecision, InfoNceDrownsInFloat32RoundingNearPEqualsOneAndFlatNceDoesNot) {
  auto info = gradient_precision(Method::kSimCLR, 0.5, 16);
  auto flat = gradient_precision(Method::kFlatCLR, 0.5, 16);
  EXPECT_LT(info.rel_error32, 1e-5);
  EXPECT_LT(flat.rel_error32, 1e-5);
  for (double q : {1e-6, 1e-7}) {
    info = gradient_precision(Method::kSimCLR, 1 - q, 16);
    flat = gradient_precision(Method::kFlatCLR, 1 - q, 16);
    EXPECT_GT(info.rel_error32, 0.5) << q;   // mostly rounding error
    EXPECT_LT(flat.rel_error32, 1e-5) << q;  // float32-accurate
    EXPECT_GT(flat.grad_norm, 1.0) << q;     // and of order one
    EXPECT_LT(info.grad_norm, 2e-5) << q;    // while InfoNCE's has vanished
  }
}
