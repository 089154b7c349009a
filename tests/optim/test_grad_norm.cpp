// global_grad_norm against a float64 sum written here, and torch.nn.utils.clip_grad_norm_'s definition.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "flatclr/optim/grad_norm.h"

using flatclr::optim::global_grad_norm;

TEST(GradNorm, SumOfSquaresOverEveryGradient) {
  auto a = torch::zeros({2, 2}, torch::requires_grad());
  auto b = torch::zeros({3}, torch::requires_grad());
  auto c = torch::zeros({4}, torch::requires_grad());  // no gradient: skipped
  a.mutable_grad() = torch::tensor({{1.0f, -2.0f}, {3.0f, 0.5f}});
  b.mutable_grad() = torch::tensor({-1.0f, 4.0f, 2.0f});
  const double want = std::sqrt(1 + 4 + 9 + 0.25 + 1 + 16 + 4);
  auto n = global_grad_norm({a, b, c});
  EXPECT_EQ(n.scalar_type(), at::kDouble);
  EXPECT_EQ(n.dim(), 0);
  EXPECT_NEAR(n.item<double>(), want, 1e-6 * want);  // per-tensor norms in float32, as clip_grad_norm_
}

// Large tensors of mixed scale: against a float64 sum of squares.
TEST(GradNorm, LargeGradientsAgainstAFloat64Sum) {
  torch::manual_seed(3);
  auto a = torch::zeros({300, 400}, torch::requires_grad());
  auto b = torch::zeros({7}, torch::requires_grad());
  a.mutable_grad() = torch::randn({300, 400}) * 1e-3;
  b.mutable_grad() = torch::randn({7}) * 50;
  double sum = 0;
  for (const auto& g : {a.grad(), b.grad()}) {
    auto d = g.to(at::kDouble).contiguous();
    for (int64_t i = 0; i < d.numel(); ++i) sum += d.data_ptr<double>()[i] * d.data_ptr<double>()[i];
  }
  EXPECT_NEAR(global_grad_norm({a, b}).item<double>(), std::sqrt(sum), 1e-6 * std::sqrt(sum));
}

TEST(GradNorm, NonFiniteGradientGivesNonFiniteNorm) {
  auto a = torch::zeros({2}, torch::requires_grad());
  a.mutable_grad() = torch::tensor({1.0f, std::nanf("")});
  EXPECT_TRUE(std::isnan(global_grad_norm({a}).item<double>()));
  a.mutable_grad() = torch::tensor({1.0f, INFINITY});
  EXPECT_TRUE(std::isinf(global_grad_norm({a}).item<double>()));
}

TEST(GradNorm, NoGradientsIsZero) {
  auto a = torch::zeros({2}, torch::requires_grad());
  EXPECT_EQ(global_grad_norm({a}).item<double>(), 0.0);
}
