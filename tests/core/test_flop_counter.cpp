// The operation counter (core/flop_counter.h) against closed forms (2mnk for a matrix product, 2 x the
// multiply-adds of a convolution, one forward's worth per gradient of its backward, a linear layer counted
// once although it calls addmm) and against PyTorch itself: torch.utils.flop_counter.FlopCounterMode on the
// same ResNet-18 pretraining step (bench/pytorch_step.py --count_flops) must count what flatclr counts on its
// step.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "../test_paths.h"
#include "flatclr/core/flop_counter.h"
#include "flatclr/dist/data_parallel.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/train/train_step.h"

using namespace flatclr;

TEST(FlopCounter, MatrixProductsAreTwoMnk) {
  const auto a = torch::randn({3, 5}), b = torch::randn({5, 7}), bias = torch::randn({7});
  core::FlopCounter c;
  torch::mm(a, b);
  EXPECT_EQ(c.total(), 2.0 * 3 * 5 * 7);
  torch::addmm(bias, a, b);
  EXPECT_EQ(c.total(), 2 * 2.0 * 3 * 5 * 7);
  torch::bmm(torch::randn({4, 3, 5}), torch::randn({4, 5, 2}));
  EXPECT_EQ(c.total(), 2 * 2.0 * 3 * 5 * 7 + 2.0 * 4 * 3 * 5 * 2);
  EXPECT_EQ(c.by_operator().at("aten::bmm"), 2.0 * 4 * 3 * 5 * 2);
  torch::relu(a);  // element-wise: not counted
  EXPECT_EQ(c.total(), 2 * 2.0 * 3 * 5 * 7 + 2.0 * 4 * 3 * 5 * 2);
}

TEST(FlopCounter, ALinearLayerIsCountedOnceForwardAndThriceWithItsBackward) {
  torch::nn::Linear fc(5, 7);
  const auto x = torch::randn({3, 5}, torch::requires_grad());
  core::FlopCounter c;
  auto y = fc(x);
  EXPECT_EQ(c.total(), 2.0 * 3 * 5 * 7);  // linear -> addmm: once
  y.sum().backward();                     // grad input [3,7]x[7,5] and grad weight [7,3]x[3,5]
  EXPECT_EQ(c.total(), 3 * 2.0 * 3 * 5 * 7);
}

TEST(FlopCounter, ConvolutionsForwardAndBackward) {
  // 2 images, 4 -> 6 channels, 3x3, stride 2, padding 1 on 9x9: a 5x5 output.
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(4, 6, 3).stride(2).padding(1).bias(false));
  const auto x = torch::randn({2, 4, 9, 9});
  const double forward = 2.0 * 2 * 6 * 5 * 5 * 4 * 3 * 3;
  {
    core::FlopCounter c;
    auto y = conv(x);
    ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 6, 5, 5}));
    EXPECT_EQ(c.total(), forward);
    y.sum().backward();  // the input needs no gradient: only the weight's
    EXPECT_EQ(c.total(), 2 * forward);
    EXPECT_EQ(c.by_operator().at("aten::convolution_backward"), forward);
  }
  core::FlopCounter c;
  conv(x.clone().requires_grad_()).sum().backward();  // both gradients
  EXPECT_EQ(c.total(), 3 * forward);
  // Grouped: each output channel sees in/groups input channels.
  torch::nn::Conv2d grouped(torch::nn::Conv2dOptions(4, 6, 1).groups(2).bias(false));
  torch::NoGradGuard no_grad;
  const double before = c.total();
  grouped(x);
  EXPECT_EQ(c.total() - before, 2.0 * 2 * 6 * 9 * 9 * 2);
}

TEST(FlopCounter, OneAtATime) {
  core::FlopCounter c;
  EXPECT_THROW(core::FlopCounter d, std::exception);
}

TEST(FlopCounter, AResNet18StepCountsWhatPyTorchsFlopCounterModeCounts) {
  constexpr int64_t kBatch = 4;
  torch::manual_seed(0);
  models::ResNetOptions o;
  o.arch = models::Arch::kRes18;
  auto model = models::ResNet(o);
  model->train();
  auto opt = optim::make_optimizer(optim::OptimizerKind::kLars, *model, 0.3, 1e-6, 0.9);
  dist::DataParallel one(dist::DistEnv{}, dist::BackendChoice::kGloo, 60, torch::kCPU);
  train::TrainStep step(model, *opt, one, train::StepOptions{});
  const auto views = torch::rand({2 * kBatch, 3, 32, 32});
  double ours = 0;
  {
    core::FlopCounter c;
    step.run(views, 0.3);
    ours = c.total();
  }
  const std::string cmd = flatclr::testing::python() + " " +
                          flatclr::testing::source_path("bench/pytorch_step.py") +
                          " --batch 4 --threads 1 --count_flops";
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[256] = {};
  const size_t n = std::fread(buf, 1, sizeof buf - 1, p);
  ASSERT_EQ(::pclose(p), 0) << cmd;
  double theirs = 0;
  ASSERT_EQ(std::sscanf(std::string(buf, n).c_str(), "step_flops %lf", &theirs), 1) << buf;
  // The same convolutions and products; only flatclr's loss differs in small terms (26.6 GFLOP in all).
  EXPECT_NEAR(ours / theirs, 1.0, 0.005) << "flatclr " << ours << ", PyTorch " << theirs;
}
