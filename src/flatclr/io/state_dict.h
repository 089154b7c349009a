// Module state dicts as PyTorch lays them out: keys "<module path>.<name>" in registration order, each
// module's parameters before its buffers, children after (= nn.Module.state_dict()). Stored in a
// c10::Dict so that torch::pickle_save writes something Python's torch.load returns as a dict.
#pragma once

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <torch/nn/module.h>

#include <string>
#include <vector>

namespace flatclr::io {

using StateDict = c10::Dict<std::string, at::Tensor>;

// Detached CPU copies of every parameter and buffer, PyTorch order.
StateDict module_state_dict(const torch::nn::Module& module);

struct LoadReport {
  std::vector<std::string> missing;     // in the module, not in the dict
  std::vector<std::string> unexpected;  // in the dict, not in the module
};

// Copies the dict's tensors into the module (to each tensor's device and dtype). A leading "module."
// (DataParallel) is stripped from every key. Shape mismatches are UserErrors naming the key, `what`
// (e.g. the checkpoint path) and both shapes. With strict, missing or unexpected keys are UserErrors too.
LoadReport load_module_state_dict(torch::nn::Module& module, const StateDict& dict, bool strict,
                                  const std::string& what);

// Converts a generic IValue dict (as unpickled) to a StateDict; UserError naming `what` if it is not one.
StateDict to_state_dict(const c10::IValue& value, const std::string& what);

}  // namespace flatclr::io
