// Converts the state of a LARS, SGD or Adam optimizer to and from a c10::IValue shaped like PyTorch's
// optimizer.state_dict(), so that torch::pickle_save of a checkpoint reads in Python as the usual:
//   {"state": {int index: {"momentum_buffer": Tensor}                             (LARS, SGD)
//                         {"step": Tensor(float), "exp_avg": Tensor, "exp_avg_sq": Tensor
//                          [, "max_exp_avg_sq": Tensor]}},                       (Adam)
//    "param_groups": [{"lr": ..., <the group's other options>, "params": [int index, ...]}, ...]}
// Indices run over the groups' parameters in order (as PyTorch numbers them); only parameters that have
// state (have taken a step) appear in "state". Options per kind: LARS lr, momentum, weight_decay, eeta,
// adapt; SGD lr, momentum, dampening, weight_decay, nesterov; Adam lr, betas (a tuple), eps,
// weight_decay, amsgrad. State tensors are copied to the CPU (a checkpoint loads on any machine).
#pragma once

#include <ATen/core/ivalue.h>
#include <torch/optim/optimizer.h>

namespace flatclr::optim {

c10::IValue optimizer_state_dict(const torch::optim::Optimizer& optimizer);

// Replaces the optimizer's state and its groups' options with those in `state_dict` (as PyTorch's
// load_state_dict: saved parameter i of group g goes to the optimizer's parameter i of group g). State
// tensors are copied to each parameter's device and dtype. Throws flatclr::UserError, before changing
// anything, when the dict is not such a dict, was saved by another kind of optimizer, or its group
// count, group sizes or tensor shapes differ from this optimizer's.
void load_optimizer_state(torch::optim::Optimizer& optimizer, const c10::IValue& state_dict);

}  // namespace flatclr::optim
