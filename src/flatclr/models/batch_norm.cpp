#include "flatclr/models/batch_norm.h"

#include <torch/torch.h>

#include "flatclr/core/error.h"

namespace flatclr::models {

BatchNormBase::BatchNormBase(const torch::nn::BatchNormOptions& o, int min_dim, int max_dim, const char* name)
    : options(o), min_dim_(min_dim), max_dim_(max_dim), name_(name) {
  const int64_t c = o.num_features();
  // As LibTorch's NormImplBase::reset/reset_parameters: weight 1, bias 0, mean 0, var 1, count 0.
  if (o.affine()) {
    weight = register_parameter("weight", torch::ones({c}));
    bias = register_parameter("bias", torch::zeros({c}));
  }
  if (o.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({c}));
    running_var = register_buffer("running_var", torch::ones({c}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
  }
}

at::Tensor BatchNormBase::forward(const at::Tensor& x) {
  FLATCLR_CHECK(x.dim() >= min_dim_ && x.dim() <= max_dim_, name_, " expects ", min_dim_, "D-", max_dim_,
                "D input, got ", x.sizes());
  if (sync && is_training()) {
    BatchNormState s;
    s.weight = weight;
    s.bias = bias;
    s.running_mean = running_mean;
    s.running_var = running_var;
    s.num_batches_tracked = num_batches_tracked;
    s.options = &options;
    return sync->forward(x, s);
  }
  // LibTorch's BatchNormImplBase::forward.
  double factor = options.momentum() ? *options.momentum() : 0.0;
  if (is_training() && options.track_running_stats() && num_batches_tracked.defined()) {
    num_batches_tracked += 1;
    if (!options.momentum()) factor = 1.0 / num_batches_tracked.item<double>();
  }
  return torch::nn::functional::detail::batch_norm(x, running_mean, running_var, weight, bias,
                                                   is_training() || !options.track_running_stats(), factor,
                                                   options.eps());
}

void BatchNormBase::pretty_print(std::ostream& stream) const {
  stream << "flatclr::models::" << name_ << "(" << options.num_features() << ", eps=" << options.eps()
         << ", momentum=";
  if (options.momentum())
    stream << *options.momentum();
  else
    stream << "None";
  stream << ", affine=" << options.affine() << ", track_running_stats=" << options.track_running_stats()
         << (sync ? ", synchronised" : "") << ")";
}

int set_batch_norm_sync(torch::nn::Module& module, const std::shared_ptr<BatchNormSync>& sync) {
  int found = 0;
  for (auto& m : module.modules(/*include_self=*/true)) {
    if (auto* bn = dynamic_cast<BatchNormBase*>(m.get())) {
      bn->sync = sync;
      ++found;
    }
  }
  return found;
}

}  // namespace flatclr::models
