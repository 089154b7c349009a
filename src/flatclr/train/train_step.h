// One pretraining update, the same object for the trainer (train/pretrain.cpp), the benchmarks (bench/) and
// the distributed tests, so that what is measured and tested is what trains:
//   encoder forward on this process's views -> projections of all processes gathered with gradient ->
//   the method's loss over all 2N views -> backward -> gradient average across processes ->
//   global gradient norm -> finite guard -> learning rate -> optimizer step.
// The guard reads the InfoNCE value and the gradient norm (a host sync on a GPU), so that no step trains on a
// NaN or Inf: such a step makes no update (and, with restore_buffers, leaves the BatchNorm statistics as they
// were before its forward); what to do next (stop or go on) is the caller's decision.
#pragma once

#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>

#include <vector>

#include "flatclr/dist/data_parallel.h"
#include "flatclr/losses/contrastive_output.h"
#include "flatclr/losses/method.h"
#include "flatclr/models/resnet.h"

namespace flatclr::train {

struct StepOptions {
  losses::Method method = losses::Method::kFlatCLR;
  double temperature = 0.1;
  // Gradient norm and finite guard. Off only for a benchmark's baseline of the bare update.
  bool check = true;
  // A non-finite step leaves the buffers (BatchNorm running statistics) as before it: a copy per step.
  bool restore_buffers = false;
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

 private:
  models::ResNet model_;
  torch::optim::Optimizer& optimizer_;
  dist::DataParallel& dp_;
  StepOptions options_;
  losses::LossFn loss_;
  std::vector<at::Tensor> parameters_;
};

}  // namespace flatclr::train
