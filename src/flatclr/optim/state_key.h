// The key under which torch::optim::Optimizer keeps a parameter's state (Optimizer::state()).
// LibTorch 1.13 keys the map by the text of the TensorImpl address (c10::guts::to_string(impl), i.e.
// `ostream << (const void*)impl`); LibTorch 2.2+ (pytorch/pytorch#108480) keys it by the address itself
// (void*). The key type is read from the Optimizer's own declaration, so this one helper is right for
// every version without a version macro (a TORCH_VERSION_MAJOR test would be wrong for 2.0 and 2.1).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/optim/optimizer.h>

#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

namespace flatclr::optim {

using OptimizerStateMap = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;
using OptimizerStateKey = OptimizerStateMap::key_type;

// param: any parameter tensor held by an optimizer.
template <typename Key = OptimizerStateKey>
Key state_key(const at::Tensor& param) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream os;
    os << static_cast<const void*>(param.unsafeGetTensorImpl());
    return os.str();
  } else {
    return static_cast<Key>(param.unsafeGetTensorImpl());
  }
}

}  // namespace flatclr::optim
