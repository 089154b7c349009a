#include "flatclr/models/batch_norm.h"

#include <torch/torch.h>

namespace flatclr::models {
namespace {

template <typename Impl>
at::Tensor forward_with(Impl& bn, const at::Tensor& x) {
  if (!bn.sync || !bn.is_training()) return static_cast<typename Impl::TorchImpl&>(bn).forward(x);
  BatchNormState s;
  s.weight = bn.weight;
  s.bias = bn.bias;
  s.running_mean = bn.running_mean;
  s.running_var = bn.running_var;
  s.num_batches_tracked = bn.num_batches_tracked;
  s.options = &bn.options;
  return bn.sync->forward(x, s);
}

}  // namespace

at::Tensor BatchNorm1dImpl::forward(const at::Tensor& x) { return forward_with(*this, x); }
at::Tensor BatchNorm2dImpl::forward(const at::Tensor& x) { return forward_with(*this, x); }

int set_batch_norm_sync(torch::nn::Module& module, const std::shared_ptr<BatchNormSync>& sync) {
  int found = 0;
  for (auto& m : module.modules(/*include_self=*/true)) {
    if (auto* b1 = dynamic_cast<BatchNorm1dImpl*>(m.get())) {
      b1->sync = sync;
      ++found;
    } else if (auto* b2 = dynamic_cast<BatchNorm2dImpl*>(m.get())) {
      b2->sync = sync;
      ++found;
    }
  }
  return found;
}

}  // namespace flatclr::models
