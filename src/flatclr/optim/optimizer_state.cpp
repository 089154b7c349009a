#include "flatclr/optim/optimizer_state.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "flatclr/core/error.h"
#include "flatclr/optim/lars.h"
#include "flatclr/optim/state_key.h"

namespace flatclr::optim {

namespace {

using c10::IValue;
using c10::impl::GenericDict;
using c10::impl::GenericList;
using torch::optim::Adam;
using torch::optim::AdamOptions;
using torch::optim::AdamParamState;
using torch::optim::OptimizerOptions;
using torch::optim::OptimizerParamState;
using torch::optim::SGD;
using torch::optim::SGDOptions;
using torch::optim::SGDParamState;

enum class Kind { kLars, kSgd, kAdam };

Kind kind_of(const torch::optim::Optimizer& optimizer) {
  if (dynamic_cast<const LARS*>(&optimizer)) return Kind::kLars;
  if (dynamic_cast<const SGD*>(&optimizer)) return Kind::kSgd;
  if (dynamic_cast<const Adam*>(&optimizer)) return Kind::kAdam;
  throw InternalError("optimizer state: only LARS, SGD and Adam are supported");
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kLars:
      return "LARS";
    case Kind::kSgd:
      return "SGD";
    case Kind::kAdam:
      return "Adam";
  }
  return "?";
}

GenericDict make_str_dict() { return GenericDict(c10::StringType::get(), c10::AnyType::get()); }

torch::Tensor to_cpu_copy(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, t.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
}

GenericDict options_to_dict(Kind kind, const OptimizerOptions& options) {
  GenericDict d = make_str_dict();
  if (kind == Kind::kLars) {
    const auto& o = static_cast<const LARSOptions&>(options);
    d.insert("lr", o.lr());
    d.insert("momentum", o.momentum());
    d.insert("weight_decay", o.weight_decay());
    d.insert("eeta", o.eeta());
    d.insert("adapt", o.adapt());
  } else if (kind == Kind::kSgd) {
    const auto& o = static_cast<const SGDOptions&>(options);
    d.insert("lr", o.lr());
    d.insert("momentum", o.momentum());
    d.insert("dampening", o.dampening());
    d.insert("weight_decay", o.weight_decay());
    d.insert("nesterov", o.nesterov());
  } else {
    const auto& o = static_cast<const AdamOptions&>(options);
    d.insert("lr", o.lr());
    d.insert("betas", c10::ivalue::Tuple::create(std::get<0>(o.betas()), std::get<1>(o.betas())));
    d.insert("eps", o.eps());
    d.insert("weight_decay", o.weight_decay());
    d.insert("amsgrad", o.amsgrad());
  }
  return d;
}

GenericDict param_state_to_dict(Kind kind, const OptimizerParamState& state) {
  GenericDict d = make_str_dict();
  if (kind == Kind::kLars) {
    d.insert("momentum_buffer", to_cpu_copy(static_cast<const LARSParamState&>(state).momentum_buffer()));
  } else if (kind == Kind::kSgd) {
    d.insert("momentum_buffer", to_cpu_copy(static_cast<const SGDParamState&>(state).momentum_buffer()));
  } else {
    const auto& s = static_cast<const AdamParamState&>(state);
    // PyTorch (>= 1.12) keeps Adam's step as a float32 scalar tensor.
    d.insert("step", torch::scalar_tensor(static_cast<double>(s.step()), torch::kFloat32));
    d.insert("exp_avg", to_cpu_copy(s.exp_avg()));
    d.insert("exp_avg_sq", to_cpu_copy(s.exp_avg_sq()));
    if (s.max_exp_avg_sq().defined()) d.insert("max_exp_avg_sq", to_cpu_copy(s.max_exp_avg_sq()));
  }
  return d;
}

// ---- loading: readers that name what is wrong ----

const char* kWhat = "optimizer state";

IValue get(const GenericDict& d, const std::string& key, const std::string& where) {
  auto it = d.find(key);
  if (it == d.end()) fail(kWhat, ": ", where, " has no '", key, "'");
  return it->value();
}

double get_double(const GenericDict& d, const std::string& key, const std::string& where) {
  const IValue v = get(d, key, where);
  if (v.isDouble()) return v.toDouble();
  if (v.isInt()) return static_cast<double>(v.toInt());
  fail(kWhat, ": ", where, " '", key, "' is a ", v.tagKind(), ", expected a number");
}

bool get_bool(const GenericDict& d, const std::string& key, const std::string& where) {
  const IValue v = get(d, key, where);
  if (!v.isBool()) fail(kWhat, ": ", where, " '", key, "' is a ", v.tagKind(), ", expected a bool");
  return v.toBool();
}

GenericDict get_dict(const GenericDict& d, const std::string& key, const std::string& where) {
  const IValue v = get(d, key, where);
  if (!v.isGenericDict()) fail(kWhat, ": ", where, " '", key, "' is a ", v.tagKind(), ", expected a dict");
  return v.toGenericDict();
}

std::vector<IValue> get_list(const GenericDict& d, const std::string& key, const std::string& where) {
  const IValue v = get(d, key, where);
  if (v.isList()) return v.toListRef().vec();
  if (v.isTuple()) return v.toTupleRef().elements().vec();
  fail(kWhat, ": ", where, " '", key, "' is a ", v.tagKind(), ", expected a list");
}

// A number in the range the optimizer accepts (make_optimizer's for lr, momentum and weight decay; PyTorch's
// optimizers' for the others): a checkpoint is untrusted, and a run would otherwise go on with a momentum of
// 2 or a NaN weight decay that no flag can give.
double get_in_range(const GenericDict& d, const std::string& key, const std::string& where, double lo,
                    double hi, bool hi_open, const char* range) {
  const double v = get_double(d, key, where);
  if (!(v >= lo && (hi_open ? v < hi : v <= hi)))
    fail(kWhat, ": ", where, " '", key, "' is ", v, ", expected ", range);
  return v;
}

std::unique_ptr<OptimizerOptions> options_from_dict(Kind kind, const GenericDict& d,
                                                    const std::string& where) {
  const std::string w = where + " (saved by " + kind_name(kind) + "?)";
  constexpr double kInf = std::numeric_limits<double>::infinity();
  auto non_negative = [&](const char* key) {
    return get_in_range(d, key, w, 0, kInf, false, "a number >= 0");
  };
  auto unit = [&](const char* key) { return get_in_range(d, key, w, 0, 1, true, "a number in [0, 1)"); };
  if (kind == Kind::kLars) {
    return std::make_unique<LARSOptions>(LARSOptions(non_negative("lr"))
                                             .momentum(unit("momentum"))
                                             .weight_decay(non_negative("weight_decay"))
                                             .eeta(non_negative("eeta"))
                                             .adapt(get_bool(d, "adapt", w)));
  }
  if (kind == Kind::kSgd) {
    return std::make_unique<SGDOptions>(
        SGDOptions(non_negative("lr"))
            .momentum(unit("momentum"))
            .dampening(get_in_range(d, "dampening", w, 0, 1, false, "a number in [0, 1]"))
            .weight_decay(non_negative("weight_decay"))
            .nesterov(get_bool(d, "nesterov", w)));
  }
  const std::vector<IValue> betas = get_list(d, "betas", w);
  if (betas.size() != 2 || !betas[0].isDouble() || !betas[1].isDouble()) {
    fail(kWhat, ": ", w, " 'betas' is not a pair of numbers");
  }
  for (const auto& b : betas) {
    if (!(b.toDouble() >= 0 && b.toDouble() < 1))
      fail(kWhat, ": ", w, " 'betas' holds ", b.toDouble(), ", expected numbers in [0, 1)");
  }
  return std::make_unique<AdamOptions>(AdamOptions(non_negative("lr"))
                                           .betas(std::make_tuple(betas[0].toDouble(), betas[1].toDouble()))
                                           .eps(non_negative("eps"))
                                           .weight_decay(non_negative("weight_decay"))
                                           .amsgrad(get_bool(d, "amsgrad", w)));
}

// A state tensor for `param`: checked shape, copied to the parameter's device, dtype and memory layout (a
// channels-last parameter gets a channels-last buffer, so that the update runs in one layout).
torch::Tensor state_tensor(const GenericDict& d, const std::string& key, const std::string& where,
                           const torch::Tensor& param) {
  const IValue v = get(d, key, where);
  if (!v.isTensor()) fail(kWhat, ": ", where, " '", key, "' is a ", v.tagKind(), ", expected a tensor");
  const torch::Tensor t = v.toTensor();
  if (t.sizes() != param.sizes()) {
    fail(kWhat, ": ", where, " '", key, "' has shape ", t.sizes(), " but the parameter has shape ",
         param.sizes(), " (a checkpoint of a different model?)");
  }
  return torch::empty_like(param, at::MemoryFormat::Preserve).copy_(t.detach());
}

std::unique_ptr<OptimizerParamState> param_state_from_dict(Kind kind, const GenericDict& d,
                                                           const std::string& where,
                                                           const torch::Tensor& param) {
  if (kind == Kind::kLars) {
    auto s = std::make_unique<LARSParamState>();
    s->momentum_buffer(state_tensor(d, "momentum_buffer", where, param));
    return s;
  }
  if (kind == Kind::kSgd) {
    auto s = std::make_unique<SGDParamState>();
    s->momentum_buffer(state_tensor(d, "momentum_buffer", where, param));
    return s;
  }
  auto s = std::make_unique<AdamParamState>();
  const IValue step = get(d, "step", where);
  double step_value = 0;
  if (step.isTensor() && step.toTensor().numel() == 1 && !step.toTensor().is_complex()) {
    step_value = step.toTensor().item<double>();
  } else if (step.isInt() || step.isDouble()) {
    step_value = step.isInt() ? static_cast<double>(step.toInt()) : step.toDouble();
  } else {
    fail(kWhat, ": ", where, " 'step' is a ", step.tagKind(), ", expected a number");
  }
  // At most 2^53, where doubles stop holding every whole number (and far below int64's limit, past which the
  // conversion is undefined).
  if (!(step_value >= 0 && step_value <= 9007199254740992.0) || step_value != std::floor(step_value)) {
    fail(kWhat, ": ", where, " 'step' is ", step_value, ", expected a whole number in [0, 2^53]");
  }
  s->step(static_cast<std::decay_t<decltype(s->step())>>(step_value));
  s->exp_avg(state_tensor(d, "exp_avg", where, param));
  s->exp_avg_sq(state_tensor(d, "exp_avg_sq", where, param));
  if (d.contains("max_exp_avg_sq")) s->max_exp_avg_sq(state_tensor(d, "max_exp_avg_sq", where, param));
  return s;
}

}  // namespace

