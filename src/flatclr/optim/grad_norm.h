// The global L2 norm of the gradients of a set of parameters, sqrt(sum_p ||grad p||^2) (what
// torch.nn.utils.clip_grad_norm_ returns, computed the same way: per-tensor norms in the gradients' dtype),
// as a 0-dim float64 tensor on the parameters' device: computed without a host sync, so the caller decides
// when to read it. Parameters without a gradient are skipped; a NaN or Inf gradient gives a NaN or Inf norm.
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace flatclr::optim {

at::Tensor global_grad_norm(const std::vector<at::Tensor>& parameters);

}  // namespace flatclr::optim
