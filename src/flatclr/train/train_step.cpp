#include "flatclr/train/train_step.h"

#include <torch/torch.h>

#include <cmath>

#include "flatclr/core/autocast.h"
#include "flatclr/core/clock.h"
#include "flatclr/core/error.h"
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
      parameters_(model_->parameters()) {
  FLATCLR_CHECK(options_.precision != core::Precision::kAuto, "resolve the precision first");
  if (options_.precision == core::Precision::kFp16) {
    scaler_ = options_.scaler;
    if (!scaler_) {
      const auto device = parameters_.empty() ? c10::Device(c10::kCPU) : parameters_.front().device();
      owned_scaler_ = std::make_unique<optim::GradScaler>(optim::GradScalerOptions{}, device);
      scaler_ = owned_scaler_.get();
    }
  }
}

void TrainStep::restore(const std::vector<at::Tensor>& saved_buffers) {
  torch::NoGradGuard no_grad;
  auto buffers = model_->buffers();
  for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(saved_buffers[i]);
}

StepResult TrainStep::run(const at::Tensor& views, double lr) {
  std::vector<at::Tensor> saved_buffers;
  if (options_.restore_buffers) {
    for (auto& b : model_->buffers()) saved_buffers.push_back(b.clone());
  }
  StepResult r;
  at::Tensor z_local;
  {
    core::AutocastScope autocast(views.device().type(), options_.precision);
    auto [h, z] =
        model_->forward(options_.channels_last ? views.contiguous(at::MemoryFormat::ChannelsLast) : views);
    r.h = h;
    z_local = z;
  }
  // Everything from the projections on in float32 (a no-op in fp32).
  r.h = r.h.to(at::kFloat);
  r.z = dp_.gather_views(z_local.to(at::kFloat));  // all 2N views, with gradient
  r.out = loss_(r.z, options_.temperature);
  optimizer_.zero_grad();
  (scaler_ ? scaler_->scale(r.out.loss) : r.out.loss).backward();
  const auto sync_start = Clock::now();
  const int64_t collectives_before = dp_.collectives();
  dp_.average_gradients(*model_);
  r.grad_sync_seconds = seconds_since(sync_start);
  r.grad_sync_collectives = dp_.collectives() - collectives_before;
  if (scaler_) {
    // Unscaled gradients for the norm, the guard and the optimizer. An overflow of the scaled gradients
    // (found_inf) skips the update; a finite loss with such gradients is the scaler's business, not an error.
    const at::Tensor found_inf = scaler_->unscale(parameters_);
    scaler_->update(found_inf);
    if (found_inf.item<float>() > 0) {
      const double loss_value = r.out.info_nce.item<double>();
      if (std::isfinite(loss_value)) {
        r.scaler_skipped = true;
        optimizer_.zero_grad();
        if (options_.restore_buffers) restore(saved_buffers);
        return r;
      }
    }
  }
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
      if (options_.restore_buffers) restore(saved_buffers);
      return r;
    }
  }
  optim::set_lr(optimizer_, lr);
  optimizer_.step();
  return r;
}

}  // namespace flatclr::train
