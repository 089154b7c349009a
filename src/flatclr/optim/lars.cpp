#include "flatclr/optim/lars.h"

#include <torch/torch.h>

#include "flatclr/core/error.h"
#include "flatclr/optim/state_key.h"

namespace flatclr::optim {

namespace {
void check_options(const LARSOptions& o) {
  if (!(o.lr() >= 0)) fail("LARS: learning rate must be >= 0, got ", o.lr());
  if (!(o.momentum() >= 0 && o.momentum() < 1)) fail("LARS: momentum must be in [0, 1), got ", o.momentum());
  if (!(o.weight_decay() >= 0)) fail("LARS: weight decay must be >= 0, got ", o.weight_decay());
  if (!(o.eeta() > 0)) fail("LARS: trust coefficient eeta must be > 0, got ", o.eeta());
}

// What step() and step_on_device() share: g' (the gradient, plus weight decay in an adapting group) and the
// trust ratio (undefined in a group that does not adapt). It stays a device tensor.
struct Adapted {
  torch::Tensor g, trust;
};

Adapted adapt_gradient(const torch::Tensor& p, const LARSOptions& o) {
  FLATCLR_CHECK(!p.grad().is_sparse(), "LARS does not support sparse gradients");
  Adapted a{p.grad(), {}};
  if (!o.adapt()) return a;
  if (o.weight_decay() != 0) a.g = a.g.add(p, o.weight_decay());
  const torch::Tensor w = p.norm();
  const torch::Tensor gn = a.g.norm();
  a.trust = torch::where(w.gt(0).logical_and(gn.gt(0)), o.eeta() * w / gn, torch::ones_like(w));
  return a;
}
}  // namespace

LARSOptions::LARSOptions(double lr) : lr_(lr) {}

void LARSOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(momentum);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eeta);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(adapt);
}

void LARSOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, momentum);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, eeta);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, adapt);
}

double LARSOptions::get_lr() const { return lr(); }
void LARSOptions::set_lr(const double lr) { this->lr(lr); }

bool operator==(const LARSOptions& lhs, const LARSOptions& rhs) {
  return lhs.lr() == rhs.lr() && lhs.momentum() == rhs.momentum() &&
         lhs.weight_decay() == rhs.weight_decay() && lhs.eeta() == rhs.eeta() && lhs.adapt() == rhs.adapt();
}

void LARSParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(momentum_buffer);
}

void LARSParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, momentum_buffer);
}

bool operator==(const LARSParamState& lhs, const LARSParamState& rhs) {
  return torch::equal(lhs.momentum_buffer(), rhs.momentum_buffer());
}

LARS::LARS(std::vector<torch::optim::OptimizerParamGroup> param_groups, LARSOptions defaults)
    : Optimizer(std::move(param_groups), std::make_unique<LARSOptions>(defaults)) {
  for (const auto& group : param_groups_) check_options(static_cast<const LARSOptions&>(group.options()));
}

LARS::LARS(std::vector<torch::Tensor> params, LARSOptions defaults)
    : LARS(std::vector<torch::optim::OptimizerParamGroup>{torch::optim::OptimizerParamGroup(
               std::move(params))},
           defaults) {}

torch::Tensor LARS::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const LARSOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const Adapted a = adapt_gradient(p, o);
      const torch::Tensor update = a.trust.defined() ? a.g * (a.trust * o.lr()) : a.g * o.lr();
      torch::Tensor& v = momentum_buffer(p);
      v.mul_(o.momentum()).add_(update);
      p.sub_(v);
    }
  }
  return loss;
}

torch::Tensor& LARS::momentum_buffer(const torch::Tensor& p) {
  auto it = state_.find(state_key(p));
  if (it == state_.end()) {
    auto st = std::make_unique<LARSParamState>();
    st->momentum_buffer(torch::zeros_like(p));
    it = state_.insert({state_key(p), std::move(st)}).first;
  }
  return static_cast<LARSParamState&>(*it->second).momentum_buffer();
}

void LARS::step_on_device(const torch::Tensor& lr, const torch::Tensor& apply) {
  torch::NoGradGuard no_grad;
  FLATCLR_CHECK(lr.dim() == 0 && lr.is_floating_point(),
                "LARS::step_on_device: lr must be a 0-dim float tensor");
  FLATCLR_CHECK(apply.dim() == 0 && apply.scalar_type() == at::kBool,
                "LARS::step_on_device: apply must be a 0-dim bool tensor");
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const LARSOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const Adapted a = adapt_gradient(p, o);
      const torch::Tensor scale = a.trust.defined() ? a.trust * lr : lr;  // lr * trust, as in step()
      // where(), not a multiplication by 0 or 1: a NaN gradient times 0 is still NaN.
      const torch::Tensor update = torch::where(apply, a.g * scale, 0);
      torch::Tensor& v = momentum_buffer(p);
      v.copy_(torch::where(apply, v * o.momentum() + update, v));
      p.sub_(torch::where(apply, v, 0));
    }
  }
}

void LARS::save(torch::serialize::OutputArchive& archive) const { serialize(*this, archive); }

void LARS::load(torch::serialize::InputArchive& archive) { serialize(*this, archive); }

}  // namespace flatclr::optim
