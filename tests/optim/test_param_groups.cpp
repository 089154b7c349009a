// The LARS split: conv/linear weights regular; biases and normalisation parameters excluded.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "flatclr/optim/param_groups.h"

using flatclr::optim::split_param_groups;
namespace nn = torch::nn;

namespace {

// A small ResNet-shaped model: stem conv without bias + BN, a block, a head with biases and a BN1d.
struct ToyNetImpl : nn::Module {
  ToyNetImpl() {
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(3, 4, 3).bias(false)));
    bn1 = register_module("bn1", nn::BatchNorm2d(4));
    layer1 = register_module("layer1", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(4, 4, 3).bias(false)),
                                                      nn::BatchNorm2d(4), nn::ReLU()));
    fc = register_module("fc",
                         nn::Sequential(nn::Linear(4, 4), nn::ReLU(), nn::Linear(4, 2), nn::BatchNorm1d(2)));
  }
  nn::Conv2d conv1{nullptr};
  nn::BatchNorm2d bn1{nullptr};
  nn::Sequential layer1{nullptr}, fc{nullptr};
};
TORCH_MODULE(ToyNet);

// Parameters that only one of the three tests of the rule catches.
struct OddImpl : nn::Module {
  OddImpl() {
    weight = register_parameter("weight", torch::ones({3, 3}));               // 2-D, not bias: regular
    bias = register_parameter("bias", torch::zeros({3, 3}));                  // 2-D but named bias: excluded
    scale = register_parameter("scale", torch::ones({3}));                    // 1-D: excluded
    temperature = register_parameter("temperature", torch::ones({}));         // 0-D: excluded
    ln = register_module("ln", nn::LayerNorm(nn::LayerNormOptions({3, 3})));  // 2-D norm weight: excluded
    gn = register_module("gn", nn::GroupNorm(1, 3));
  }
  torch::Tensor weight, bias, scale, temperature;
  nn::LayerNorm ln{nullptr};
  nn::GroupNorm gn{nullptr};
};

}  // namespace

TEST(ParamGroups, ResNetShapedModel) {
  ToyNet net;
  const auto g = split_param_groups(*net);
  EXPECT_EQ(g.regular_names,
            (std::vector<std::string>{"conv1.weight", "layer1.0.weight", "fc.0.weight", "fc.2.weight"}));
  EXPECT_EQ(g.excluded_names,
            (std::vector<std::string>{"bn1.weight", "bn1.bias", "layer1.1.weight", "layer1.1.bias",
                                      "fc.0.bias", "fc.2.bias", "fc.3.weight", "fc.3.bias"}));
  // The tensors are the model's own (same storage), in the same order as the names.
  const auto params = net->named_parameters();
  ASSERT_EQ(g.regular.size(), g.regular_names.size());
  ASSERT_EQ(g.excluded.size(), g.excluded_names.size());
  for (size_t i = 0; i < g.regular.size(); ++i) EXPECT_TRUE(g.regular[i].is_same(params[g.regular_names[i]]));
  for (size_t i = 0; i < g.excluded.size(); ++i)
    EXPECT_TRUE(g.excluded[i].is_same(params[g.excluded_names[i]]));
  EXPECT_EQ(g.regular.size() + g.excluded.size(), params.size());
}

TEST(ParamGroups, UnionRuleOnOddParameters) {
  OddImpl odd;  // not held by a shared_ptr: the top level must still work
  const auto g = split_param_groups(odd);
  EXPECT_EQ(g.regular_names, (std::vector<std::string>{"weight"}));
  EXPECT_EQ(g.excluded_names, (std::vector<std::string>{"bias", "scale", "temperature", "ln.weight",
                                                        "ln.bias", "gn.weight", "gn.bias"}));
}

TEST(ParamGroups, TopLevelNormModule) {
  nn::BatchNorm2dImpl bn(5);
  const auto g = split_param_groups(bn);
  EXPECT_TRUE(g.regular.empty());
  EXPECT_EQ(g.excluded_names, (std::vector<std::string>{"weight", "bias"}));
  EXPECT_TRUE(flatclr::optim::is_norm_module(bn));
  EXPECT_FALSE(flatclr::optim::is_norm_module(nn::LinearImpl(2, 2)));
}
