// What attaches to the pretraining loop from outside (train/pretrain.h takes a list of them). The loop only
// trains; everything it reports goes through observers: the console, metrics.jsonl and steps.jsonl, the
// TensorBoard scalars, the checkpoints (train/sinks.h), and whatever a caller adds (the online kNN monitor,
// the end-of-run report). They are called in rank 0 only, the process that reports, in the order of the
// list, so an observer that fills optional fields of the epoch's stats (kNN accuracy) comes first.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/Device.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flatclr/core/precision.h"
#include "flatclr/data/image_folder.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/grad_scaler.h"
#include "flatclr/optim/schedule.h"
#include "flatclr/train/precision_probe.h"
#include "flatclr/train/pretrain_config.h"
#include "flatclr/train/step_monitor.h"

namespace flatclr::train {

struct EpochStats {
  int64_t epoch = 0;  // 1-based: epochs completed after this one
  double loss = 0;    // mean InfoNCE value over the epoch's steps
  double top1 = 0;    // mean positive-pair top-1 over the steps, in [0, 1]
  double top5 = 0;
  double lr = 0;  // lr of the epoch's last step
  double images_per_s = 0;
  double seconds = 0;
  double data_wait_seconds = 0;      // per-image loader: time the steps waited for their batch
  int64_t skipped_steps = 0;         // steps of this epoch with a non-finite loss or gradient (skip policy)
  int64_t scaler_skipped_steps = 0;  // fp16: steps skipped because the scaled gradients overflowed
  double loss_scale = 0.0;           // fp16: the loss scale at the end of the epoch, else 0
  double knn_top1 = -1;              // online kNN monitor, -1 when not measured this epoch
  double knn_top5 = -1;
};

struct PretrainResult {
  std::string run_dir;
  std::vector<EpochStats> epochs;  // the epochs run by this call
  std::string last_checkpoint;
  int64_t skipped_steps = 0;  // over the whole call
};

// The training set as the loop holds it.
struct TrainSet {
  at::Tensor images;             // [N_all, 3, H, W] uint8 on the device; undefined when streamed from disk
  at::Tensor labels;             // [N_all] int64 on the device
  std::vector<int64_t> indices;  // the selected subset (data fraction), sorted
  std::shared_ptr<data::BadImages> bad;  // bad image files met so far (image folders)
  c10::Device device = c10::kCPU;
};

// The run as it starts (train/pretrain_setup.h made it).
struct RunStart {
  std::string run_dir;
  std::string resumed_from;        // the checkpoint path when resuming, else ""
  std::string stored_config_json;  // the resumed checkpoint's configuration (config.json), else ""
  int64_t start_epoch = 0;         // epochs already done
  int64_t global_step = 0;         // steps already done (past start_epoch's epochs when resumed mid-epoch)
  int64_t steps_per_epoch = 0;
  int64_t images = 0;  // the selected training images
  c10::Device device = c10::kCPU;
  int threads = 0;
  int world_size = 1;
  std::string backend;                                 // c10d backend of a distributed run
  core::Precision precision = core::Precision::kFp32;  // resolved
  PrecisionChoice precision_choice;                    // how it was decided (auto: measured, cached, ...)
  core::MemoryFormat memory_format = core::MemoryFormat::kContiguous;  // resolved
  std::string memory_format_note;  // why the requested layout was not used, else ""
  bool sync_free_step = false;     // the step keeps its finite guard on the device (train/train_step.h)
  bool cuda_graph = false;         // ... and is replayed from a CUDA graph
  // The colour jitter strength in effect: given, the resumed checkpoint's, or the dataset's.
  double color_jitter_strength = 0.5;
  const TrainSet* train_set = nullptr;
};

// A logging interval: the step monitor's record (train/step_monitor.h).
struct Interval {
  int64_t epoch = 0;  // 1-based
  int64_t global_step = 0;
  const Record* record = nullptr;
};

// A step whose loss or gradient was not finite.
struct NonfiniteStep {
  int64_t epoch = 0;        // 1-based
  int64_t global_step = 0;  // 1-based: the step that failed
  bool bad_loss = false;    // else the gradient norm
  std::string value;        // nan | inf | -inf
  OnNonfinite action = OnNonfinite::kStop;
  std::string last_checkpoint;  // "" when none yet
};

// The end of a training step, with what a checkpoint needs.
struct StepEnd {
  int64_t epoch;        // 0-based: the epoch the step belongs to
  int64_t global_step;  // steps done, this one included
  bool last_of_epoch;
  models::ResNet& model;
  torch::optim::Optimizer& optimizer;
  const optim::LrSchedule& schedule;
  const optim::GradScaler* scaler;  // fp16's loss scaler, else nullptr
  std::string saved_checkpoint;     // set by the observer that saved one after this step
};

// The end of an epoch, with what a checkpoint needs.
struct EpochEnd {
  EpochStats& stats;
  int64_t global_step;
  models::ResNet& model;
  torch::optim::Optimizer& optimizer;
  const optim::LrSchedule& schedule;
  const optim::GradScaler* scaler;  // fp16's loss scaler, else nullptr
  std::string saved_checkpoint;     // set by the observer that saved one this epoch
};

class PretrainObserver {
 public:
  virtual ~PretrainObserver() = default;
  virtual void on_start(const PretrainConfig& config, const RunStart& start) {}
  virtual void on_interval(const Interval& interval) {}
  virtual void on_nonfinite(const NonfiniteStep& step) {}
  // After every step; the model is in training mode and must be left so.
  virtual void on_step_end(StepEnd& end) {}
  // The model is in training mode and must be left so.
  virtual void on_epoch_end(EpochEnd& end) {}
  virtual void on_end(const PretrainResult& result) {}
};

}  // namespace flatclr::train
