// Builds the optimizer of pretraining or of the linear probe, as the paper's code offers them:
//   lars: LARS with two groups, [0] regular weights (weight decay + trust ratio, adapt=true) and
//         [1] biases + norm parameters (no weight decay, trust 1, adapt=false), split by
//         split_param_groups(); eeta = kLarsEeta. The reference's LARS uses a fixed momentum 0.9 (its
//         momentum option is for SGD only); here `momentum` is used, whose default 0.9 gives the same.
//   sgd:  torch::optim::SGD(lr, momentum, weight_decay) over all parameters, one group (wd on all, as
//         the reference).
//   adam: torch::optim::Adam(lr, weight_decay) over all parameters, one group.
// Parameters are taken in Module::named_parameters() order (regular before excluded for lars), which is
// the order of the indices in optimizer_state_dict().
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <string>

#include "flatclr/core/choice.h"

namespace flatclr::optim {

constexpr double kLarsEeta = 1e-3;

enum class OptimizerKind { kLars, kSgd, kAdam };
inline constexpr core::Choice<OptimizerKind> kOptimizerKinds[] = {
    {OptimizerKind::kLars, "lars"}, {OptimizerKind::kSgd, "sgd"}, {OptimizerKind::kAdam, "adam"}};
constexpr const auto& choices_of(OptimizerKind) { return kOptimizerKinds; }

// A negative lr or weight decay, or a momentum outside [0, 1), throws flatclr::UserError.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(OptimizerKind kind, torch::nn::Module& model,
                                                        double lr, double weight_decay, double momentum);

// Sets the learning rate of every param group (what the per-step schedule calls).
void set_lr(torch::optim::Optimizer& optimizer, double lr);

// The learning rate of the first param group.
double get_lr(const torch::optim::Optimizer& optimizer);

}  // namespace flatclr::optim
