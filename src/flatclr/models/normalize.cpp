#include "flatclr/models/normalize.h"

#include <torch/torch.h>

namespace flatclr::models {

ChannelStats channel_stats_for(const std::string& name) {
  if (name == "imagenet") return {{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}};
  if (name == "cifar10") return {{0.4914, 0.4822, 0.4465}, {0.2023, 0.1994, 0.2010}};
  if (name == "cifar100") return {{0.5071, 0.4867, 0.4408}, {0.2675, 0.2565, 0.2761}};
  if (name == "tiny_imagenet") return {{0.48, 0.4481, 0.3977}, {0.276, 0.270, 0.282}};
  return {{0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}};
}

NormalizeImpl::NormalizeImpl(const ChannelStats& stats) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  mean = register_buffer("mean", torch::tensor({stats.mean[0], stats.mean[1], stats.mean[2]}, opts));
  std = register_buffer("std", torch::tensor({stats.std[0], stats.std[1], stats.std[2]}, opts));
}

at::Tensor NormalizeImpl::forward(const at::Tensor& x) {
  return (x - mean.view({1, 3, 1, 1}).to(x.dtype())) / std.view({1, 3, 1, 1}).to(x.dtype());
}

}  // namespace flatclr::models
