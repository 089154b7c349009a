#include "flatclr/optim/param_groups.h"

#include <torch/torch.h>

#include <unordered_map>

namespace flatclr::optim {

bool is_norm_module(const torch::nn::Module& m) {
  namespace nn = torch::nn;
  return dynamic_cast<const nn::BatchNorm1dImpl*>(&m) || dynamic_cast<const nn::BatchNorm2dImpl*>(&m) ||
         dynamic_cast<const nn::BatchNorm3dImpl*>(&m) || dynamic_cast<const nn::InstanceNorm1dImpl*>(&m) ||
         dynamic_cast<const nn::InstanceNorm2dImpl*>(&m) || dynamic_cast<const nn::InstanceNorm3dImpl*>(&m) ||
         dynamic_cast<const nn::GroupNormImpl*>(&m) || dynamic_cast<const nn::LayerNormImpl*>(&m);
}

ParamGroups split_param_groups(const torch::nn::Module& model) {
  // Owner module name -> is it a norm layer. include_self=false: the top-level module need not be held
  // in a shared_ptr; it is the owner "" of its direct parameters.
  std::unordered_map<std::string, bool> norm_owner{{"", is_norm_module(model)}};
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    norm_owner[item.key()] = is_norm_module(*item.value());
  }
  ParamGroups groups;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    const size_t dot = name.rfind('.');
    const std::string owner = dot == std::string::npos ? "" : name.substr(0, dot);
    const std::string leaf = dot == std::string::npos ? name : name.substr(dot + 1);
    const auto it = norm_owner.find(owner);
    const bool in_norm = it != norm_owner.end() && it->second;
    if (in_norm || leaf == "bias" || item.value().dim() <= 1) {
      groups.excluded.push_back(item.value());
      groups.excluded_names.push_back(name);
    } else {
      groups.regular.push_back(item.value());
      groups.regular_names.push_back(name);
    }
  }
  return groups;
}

}  // namespace flatclr::optim
