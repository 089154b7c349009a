// Input normalisation inside the model, as in the paper's code: the data pipelines output [0,1] images and
// the model subtracts the per-channel mean and divides by the std, kept as buffers `normalize.mean/std` so
// that a checkpoint carries them (as the reference's NormalizeByChannelMeanStd).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <string>

namespace flatclr::models {

struct ChannelStats {
  std::array<double, 3> mean;
  std::array<double, 3> std;
};

// Mean/std by dataset name: imagenet, cifar10, cifar100, tiny_imagenet; anything else 0.5/0.5 (the paper's
// values).
ChannelStats channel_stats_for(const std::string& dataset_name);

struct NormalizeImpl : torch::nn::Module {
  explicit NormalizeImpl(const ChannelStats& stats);
  // x: [B, 3, H, W] in [0, 1] -> (x - mean) / std
  at::Tensor forward(const at::Tensor& x);
  at::Tensor mean;  // [3]
  at::Tensor std;   // [3]
};
TORCH_MODULE(Normalize);

}  // namespace flatclr::models
