#include "flatclr/optim/grad_norm.h"

#include <torch/torch.h>

namespace flatclr::optim {

at::Tensor global_grad_norm(const std::vector<at::Tensor>& parameters) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> squares;
  squares.reserve(parameters.size());
  for (const auto& p : parameters) {
    if (!p.grad().defined()) continue;
    squares.push_back(p.grad().to(at::kDouble).pow(2).sum());
  }
  if (squares.empty()) return torch::zeros({}, torch::TensorOptions().dtype(at::kDouble));
  return torch::stack(squares).sum().sqrt();
}

}  // namespace flatclr::optim
