// One pretraining update, the same object for the trainer (train/pretrain.cpp), the benchmarks (bench/) and
// the distributed tests, so that what is measured and tested is what trains:
//   encoder forward on this process's views -> projections of all processes gathered with gradient ->
//   the method's loss over all 2N views -> backward -> gradient average across processes ->
//   global gradient norm -> finite guard -> learning rate -> optimizer step.
// The guard reads the InfoNCE value and the gradient norm (a host sync on a GPU), so that no step trains on a
// NaN or Inf: such a step makes no update (and, with restore_buffers, leaves the BatchNorm statistics as they
// were before its forward); what to do next (stop or go on) is the caller's decision.
// Mixed precision (core/precision.h): the encoder and head run under autocast in bf16 or fp16; the
// projections are cast to float32 before the gather, so the similarities, the loss and its gradient are
// float32. fp16 adds dynamic loss scaling (optim/grad_scaler.h): a step whose scaled gradients overflow is
// skipped and the scale backs off, which is routine (`scaler_skipped`), not a non-finite step.
#pragma once

#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

#include "flatclr/core/precision.h"
#include "flatclr/dist/data_parallel.h"
#include "flatclr/losses/contrastive_output.h"
#include "flatclr/losses/method.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/grad_scaler.h"

namespace flatclr::train {

struct StepOptions {
  losses::Method method = losses::Method::kFlatCLR;
  double temperature = 0.1;
  // Gradient norm and finite guard. Off only for a benchmark's baseline of the bare update.
  bool check = true;
  // A non-finite step leaves the buffers (BatchNorm running statistics) as before it: a copy per step.
  bool restore_buffers = false;
  // Resolved (never kAuto). fp16 creates the step's GradScaler.
  core::Precision precision = core::Precision::kFp32;
  // The views are made channels-last before the forward (the model's weights should be too:
  // models/channels_last.h).
  bool channels_last = false;
  // fp16: the loss scaler (its state is saved in checkpoints by whoever owns it). nullptr: the step makes and
  // owns one with the default options.
  optim::GradScaler* scaler = nullptr;
};

struct StepResult {
  losses::ContrastiveOutput out;   // the loss over all 2N views (its InfoNCE value, similarities)
  at::Tensor h;                    // [2n, F] this process's encoder features of its views
  at::Tensor z;                    // [2N, D] every process's projections, in the single-process order
  at::Tensor grad_norm;            // 0-dim float64, the global norm of the averaged gradients (check only)
  bool finite = true;              // false: the loss or the gradient norm was NaN or Inf; no update was made
  bool bad_loss = false;           // !finite: the loss (else the gradient norm)
  double bad_value = 0.0;          // !finite: the offending value
  double check_seconds = 0.0;      // time in the gradient norm and the guard
  double grad_sync_seconds = 0.0;  // time in the gradient average (communication included)
  int64_t grad_sync_collectives = 0;  // all-reduces of the gradient average (buckets; 0 in one process)
  bool scaler_skipped = false;  // fp16: the scaled gradients overflowed; no update, the scale backed off
};

class TrainStep {
 public:
  // The model, optimizer and data-parallel group must outlive the step.
  TrainStep(models::ResNet model, torch::optim::Optimizer& optimizer, dist::DataParallel& dp,
            StepOptions options);

  // views: [2n, 3, H, W] float on the model's device, this process's two views of its n images (first views,
  // then second views). lr: the learning rate of this update.
  StepResult run(const at::Tensor& views, double lr);

  const StepOptions& options() const { return options_; }
  // The loss scaler of an fp16 step (its state goes into checkpoints); nullptr otherwise.
  optim::GradScaler* scaler() { return scaler_; }

 private:
  void restore(const std::vector<at::Tensor>& saved_buffers);

  models::ResNet model_;
  torch::optim::Optimizer& optimizer_;
  dist::DataParallel& dp_;
  StepOptions options_;
  losses::LossFn loss_;
  std::vector<at::Tensor> parameters_;
  std::unique_ptr<optim::GradScaler> owned_scaler_;
  optim::GradScaler* scaler_ = nullptr;  // fp16 only
};

}  // namespace flatclr::train
