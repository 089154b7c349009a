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
  EXPECT_NEAR(n.item<double>(), want, 1e-12);
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