c10::IValue optimizer_state_dict(const torch::optim::Optimizer& optimizer) {
  const Kind kind = kind_of(optimizer);
  GenericDict state(c10::IntType::get(), c10::AnyType::get());
  GenericList groups(c10::AnyType::get());
  int64_t index = 0;
  for (const auto& group : optimizer.param_groups()) {
    GenericDict g = options_to_dict(kind, group.options());
    c10::List<int64_t> params;
    for (const auto& p : group.params()) {
      auto it = optimizer.state().find(state_key(p));
      if (it != optimizer.state().end()) state.insert(index, param_state_to_dict(kind, *it->second));
      params.push_back(index++);
    }
    g.insert("params", params);
    groups.push_back(g);
  }
  GenericDict out = make_str_dict();
  out.insert("state", state);
  out.insert("param_groups", groups);
  return out;
}

void load_optimizer_state(torch::optim::Optimizer& optimizer, const c10::IValue& state_dict) {
  const Kind kind = kind_of(optimizer);
  if (!state_dict.isGenericDict()) {
    fail(kWhat, ": expected a dict with 'state' and 'param_groups', got a ", state_dict.tagKind());
  }
  const GenericDict top = state_dict.toGenericDict();
  const std::vector<IValue> saved_groups = get_list(top, "param_groups", "the dict");
  const GenericDict saved_state = get_dict(top, "state", "the dict");
  auto& groups = optimizer.param_groups();
  if (saved_groups.size() != groups.size()) {
    fail(kWhat, ": has ", saved_groups.size(), " param groups, this ", kind_name(kind), " optimizer has ",
         groups.size(), " (saved with a different optimizer?)");
  }

  // Everything is read and checked first; the optimizer changes only once all of it is valid.
  std::map<int64_t, torch::Tensor> param_of_index;  // saved index -> this optimizer's parameter
  std::vector<std::unique_ptr<OptimizerOptions>> new_options;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const std::string where = "param group " + std::to_string(gi);
    if (!saved_groups[gi].isGenericDict()) fail(kWhat, ": ", where, " is not a dict");
    const GenericDict g = saved_groups[gi].toGenericDict();
    const std::vector<IValue> indices = get_list(g, "params", where);
    const auto& params = groups[gi].params();
    if (indices.size() != params.size()) {
      fail(kWhat, ": ", where, " has ", indices.size(), " parameters, the optimizer's has ", params.size(),
           " (a checkpoint of a different model?)");
    }
    for (size_t i = 0; i < indices.size(); ++i) {
      if (!indices[i].isInt()) fail(kWhat, ": ", where, " 'params' holds a ", indices[i].tagKind());
      if (!param_of_index.emplace(indices[i].toInt(), params[i]).second) {
        fail(kWhat, ": parameter index ", indices[i].toInt(), " appears twice in 'params'");
      }
    }
    new_options.push_back(options_from_dict(kind, g, where));
  }
  std::vector<std::pair<torch::Tensor, std::unique_ptr<OptimizerParamState>>> new_state;
  for (const auto& entry : saved_state) {
    if (!entry.key().isInt())
      fail(kWhat, ": 'state' has a key of type ", entry.key().tagKind(), ", expected int");
    const int64_t index = entry.key().toInt();
    const std::string where = "state of parameter " + std::to_string(index);
    auto it = param_of_index.find(index);
    if (it == param_of_index.end()) fail(kWhat, ": ", where, " belongs to no param group");
    if (!entry.value().isGenericDict()) fail(kWhat, ": ", where, " is not a dict");
    new_state.emplace_back(it->second,
                           param_state_from_dict(kind, entry.value().toGenericDict(), where, it->second));
  }

  for (size_t gi = 0; gi < groups.size(); ++gi) groups[gi].set_options(std::move(new_options[gi]));
  optimizer.state().clear();
  for (auto& [param, st] : new_state) optimizer.state()[state_key(param)] = std::move(st);
}

}  // namespace flatclr::optim
