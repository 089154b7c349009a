// models::BatchNorm1d/2d: without a sync hook they are LibTorch's BatchNorm (outputs, gradients, running
// statistics, state-dict keys, printing; LARS excludes their parameters); with a hook, training mode
// takes the hook's result and eval mode does not; set_batch_norm_sync finds every layer of a ResNet.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

#include "flatclr/models/batch_norm.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/param_groups.h"

namespace flatclr::models {
namespace {

TEST(BatchNorm, WithoutSyncIsLibTorchsBatchNorm) {
  torch::manual_seed(0);
  BatchNorm2d bn(3);
  torch::nn::BatchNorm2d ref(3);
  auto x = torch::randn({4, 3, 5, 5}) * 2 + 1;
  auto x1 = x.clone().requires_grad_(), x2 = x.clone().requires_grad_();
  auto y1 = bn(x1), y2 = ref(x2);
  EXPECT_TRUE(torch::equal(y1, y2));
  (y1 * y1).sum().backward();
  (y2 * y2).sum().backward();
  EXPECT_TRUE(torch::equal(x1.grad(), x2.grad()));
  EXPECT_TRUE(torch::equal(bn->running_var, ref->running_var));
  std::vector<std::string> k1, k2;
  for (auto& p : bn->named_parameters()) k1.push_back(p.key());
  for (auto& b : bn->named_buffers()) k1.push_back(b.key());
  for (auto& p : ref->named_parameters()) k2.push_back(p.key());
  for (auto& b : ref->named_buffers()) k2.push_back(b.key());
  EXPECT_EQ(k1, k2);
  std::ostringstream printed;
  bn->pretty_print(printed);
  EXPECT_EQ(printed.str(),
            "flatclr::models::BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=1, track_running_stats=1)");
  bn->eval();
  ref->eval();
  EXPECT_TRUE(torch::equal(bn(x), ref(x)));
}

TEST(BatchNorm, LarsExcludesItsParameters) {
  ResNetOptions o;
  o.arch = flatclr::models::Arch::kRes10;
  o.width_multiplier = 0.125;
  o.head.mode = flatclr::models::HeadMode::kLinear;
  ResNet net(o);
  auto groups = optim::split_param_groups(*net);
  int bn_params = 0;
  for (const auto& name : groups.excluded_names)
    if (name.find("bn") != std::string::npos || name.find("downsample.1") != std::string::npos ||
        name.find("net.1") != std::string::npos)
      ++bn_params;
  for (const auto& name : groups.regular_names) EXPECT_EQ(name.find("bn"), std::string::npos) << name;
  // res10: stem + 4 blocks x 2 + 3 downsample BatchNorm2d, the head's BatchNorm1d; weight and bias each.
  EXPECT_EQ(bn_params, 2 * (1 + 8 + 3 + 1));
}

struct ConstantSync : BatchNormSync {
  int calls = 0;
  at::Tensor forward(const at::Tensor& x, const BatchNormState& s) override {
    ++calls;
    EXPECT_TRUE(s.weight.defined() && s.running_mean.defined() && s.options != nullptr);
    return torch::full_like(x, 42.0);
  }
};

TEST(BatchNorm, TrainingModeUsesTheSyncHookEvalModeDoesNot) {
  BatchNorm1d bn(2);
  auto sync = std::make_shared<ConstantSync>();
  bn->sync = sync;
  auto x = torch::randn({3, 2});
  EXPECT_TRUE(torch::all(bn(x) == 42).item<bool>());
  bn->eval();
  EXPECT_FALSE(torch::all(bn(x) == 42).item<bool>());
  EXPECT_EQ(sync->calls, 1);
}

TEST(BatchNorm, SetBatchNormSyncReachesEveryLayerOfAResNet) {
  ResNetOptions o;
  o.arch = flatclr::models::Arch::kRes18;
  o.width_multiplier = 0.125;
  o.head.mode = flatclr::models::HeadMode::kLinear;  // its BatchNorm1d too
  ResNet net(o);
  // res18: stem 1 + 8 blocks x 2 + 3 downsample = 20 BatchNorm2d, plus the head's BatchNorm1d.
  EXPECT_EQ(set_batch_norm_sync(*net, std::make_shared<ConstantSync>()), 21);
  EXPECT_EQ(set_batch_norm_sync(*net, nullptr), 21);
}

}  // namespace
}  // namespace flatclr::models
