// BatchNorm1d/2d as LibTorch's (same options, parameters, buffers and state-dict keys: weight, bias,
// running_mean, running_var, num_batches_tracked; dynamic_cast to torch::nn::BatchNorm2dImpl works), plus
// a hook for synchronised BatchNorm: when a BatchNormSync is attached and the module is training, the
// batch statistics come from the hook (e.g. over every process's batch, dist/sync_batch_norm.h) instead of
// the local batch. LibTorch's BatchNorm forward is not virtual, hence these thin subclasses.
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/pimpl.h>

#include <memory>

namespace flatclr::models {

// The tensors and options of one BatchNorm layer, as the hook sees them (tensor handles: in-place updates
// of the running statistics reach the module).
struct BatchNormState {
  at::Tensor weight, bias;                                    // [C] or undefined (affine=false)
  at::Tensor running_mean, running_var, num_batches_tracked;  // undefined when not tracking
  const torch::nn::BatchNormOptions* options = nullptr;
};

// Training-mode BatchNorm with statistics from elsewhere. x: [N, C, *] -> [N, C, *].
class BatchNormSync {
 public:
  virtual ~BatchNormSync() = default;
  virtual at::Tensor forward(const at::Tensor& x, const BatchNormState& state) = 0;
};

struct BatchNorm1dImpl : torch::nn::BatchNorm1dImpl {
  using TorchImpl = torch::nn::BatchNorm1dImpl;
  using TorchImpl::TorchImpl;
  at::Tensor forward(const at::Tensor& x);
  std::shared_ptr<BatchNormSync> sync;  // used in training mode when set
};
TORCH_MODULE(BatchNorm1d);

struct BatchNorm2dImpl : torch::nn::BatchNorm2dImpl {
  using TorchImpl = torch::nn::BatchNorm2dImpl;
  using TorchImpl::TorchImpl;
  at::Tensor forward(const at::Tensor& x);
  std::shared_ptr<BatchNormSync> sync;
};
TORCH_MODULE(BatchNorm2d);

// Attaches sync (nullptr: detaches) to every flatclr BatchNorm in module; returns how many it found.
int set_batch_norm_sync(torch::nn::Module& module, const std::shared_ptr<BatchNormSync>& sync);

}  // namespace flatclr::models
