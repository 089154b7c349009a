// Builds the optimizer named by --optimizer / --fc_optimizer, as the paper's code offers them:
//   lars: LARS with two groups, [0] regular weights (weight decay + trust ratio, adapt=true) and
//         [1] biases + norm parameters (no weight decay, trust 1, adapt=false), split by
//         split_param_groups(); eeta = kLarsEeta. The reference's LARS uses a fixed momentum 0.9 (its
//         --momentum is for SGD only); here `momentum` is used, whose default 0.9 gives the same thing.
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

namespace flatclr::optim {

constexpr double kLarsEeta = 1e-3;

// name: lars | sgd | adam; anything else throws flatclr::UserError naming the value.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::string& name, torch::nn::Module& model,
                                                        double lr, double weight_decay, double momentum);

// Sets the learning rate of every param group (what the per-step schedule calls).
void set_lr(torch::optim::Optimizer& optimizer, double lr);

// The learning rate of the first param group.
double get_lr(const torch::optim::Optimizer& optimizer);

}  // namespace flatclr::optim
