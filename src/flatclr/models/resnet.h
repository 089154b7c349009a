// ResNet encoders (He et al. 2016, torchvision's v1.5 layout: the stride sits on the 3x3 conv of the
// Bottleneck) with torchvision's module names, so that state-dict keys read `conv1.weight`,
// `layer1.0.bn1.running_mean`, `layer2.0.downsample.0.weight`, ... and torchvision.models.resnet18()
// accepts the backbone of an ImageNet-stem model. As in the paper's code:
//   - depths: res10 [1,1,1,1], res18 [2,2,2,2], res34 [3,4,6,3] (BasicBlock); res50 [3,4,6,3],
//     res101 [3,4,23,3], res152 [3,8,36,3] (Bottleneck, expansion 4);
//   - ImageNet stem conv7x7/2 -> BN -> ReLU -> maxpool3x3/2; CIFAR stem conv3x3/1 -> BN -> ReLU, no maxpool;
//   - input normalisation inside the model (`normalize.mean/std` buffers);
//   - init: conv kaiming_normal(fan_out, relu), BN weight 1 bias 0, Linear LibTorch (= PyTorch) defaults;
//   - the head `fc` (ProjectionHead) returns z; forward returns (h, z), h the pooled feature.
// width_multiplier scales the channel widths (64*w, 128*w, ...) for CPU-sized runs; 1 is torchvision's.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <utility>
#include <vector>

#include "flatclr/core/choice.h"
#include "flatclr/models/batch_norm.h"
#include "flatclr/models/normalize.h"
#include "flatclr/models/projection_head.h"

namespace flatclr::models {

enum class Arch { kRes10, kRes18, kRes34, kRes50, kRes101, kRes152 };
inline constexpr core::Choice<Arch> kArchs[] = {{Arch::kRes10, "res10"},   {Arch::kRes18, "res18"},
                                                {Arch::kRes34, "res34"},   {Arch::kRes50, "res50"},
                                                {Arch::kRes101, "res101"}, {Arch::kRes152, "res152"}};
constexpr const auto& choices_of(Arch) { return kArchs; }

struct ResNetOptions {
  Arch arch = Arch::kRes18;
  bool imagenet_stem = false;
  double width_multiplier = 1.0;
  std::string normalize_dataset = "cifar10";  // selects normalize.mean/std (channel_stats_for)
  ProjectionHeadOptions head;                 // head.in_dim is set from the backbone
};

struct BasicBlockImpl : torch::nn::Module {
  static constexpr int64_t kExpansion = 1;
  BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

struct BottleneckImpl : torch::nn::Module {
  static constexpr int64_t kExpansion = 4;
  BottleneckImpl(int64_t in_planes, int64_t planes, int64_t stride);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

struct ResNetImpl : torch::nn::Module {
  explicit ResNetImpl(ResNetOptions options);
  // x: [B, 3, H, W] in [0, 1] -> h: [B, feature_dim]
  at::Tensor features(const at::Tensor& x);
  // x: [B, 3, H, W] in [0, 1] -> (h: [B, feature_dim], z: [B, head out_dim])
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x);
  int64_t feature_dim() const { return feature_dim_; }

  ResNetOptions options;
  Normalize normalize{nullptr};
  torch::nn::Conv2d conv1{nullptr};
  BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  ProjectionHead fc{nullptr};

 private:
  int64_t feature_dim_ = 0;
};
TORCH_MODULE(ResNet);

}  // namespace flatclr::models
