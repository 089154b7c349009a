// One pretraining update, the same object for the trainer (train/pretrain.cpp), the benchmarks (bench/) and
// the distributed tests, so that what is measured and tested is what trains:
//   encoder forward on this process's views -> projections of all processes gathered with gradient ->
//   the method's loss over all 2N views -> backward -> gradient average across processes ->
//   global gradient norm -> finite guard -> learning rate -> optimizer step.
// The guard makes sure that no step trains on a NaN or Inf: such a step makes no update (and, with
// restore_buffers, leaves the BatchNorm statistics as they were before its forward); what to do next (stop or
// go on) is the caller's decision. The guarded step reads the InfoNCE value and the gradient norm on the host
// (a sync on a GPU). The sync-free step (StepOptions::sync_free) decides on the device instead and reports
// its outcome in StepResult::flags, which the caller reads when it syncs anyway (at its logging interval);
// on CUDA it can be captured once in a CUDA graph and replayed (StepOptions::cuda_graph), one launch per step
// instead of thousands, which is what small batches on a GPU are bound by.
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
#include "flatclr/optim/lars.h"

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
  // No host sync inside the step: the finite guard, the fp16 scaler's skip and the learning rate stay on the
  // device, and the update is made or not there (optim::LARS::step_on_device). Needs the LARS optimizer and
  // check = true. The outcome is in StepResult::flags only (read_outcome()).
  bool sync_free = false;
  // Capture the sync-free step in a CUDA graph and replay it. The first kGraphWarmupSteps steps run eagerly
  // (cuDNN's autotuning, the optimizer's momentum buffers), the next is captured, every later one is one
  // graph launch. Needs sync_free, a CUDA device and one process (the gradient average across processes is
  // not captured). Views of another shape than the captured ones run eagerly.
  bool cuda_graph = false;
  // A capture that fails (core/cuda_graph.h; the process is left as before it either way): false throws, so
  // that a test or a benchmark cannot pass with eager steps posing as a graph; true (the trainer) warns on
  // stderr and runs this and every later step eagerly.
  bool graph_fallback = false;
};

// Eager steps before a CUDA graph is captured (PyTorch's whole-network capture example uses 3).
inline constexpr int kGraphWarmupSteps = 3;

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
  // Every step (check = true): [4] float64 on the step's device: the InfoNCE value, the gradient norm (NaN
  // where it was not computed), 1 if the update was made else 0, 1 if the fp16 scaler skipped it else 0.
  at::Tensor flags;
  // false (the sync-free step): `finite`, `bad_loss`, `bad_value` and `scaler_skipped` above are not filled
  // in; read_outcome(flags) says them. A CUDA graph's step returns the same tensors every time, overwritten
  // by the next run(): copy what must outlive it.
  bool outcome_known = true;
};

// A step's outcome, from its flags (any device; reading them is a host sync).
struct StepOutcome {
  bool applied = true;          // the update was made
  bool scaler_skipped = false;  // fp16's routine skip (not an error)
  bool bad_loss = false;   // !applied && !scaler_skipped: the loss (else the gradient norm) was not finite
  double bad_value = 0.0;  // !applied && !scaler_skipped: the offending value
};
StepOutcome read_outcome(const at::Tensor& flags);
// A step's outcome: from its fields when known, else read_outcome(r.flags) (a host sync).
StepOutcome outcome_of(const StepResult& r);

class TrainStep {
 public:
  // The model, optimizer and data-parallel group must outlive the step.
  TrainStep(models::ResNet model, torch::optim::Optimizer& optimizer, dist::DataParallel& dp,
            StepOptions options);

  // views: [2n, 3, H, W] float on the model's device, this process's two views of its n images (first views,
  // then second views). lr: the learning rate of this update.
  StepResult run(const at::Tensor& views, double lr);

  const StepOptions& options() const { return options_; }
  // Steps replayed from the CUDA graph so far (0 without one).
  int64_t graph_replays() const { return graph_replays_; }
  // The loss scaler of an fp16 step (its state goes into checkpoints); nullptr otherwise.
  optim::GradScaler* scaler() { return scaler_; }

 private:
  void restore(const std::vector<at::Tensor>& saved_buffers);
  std::vector<at::Tensor> save_buffers() const;
  // Forward, gather, loss, backward (scaled for fp16), gradient average: what both kinds of step share.
  void forward_backward(const at::Tensor& views, StepResult& r);
  StepResult run_guarded(const at::Tensor& views, double lr);
  StepResult run_sync_free(const at::Tensor& views);
  StepResult run_graphed(const at::Tensor& views);

  models::ResNet model_;
  torch::optim::Optimizer& optimizer_;
  dist::DataParallel& dp_;
  StepOptions options_;
  losses::LossFn loss_;
  std::vector<at::Tensor> parameters_;
  std::unique_ptr<optim::GradScaler> owned_scaler_;
  optim::GradScaler* scaler_ = nullptr;  // fp16 only
  optim::LARS* lars_ = nullptr;          // sync_free only
  at::Tensor lr_;                        // sync_free: the learning rate on the device (float32, 0-dim)
  struct Graph;                          // cuda_graph: the captured step (train_step.cpp)
  std::shared_ptr<Graph> graph_;
  int64_t graph_replays_ = 0;
};

}  // namespace flatclr::train
