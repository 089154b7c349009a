// Everything a pretraining run needs, with the defaults of the paper's main.py (ResNet-50, batch 512, 100
// epochs, LARS lr 0.6, wd 1e-6, tau 0.1, 10 warmup epochs), except the data root ./datasets and the added
// learning_rate_scaling (none by default: lr as given).
// Filled by the CLI (src/flatclr/cli/args.*), checked by validate(), stored as config.json in the run
// folder and inside every checkpoint.
#pragma once

#include <cstdint>
#include <string>

#include "flatclr/dist/dist_env.h"

namespace flatclr::train {

struct PretrainConfig {
  // data
  std::string data = "./datasets";
  std::string dataset_name =
      "cifar10";                // cifar10 | cifar100 | an image folder <data>/<name>/{train,val|test}
  bool faster_version = false;  // batched device augmentation; false = per-image SimCLR pipeline
  int64_t workers = 40;
  double data_fraction = 1.0;       // class-stratified share of the training set, (0, 1]
  bool download = true;             // fetch missing CIFAR archives
  std::string bad_images = "skip";  // image files that fail to decode: skip (count) | stop

  // method
  std::string clr = "flatclr";  // simclr (InfoNCE) | flatclr (FlatNCE)
  double temperature = 0.1;
  int64_t n_views = 2;

  // model
  std::string model = "res50";
  double width_multiplier = 1.0;
  std::string proj_head_mode = "nonlinear";
  int64_t num_proj_layers = 2;
  int64_t proj_out_dim = 128;

  // optimisation
  int64_t batch_size = 512;
  int64_t epochs = 100;
  double lr = 0.6;
  std::string learning_rate_scaling = "none";  // none | linear | sqrt
  std::string optimizer = "lars";              // lars | sgd | adam
  double weight_decay = 1e-6;
  double momentum = 0.9;             // sgd only (LARS has its own 0.9)
  std::string scheduler = "cosine";  // cosine | constant
  int64_t warmup_epochs = 10;
  bool fp16_precision = false;

  // run
  std::string train_mode = "ssl";
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  bool disable_cuda = false;
  int64_t seed = 42;
  int threads = 0;  // 0 = all cores
  int64_t save_every_n_epochs = 2;
  std::string save_dir = "results";
  std::string log_dir;     // run folder to resume into
  std::string train_from;  // checkpoint file name inside log_dir (or a path)
  int64_t log_every_n_steps = 10;
  int64_t knn_every = 0;          // online kNN monitor (k=200, T=0.1 on h) every N epochs; 0 = off
  std::string progress = "auto";  // auto | bar | lines | none

  // monitoring (train/step_monitor.h, report/)
  int64_t diag_rank_every = 10;       // effective rank + z std every N logging intervals; 0 = off
  std::string on_nonfinite = "stop";  // stop | skip: a step whose loss or gradient is NaN/Inf
  bool tensorboard = true;            // TensorBoard event file in the run folder
  bool plots = true;                  // PNG plots (gnuplot) + diagnosis at the end of the run

  // distributed data parallel (dist/); a run is distributed when torchrun's variables say so
  std::string dist_backend = "auto";  // auto (nccl for CUDA when built with it, else gloo) | gloo | nccl
  bool sync_bn = true;                // BatchNorm statistics over the global batch (distributed runs)
  double dist_timeout = 1800;         // seconds for the start-up and each collective (a dead rank -> error)
  dist::DistEnv dist_env;             // RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (the CLI)

  // Derived by resolve(): the effective lr after --learning_rate_scaling.
  double effective_lr = 0.0;

  // Throws UsageError naming the flag, the value and what was expected.
  void validate() const;
  // Fills the derived fields.
  void resolve();
  // "SimCLR" or "FlatCLR".
  std::string method_name() const;
  // JSON object of every field (config.json).
  std::string to_json() const;
};

}  // namespace flatclr::train
