#include "flatclr/optim/make_optimizer.h"

#include <torch/torch.h>

#include "flatclr/core/error.h"
#include "flatclr/optim/lars.h"
#include "flatclr/optim/param_groups.h"

namespace flatclr::optim {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(OptimizerKind kind, torch::nn::Module& model,
                                                        double lr, double weight_decay, double momentum) {
  if (!(lr >= 0)) fail("learning rate must be >= 0, got ", lr);
  if (!(weight_decay >= 0)) fail("weight decay must be >= 0, got ", weight_decay);
  if (!(momentum >= 0 && momentum < 1)) fail("momentum must be in [0, 1), got ", momentum);
  if (kind == OptimizerKind::kLars) {
    ParamGroups split = split_param_groups(model);
    const auto base = LARSOptions(lr).momentum(momentum).eeta(kLarsEeta);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(split.regular, std::make_unique<LARSOptions>(
                                           LARSOptions(base).weight_decay(weight_decay).adapt(true)));
    groups.emplace_back(split.excluded,
                        std::make_unique<LARSOptions>(LARSOptions(base).weight_decay(0).adapt(false)));
    return std::make_unique<LARS>(std::move(groups), LARSOptions(base).weight_decay(weight_decay));
  }
  if (kind == OptimizerKind::kSgd) {
    return std::make_unique<torch::optim::SGD>(
        model.parameters(), torch::optim::SGDOptions(lr).momentum(momentum).weight_decay(weight_decay));
  }
  FLATCLR_CHECK(kind == OptimizerKind::kAdam, "unknown OptimizerKind");
  return std::make_unique<torch::optim::Adam>(model.parameters(),
                                              torch::optim::AdamOptions(lr).weight_decay(weight_decay));
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

double get_lr(const torch::optim::Optimizer& optimizer) {
  FLATCLR_CHECK(!optimizer.param_groups().empty(), "optimizer without param groups");
  return optimizer.param_groups().front().options().get_lr();
}

}  // namespace flatclr::optim
