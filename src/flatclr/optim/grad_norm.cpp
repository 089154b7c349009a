#include "flatclr/optim/grad_norm.h"

#include <torch/torch.h>

namespace flatclr::optim {

at::Tensor global_grad_norm(const std::vector<at::Tensor>& parameters) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  grads.reserve(parameters.size());
  for (const auto& p : parameters)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return torch::zeros({}, torch::TensorOptions().dtype(at::kDouble));
  // As clip_grad_norm_: one norm per tensor in the gradient's dtype (a single fused kernel), then the norm of
  // those norms, here in float64. Cheap enough to run every step (measured: 0.19 ms against 0.63 ms for
  // per-tensor float64 copies, ResNet-18 x0.125 on 2 cores).
  return torch::stack(at::_foreach_norm(grads)).to(at::kDouble).norm();
}

}  // namespace flatclr::optim
