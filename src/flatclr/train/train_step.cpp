#include "flatclr/train/train_step.h"

#include <torch/torch.h>

#include <cmath>
#include <iostream>
#include <limits>

#include "flatclr/core/autocast.h"
#include "flatclr/core/clock.h"
#include "flatclr/core/cuda_graph.h"
#include "flatclr/core/error.h"
#include "flatclr/optim/grad_norm.h"
#include "flatclr/optim/make_optimizer.h"

namespace flatclr::train {

using core::Clock;
using core::seconds_since;

// The captured step: its input views and its outputs live at fixed addresses; a replay overwrites them.
struct TrainStep::Graph {
  std::unique_ptr<core::CudaGraph> graph;
  at::Tensor views;
  StepResult result;
  int64_t eager_steps = 0;
  bool failed = false;  // the capture failed: every step runs eagerly
};

StepOutcome read_outcome(const at::Tensor& flags) {
  const at::Tensor f = flags.to(at::kCPU, at::kDouble).contiguous();
  FLATCLR_CHECK(f.numel() == 4, "step flags: expected 4 values, got ", f.numel());
  const double* v = f.data_ptr<double>();
  StepOutcome o;
  o.applied = v[2] > 0;
  o.scaler_skipped = !o.applied && v[3] > 0;
  if (!o.applied && !o.scaler_skipped) {
    o.bad_loss = !std::isfinite(v[0]);
    o.bad_value = o.bad_loss ? v[0] : v[1];
  }
  return o;
}

StepOutcome outcome_of(const StepResult& r) {
  if (!r.outcome_known) return read_outcome(r.flags);
  StepOutcome o;
  o.applied = r.finite && !r.scaler_skipped;
  o.scaler_skipped = r.scaler_skipped;
  o.bad_loss = r.bad_loss;
  o.bad_value = r.bad_value;
  return o;
}

TrainStep::TrainStep(models::ResNet model, torch::optim::Optimizer& optimizer, dist::DataParallel& dp,
                     StepOptions options)
    : model_(std::move(model)),
      optimizer_(optimizer),
      dp_(dp),
      options_(options),
      loss_(losses::method_info(options.method).loss),
      parameters_(model_->parameters()) {
  FLATCLR_CHECK(options_.precision != core::Precision::kAuto, "resolve the precision first");
  const auto device = parameters_.empty() ? c10::Device(c10::kCPU) : parameters_.front().device();
  if (options_.precision == core::Precision::kFp16) {
    scaler_ = options_.scaler;
    if (!scaler_) {
      owned_scaler_ = std::make_unique<optim::GradScaler>(optim::GradScalerOptions{}, device);
      scaler_ = owned_scaler_.get();
    }
  }
  if (options_.sync_free) {
    lars_ = dynamic_cast<optim::LARS*>(&optimizer_);
    FLATCLR_CHECK(lars_ && options_.check,
                  "the sync-free step needs the LARS optimizer and the finite guard");
    lr_ = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat).device(device));
  }
  if (options_.cuda_graph) {
    FLATCLR_CHECK(options_.sync_free && device.is_cuda() && dp_.world_size() == 1,
                  "a CUDA graph needs the sync-free step, a CUDA device and one process");
    graph_ = std::make_shared<Graph>();
  }
}

std::vector<at::Tensor> TrainStep::save_buffers() const {
  std::vector<at::Tensor> saved;
  if (options_.restore_buffers) {
    for (auto& b : model_->buffers()) saved.push_back(b.clone());
  }
  return saved;
}

void TrainStep::restore(const std::vector<at::Tensor>& saved_buffers) {
  torch::NoGradGuard no_grad;
  auto buffers = model_->buffers();
  for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(saved_buffers[i]);
}

void TrainStep::forward_backward(const at::Tensor& views, StepResult& r) {
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
}

StepResult TrainStep::run(const at::Tensor& views, double lr) {
  if (!options_.sync_free) return run_guarded(views, lr);
  optim::set_lr(optimizer_, lr);  // the host's copy, which checkpoints save
  lr_.fill_(lr);                  // what the update reads (a copy to the device, no sync)
  return options_.cuda_graph ? run_graphed(views) : run_sync_free(views);
}

