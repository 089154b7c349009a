#include "flatclr/train/train_step.h"

#include <torch/torch.h>

#include <cmath>

#include "flatclr/core/clock.h"
#include "flatclr/optim/grad_norm.h"
#include "flatclr/optim/make_optimizer.h"

namespace flatclr::train {

using core::Clock;
using core::seconds_since;

TrainStep::TrainStep(models::ResNet model, torch::optim::Optimizer& optimizer, dist::DataParallel& dp,
                     StepOptions options)
    : model_(std::move(model)),
      optimizer_(optimizer),
      dp_(dp),
      options_(options),
      loss_(losses::method_info(options.method).loss),
      parameters_(model_->parameters()) {}

StepResult TrainStep::run(const at::Tensor& views, double lr) {
  std::vector<at::Tensor> saved_buffers;
  if (options_.restore_buffers) {
    for (auto& b : model_->buffers()) saved_buffers.push_back(b.clone());
  }
  StepResult r;
  auto [h, z_local] = model_->forward(views);
  r.h = h;
  r.z = dp_.gather_views(z_local);  // all 2N views, with gradient
  r.out = loss_(r.z, options_.temperature);
  optimizer_.zero_grad();
  r.out.loss.backward();
  const auto sync_start = Clock::now();
  const int64_t collectives_before = dp_.collectives();
  dp_.average_gradients(*model_);
  r.grad_sync_seconds = seconds_since(sync_start);
  r.grad_sync_collectives = dp_.collectives() - collectives_before;
  if (options_.check) {
    const auto check_start = Clock::now();
    r.grad_norm = optim::global_grad_norm(parameters_);
    const double loss_value = r.out.info_nce.item<double>(), grad_value = r.grad_norm.item<double>();
    r.check_seconds = seconds_since(check_start);
    if (!std::isfinite(loss_value) || !std::isfinite(grad_value)) {
      r.finite = false;
      r.bad_loss = !std::isfinite(loss_value);
      r.bad_value = r.bad_loss ? loss_value : grad_value;
      optimizer_.zero_grad();
      if (options_.restore_buffers) {
        torch::NoGradGuard no_grad;
        auto buffers = model_->buffers();
        for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(saved_buffers[i]);
      }
      return r;
    }
  }
  optim::set_lr(optimizer_, lr);
  optimizer_.step();
  return r;
}

}  // namespace flatclr::train
