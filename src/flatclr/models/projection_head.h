// The projection head g(h) -> z of SimCLR (as in the paper's code), the module `fc` of the encoder, so that
// its state-dict keys are the reference's `fc.linear_layers.net.<i>.*`.
//   nonlinear (default): k-1 hidden [Linear(C, C) -> ReLU] blocks, then Linear(C, out). No BN.
//   linear:              Linear(C, out) -> BatchNorm1d(out).
//   none:                z = h (the reference's `none` breaks its train loop; here it simply works).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <string>

#include "flatclr/core/choice.h"

namespace flatclr::models {

enum class HeadMode { kNonlinear, kLinear, kNone };
inline constexpr core::Choice<HeadMode> kHeadModes[] = {
    {HeadMode::kNonlinear, "nonlinear"}, {HeadMode::kLinear, "linear"}, {HeadMode::kNone, "none"}};
constexpr const auto& choices_of(HeadMode) { return kHeadModes; }

struct ProjectionHeadOptions {
  HeadMode mode = HeadMode::kNonlinear;
  int64_t in_dim = 512;
  int64_t num_layers = 2;  // nonlinear only: number of Linear layers
  int64_t out_dim = 128;
};

struct LinearLayersImpl : torch::nn::Module {
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(LinearLayers);

struct ProjectionHeadImpl : torch::nn::Module {
  explicit ProjectionHeadImpl(const ProjectionHeadOptions& options);
  // h: [B, C] -> z: [B, out_dim] (or [B, C] for mode none)
  at::Tensor forward(const at::Tensor& h);
  int64_t out_dim() const;

  ProjectionHeadOptions options;
  LinearLayers linear_layers{nullptr};
};
TORCH_MODULE(ProjectionHead);

}  // namespace flatclr::models