StepResult TrainStep::run_guarded(const at::Tensor& views, double lr) {
  const std::vector<at::Tensor> saved_buffers = save_buffers();
  StepResult r;
  forward_backward(views, r);
  const auto flags = [&](double loss, double grad_norm, bool applied, bool skipped) {
    r.flags = torch::tensor({loss, grad_norm, applied ? 1.0 : 0.0, skipped ? 1.0 : 0.0},
                            torch::TensorOptions().dtype(torch::kDouble))
                  .to(views.device());
  };
  constexpr double kNotComputed = std::numeric_limits<double>::quiet_NaN();
  if (scaler_) {
    // Unscaled gradients for the norm, the guard and the optimizer. An overflow of the scaled gradients
    // (found_inf) skips the update; a finite loss with such gradients is the scaler's business, not an error.
    const at::Tensor found_inf = scaler_->unscale(parameters_);
    scaler_->update(found_inf);
    if (found_inf.item<float>() > 0) {
      const double loss_value = r.out.info_nce.item<double>();
      if (std::isfinite(loss_value)) {
        r.scaler_skipped = true;
        if (options_.check) flags(loss_value, kNotComputed, false, true);
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
    r.finite = std::isfinite(loss_value) && std::isfinite(grad_value);
    flags(loss_value, grad_value, r.finite, false);
    if (!r.finite) {
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

StepResult TrainStep::run_sync_free(const at::Tensor& views) {
  const std::vector<at::Tensor> saved_buffers = save_buffers();
  StepResult r;
  forward_backward(views, r);
  torch::NoGradGuard no_grad;
  at::Tensor found_inf;
  if (scaler_) {
    found_inf = scaler_->unscale(parameters_).reshape({});
    scaler_->update(found_inf);
  }
  r.grad_norm = optim::global_grad_norm(parameters_);
  const at::Tensor loss_ok = at::isfinite(r.out.info_nce);
  // An fp16 overflow makes the gradient norm non-finite, so `apply` covers the scaler's skip too.
  const at::Tensor apply = loss_ok.logical_and(at::isfinite(r.grad_norm));
  const at::Tensor skipped =
      found_inf.defined() ? found_inf.gt(0).logical_and(loss_ok) : torch::zeros_like(apply);
  lars_->step_on_device(lr_, apply);
  if (options_.restore_buffers) {
    auto buffers = model_->buffers();
    for (size_t i = 0; i < buffers.size(); ++i)
      buffers[i].copy_(torch::where(apply, buffers[i], saved_buffers[i]));
  }
  r.flags = torch::stack({r.out.info_nce.detach().to(torch::kDouble), r.grad_norm.to(torch::kDouble),
                          apply.to(torch::kDouble), skipped.to(torch::kDouble)});
  r.outcome_known = false;
  return r;
}

StepResult TrainStep::run_graphed(const at::Tensor& views) {
  Graph& g = *graph_;
  if (g.graph && views.sizes() == g.views.sizes() && views.strides() == g.views.strides() &&
      views.scalar_type() == g.views.scalar_type()) {
    g.views.copy_(views);
    g.graph->replay();
    ++graph_replays_;
    return g.result;
  }
  if (g.graph || g.failed || g.eager_steps < kGraphWarmupSteps) {
    ++g.eager_steps;
    return run_sync_free(views);
  }
  // Capturing runs nothing: the graph is replayed once for this step.
  g.views = views.clone();
  core::GraphCapture capture =
      core::capture_cuda_graph(views.device(), [&] { g.result = run_sync_free(g.views); });
  if (!capture.graph) {
    // Nothing of the captured step ran, so this step can run eagerly, and so can every later one.
    g.result = StepResult{};
    g.failed = true;
    const std::string what = "capturing the training step in a CUDA graph failed: " + capture.error;
    if (!options_.graph_fallback) fail(what);
    std::cerr << "flatclr: warning: " << what << "; the run goes on without a CUDA graph" << std::endl;
    return run_sync_free(views);
  }
  g.graph = std::move(capture.graph);
  g.graph->replay();
  ++graph_replays_;
  return g.result;
}

}  // namespace flatclr::train
