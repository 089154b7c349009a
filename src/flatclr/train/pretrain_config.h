// Everything a pretraining run needs, with the defaults of the paper's main.py (ResNet-50, batch 512, 100
// epochs, LARS lr 0.6, wd 1e-6, tau 0.1, 10 warmup epochs), except the data root ./datasets and the added
// learning_rate_scaling (none by default: lr as given).
// Filled by the CLI, checked by validate(), stored as config.json in the run folder and inside every
// checkpoint. Choices are enums (core/choice.h); their names are what config.json holds. Messages name
// fields by their place here (`data.fraction`, `lr`), never by a command-line flag (core/error.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "flatclr/core/choice.h"
#include "flatclr/core/precision.h"
#include "flatclr/core/run_settings.h"
#include "flatclr/data/data_config.h"
#include "flatclr/dist/data_parallel.h"
#include "flatclr/dist/dist_env.h"
#include "flatclr/losses/method.h"
#include "flatclr/models/model_config.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/optim/schedule.h"

namespace flatclr::train {

// A step whose loss or gradient is NaN/Inf: stop the run (naming the step and the last checkpoint), or
// skip the step (no update, BatchNorm statistics restored) and go on.
enum class OnNonfinite { kStop, kSkip };
inline constexpr core::Choice<OnNonfinite> kOnNonfinite[] = {{OnNonfinite::kStop, "stop"},
                                                             {OnNonfinite::kSkip, "skip"}};
constexpr const auto& choices_of(OnNonfinite) { return kOnNonfinite; }

struct PretrainConfig {
  data::DataConfig data;        // shared with evaluation
  bool faster_version = false;  // batched device augmentation; false = per-image SimCLR pipeline
  // SimCLR's colour distortion strength s, ColorJitter(0.8s, 0.8s, 0.8s, 0.2s), in both augmentation paths;
  // in [0, 2.5]. Unset: a resumed run keeps its checkpoint's, a new run takes the dataset's (0.5 for
  // CIFAR-sized images, 1 for ImageNet-sized ones: data::default_color_jitter_strength).
  std::optional<double> color_jitter_strength;
  // The smallest area fraction of RandomResizedCrop's scale range (scale_min, 1), in both augmentation paths;
  // in (0, 1]. The paper's 0.08 by default; a larger one makes the two views of an image overlap more (easier
  // positives).
  double crop_min_scale = 0.08;

  // method
  losses::Method clr = losses::Method::kFlatCLR;
  double temperature = 0.1;
  int64_t n_views = 2;

  models::ModelConfig model;  // res50, width 1, nonlinear head of 2 layers to 128

  // optimisation
  int64_t batch_size = 512;  // the global batch (all processes together)
  int64_t epochs = 100;
  double lr = 0.6;
  optim::LrScaling learning_rate_scaling = optim::LrScaling::kNone;
  optim::OptimizerKind optimizer = optim::OptimizerKind::kLars;
  double weight_decay = 1e-6;
  double momentum = 0.9;  // SGD's, and LARS's (whose reference value is the same 0.9)
  optim::ScheduleKind scheduler = optim::ScheduleKind::kCosine;
  int64_t warmup_epochs = 10;
  // Mixed precision and memory layout of the training step (core/precision.h); auto is resolved per device at
  // set-up. fp16_precision=true is the reference's spelling of precision=fp16.
  core::Precision precision = core::Precision::kAuto;
  core::MemoryFormat memory_format = core::MemoryFormat::kAuto;
  // The file where `auto` on a CPU keeps its step-time measurements (train/precision_cache.h); "" measures
  // every run. Set by the caller (the CLI: the user's cache folder), not stored in config.json.
  std::string precision_cache;
  bool fp16_precision = false;
  // On a CUDA device with LARS and one process: capture the training step in a CUDA graph and replay it
  // (train/train_step.h). Elsewhere it has no effect; config.json says what was in effect.
  bool cuda_graphs = true;

  core::RunSettings run;  // device, threads, seed, progress: shared with evaluation

  // run folder and logging
  int64_t save_every_n_epochs = 2;
  // Also a checkpoint every N steps (0 = off), inside epochs too: a restarted job loses at most N steps.
  // Only the newest such checkpoint (checkpoint_step_<global step>.pth.tar) is kept.
  int64_t save_every_n_steps = 0;
  std::string save_dir = "results";
  // The run folder to continue: with train_from, resume that checkpoint; alone, resume the newest complete
  // checkpoint in it (or start there when it holds none). Under torchrun with neither, the run folder is
  // <save_dir>/<dataset>/<bs>_<Method>/torchrun-<TORCHELASTIC_RUN_ID>, the same for every restart of the job,
  // and is continued the same way.
  std::string log_dir;
  std::string train_from;  // checkpoint file name inside log_dir (or a path)
  int64_t log_every_n_steps = 10;
  int64_t knn_every = 0;  // online kNN monitor (k=200, T=0.1 on h) every N epochs; 0 = off
  // The monitor's bank for a folder streamed from disk: this many training images (class-stratified, fixed
  // by the seed), Resize(256) + CenterCrop(224); in-memory datasets use every training image of the run.
  int64_t knn_bank_size = 10000;

  // monitoring (train/step_monitor.h, report/)
  int64_t diag_rank_every = 10;  // effective rank + z std every N logging intervals; 0 = off
  OnNonfinite on_nonfinite = OnNonfinite::kStop;
  bool tensorboard = true;  // TensorBoard event file in the run folder
  bool plots = true;        // PNG plots (gnuplot) + diagnosis at the end of the run

  // distributed data parallel (dist/); a run is distributed when torchrun's variables say so
  dist::BackendChoice dist_backend = dist::BackendChoice::kAuto;  // auto: nccl for CUDA when built with it
  bool sync_bn = true;         // BatchNorm statistics over the global batch (distributed runs)
  double dist_timeout = 1800;  // seconds for the start-up and each collective (a dead rank -> error)
  dist::DistEnv dist_env;      // RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT

  // Derived by resolve(): the effective lr after learning_rate_scaling.
  double effective_lr = 0.0;

  // Throws UsageError naming the field, the value and what was expected.
  void validate() const;
  // Fills the derived fields.
  void resolve();
  // "SimCLR" or "FlatCLR".
  std::string method_name() const;
  // JSON object of every field (config.json), with the flat keys of the paper's flags.
  std::string to_json() const;
  // The keys of to_json() that decide the training itself (data, method, model, optimisation, seed,
  // distributed settings), which every process of a run must share and a resumed run must keep; paths,
  // threads, logging and the like may differ between hosts.
  static const std::vector<std::string>& trajectory_keys();
};

}  // namespace flatclr::train
