// BatchNorm1d/2d with LibTorch's semantics (the same options, parameters, buffers and state-dict keys:
// weight, bias, running_mean, running_var, num_batches_tracked; the same forward, via
// torch::nn::functional::detail::batch_norm) plus a hook for synchronised BatchNorm: when a BatchNormSync
// is attached and the module is training, the output comes from the hook (dist/sync_batch_norm.h: the
// statistics of every process's batch) instead of the local batch. Written as its own module because
// LibTorch's BatchNorm forward is not virtual, and a subclass does not link against Debian's LibTorch
// (BatchNormImplBase::pretty_print is not exported).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/options/batchnorm.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <ostream>

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

// The common part; inputs have min_dim..max_dim dimensions (1d: 2 or 3, 2d: 4).
class BatchNormBase : public torch::nn::Module {
 public:
  BatchNormBase(const torch::nn::BatchNormOptions& options, int min_dim, int max_dim, const char* name);
  // x: [N, C, *]
  at::Tensor forward(const at::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  torch::nn::BatchNormOptions options;
  at::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  std::shared_ptr<BatchNormSync> sync;  // used in training mode when set

 private:
  int min_dim_, max_dim_;
  const char* name_;
};

struct BatchNorm1dImpl : BatchNormBase {
  explicit BatchNorm1dImpl(const torch::nn::BatchNormOptions& o) : BatchNormBase(o, 2, 3, "BatchNorm1d") {}
  explicit BatchNorm1dImpl(int64_t features) : BatchNorm1dImpl(torch::nn::BatchNormOptions(features)) {}
};
TORCH_MODULE(BatchNorm1d);

struct BatchNorm2dImpl : BatchNormBase {
  explicit BatchNorm2dImpl(const torch::nn::BatchNormOptions& o) : BatchNormBase(o, 4, 4, "BatchNorm2d") {}
  explicit BatchNorm2dImpl(int64_t features) : BatchNorm2dImpl(torch::nn::BatchNormOptions(features)) {}
};
TORCH_MODULE(BatchNorm2d);

// Attaches sync (nullptr: detaches) to every flatclr BatchNorm in module; returns how many it found.
int set_batch_norm_sync(torch::nn::Module& module, const std::shared_ptr<BatchNormSync>& sync);

}  // namespace flatclr::models
