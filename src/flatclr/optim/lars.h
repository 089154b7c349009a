// LARS (You, Gitman & Ginsburg 2017, "Large Batch Training of Convolutional Networks") as in TF SimCLR's
// LARSOptimizer, written on LibTorch's torch::optim::Optimizer + ParamState pattern (like torch::optim::SGD).
// Per parameter p with gradient g, in a group with lr, momentum m, weight decay wd, trust coefficient eeta:
//   adapt = true  (conv/linear weights):  g' = g + wd * p
//                                         trust = (||p|| > 0 && ||g'|| > 0) ? eeta * ||p|| / ||g'|| : 1
//   adapt = false (biases, norm params):  g' = g, trust = 1   (the group's weight_decay is not used)
//   v = m * v + (lr * trust) * g'   (v starts at 0);   p -= v
// The reference (optimizer/lars.py) declares the bias/BN exclusion but applies wd and the
// trust ratio to every tensor with `>= 0` guards, so every BN bias (initialised at 0) gets trust 0 and stays
// frozen at 0. We follow SimCLR's intent instead: exclusions applied (see param_groups.h) and trust = 1
// when either norm is 0. The trust ratio stays a device tensor: no host synchronisation per parameter.
#pragma once

#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

#include <vector>

namespace flatclr::optim {

struct LARSOptions : public torch::optim::OptimizerCloneableOptions<LARSOptions> {
  LARSOptions(double lr = 0.1);  // NOLINT: implicit, as torch::optim::SGDOptions (the serializer needs (0))
  TORCH_ARG(double, lr);
  TORCH_ARG(double, momentum) = 0.9;
  TORCH_ARG(double, weight_decay) = 1e-6;
  TORCH_ARG(double, eeta) = 1e-3;
  // true: weight decay + trust ratio (regular weights); false: plain momentum SGD (excluded params).
  TORCH_ARG(bool, adapt) = true;

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override;
  void set_lr(const double lr) override;
  friend bool operator==(const LARSOptions& lhs, const LARSOptions& rhs);
};

struct LARSParamState : public torch::optim::OptimizerCloneableParamState<LARSParamState> {
  TORCH_ARG(torch::Tensor, momentum_buffer);  // v: same shape, dtype and device as the parameter

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  friend bool operator==(const LARSParamState& lhs, const LARSParamState& rhs);
};

class LARS : public torch::optim::Optimizer {
 public:
  // Groups without options get a copy of `defaults`.
  explicit LARS(std::vector<torch::optim::OptimizerParamGroup> param_groups, LARSOptions defaults = {});
  explicit LARS(std::vector<torch::Tensor> params, LARSOptions defaults = {});

  // Skips parameters without a gradient. Returns the closure's loss (undefined without a closure).
  torch::Tensor step(LossClosure closure = nullptr) override;
  // The same update, with the learning rate and the decision to make it read on the device instead of the
  // host: lr is a 0-dim floating tensor and apply a 0-dim bool tensor, both on the parameters' device; lr
  // replaces every group's lr. With apply false no parameter and no momentum buffer changes, whatever the
  // gradients hold (NaN and Inf included). Nothing here reads a value back to the host, so that a training
  // step needs no host sync and can be captured in a CUDA graph. The momentum buffers of parameters that have
  // a gradient must exist already (after one step()) when this runs inside a graph capture.
  void step_on_device(const torch::Tensor& lr, const torch::Tensor& apply);
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  torch::Tensor& momentum_buffer(const torch::Tensor& p);
  template <typename Self, typename Archive>
  static void serialize(Self& self, Archive& archive) {
    torch::optim::serialize<LARSParamState, LARSOptions>(archive, self);
  }
};

}  // namespace flatclr::optim
