// Splits a model's parameters into the two LARS groups of SimCLR (the paper's code declares them but never
// applies them; flatclr does):
//   regular:  conv/linear weights -> weight decay + trust-ratio adaptation;
//   excluded: every bias and every normalisation parameter -> neither.
// Rule (the union of three tests, so that it does not depend on one naming or shape convention):
// a parameter is excluded when its owning module is a normalisation layer (BatchNorm1d/2d/3d,
// InstanceNorm1d/2d/3d, GroupNorm, LayerNorm), or its own name is "bias" (TF SimCLR excludes by the
// names "batch_normalization" and "bias"), or it has at most one dimension (solo-learn's rule; it also
// catches a hand-written norm layer and learnable scalars, for which a trust ratio makes no sense).
// In a ResNet + projection head the three tests select exactly the same tensors.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <string>
#include <vector>

namespace flatclr::optim {

struct ParamGroups {
  // Both in Module::named_parameters() order; names are the module's dotted parameter names.
  std::vector<at::Tensor> regular;
  std::vector<std::string> regular_names;
  std::vector<at::Tensor> excluded;
  std::vector<std::string> excluded_names;
};

ParamGroups split_param_groups(const torch::nn::Module& model);

// True when `module` is one of LibTorch's normalisation layers listed above.
bool is_norm_module(const torch::nn::Module& module);

}  // namespace flatclr::optim
