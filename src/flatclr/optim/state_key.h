// The key under which torch::optim::Optimizer keeps a parameter's state (Optimizer::state()): the address of
// the parameter's TensorImpl.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/optim/optimizer.h>

namespace flatclr::optim {

// param: any parameter tensor held by an optimizer.
inline void* state_key(const at::Tensor& param) { return param.unsafeGetTensorImpl(); }

}  // namespace flatclr::optim
