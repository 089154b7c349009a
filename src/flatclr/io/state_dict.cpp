#include "flatclr/io/state_dict.h"

#include <torch/torch.h>

#include <set>
#include <sstream>

#include "flatclr/core/error.h"

namespace flatclr::io {
namespace {

void collect(const torch::nn::Module& m, const std::string& prefix,
             std::vector<std::pair<std::string, at::Tensor>>& out) {
  for (const auto& p : m.named_parameters(/*recurse=*/false)) out.emplace_back(prefix + p.key(), p.value());
  for (const auto& b : m.named_buffers(/*recurse=*/false)) out.emplace_back(prefix + b.key(), b.value());
  for (const auto& c : m.named_children()) collect(*c.value(), prefix + c.key() + ".", out);
}

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

}  // namespace

StateDict module_state_dict(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, at::Tensor>> items;
  collect(module, "", items);
  StateDict dict;
  for (auto& [k, v] : items) dict.insert(k, v.detach().to(torch::kCPU).clone());
  return dict;
}

LoadReport load_module_state_dict(torch::nn::Module& module, const StateDict& dict, bool strict,
                                  const std::string& what) {
  std::vector<std::pair<std::string, at::Tensor>> targets;
  collect(module, "", targets);
  std::map<std::string, at::Tensor> source;
  for (const auto& e : dict) {
    std::string key = e.key();
    if (key.rfind("module.", 0) == 0) key = key.substr(7);
    source[key] = e.value();
  }
  LoadReport report;
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  for (auto& [key, target] : targets) {
    auto it = source.find(key);
    if (it == source.end()) {
      report.missing.push_back(key);
      continue;
    }
    if (it->second.sizes() != target.sizes()) {
      fail(what, ": ", key, " has shape ", shape_str(it->second.sizes()), " but the model expects ",
           shape_str(target.sizes()), " (was the checkpoint made with another ", Field{"model.arch"}, ", ",
           Field{"model.width_multiplier"}, " or projection head?)");
    }
    target.copy_(it->second.to(target.device(), target.scalar_type()));
    used.insert(key);
  }
  for (auto& [key, _] : source) {
    if (!used.count(key)) report.unexpected.push_back(key);
  }
  if (strict && (!report.missing.empty() || !report.unexpected.empty())) {
    std::ostringstream os;
    os << what << ": the model state does not match this model:";
    if (!report.missing.empty())
      os << " " << report.missing.size() << " missing key(s), first " << report.missing[0];
    if (!report.unexpected.empty())
      os << "; " << report.unexpected.size() << " unexpected key(s), first " << report.unexpected[0];
    throw UserError(os.str());
  }
  return report;
}

StateDict to_state_dict(const c10::IValue& value, const std::string& what) {
  if (!value.isGenericDict()) fail(what, ": expected a dict of tensors, found ", value.tagKind());
  StateDict out;
  for (const auto& e : value.toGenericDict()) {
    if (!e.key().isString() || !e.value().isTensor()) {
      fail(what, ": expected a dict of name -> tensor, found an entry of ", e.key().tagKind(), " -> ",
           e.value().tagKind());
    }
    out.insert(e.key().toStringRef(), e.value().toTensor());
  }
  return out;
}

}  // namespace flatclr::io
