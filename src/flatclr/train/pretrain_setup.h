// Everything the pretraining loop needs, built from a validated configuration: threads, device and process
// group, the training set and its view source, model, optimizer and schedule, and where the run starts (a
// new run folder, or the state of the checkpoint it resumes).
#pragma once

#include <torch/optim/optimizer.h>

#include <memory>

#include "flatclr/data/open_dataset.h"
#include "flatclr/data/view_source.h"
#include "flatclr/dist/data_parallel.h"
#include "flatclr/losses/method.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/grad_scaler.h"
#include "flatclr/optim/schedule.h"
#include "flatclr/train/observer.h"
#include "flatclr/train/pretrain_config.h"

namespace flatclr::train {

struct PretrainSetup {
  int threads = 0;
  c10::Device device = c10::kCPU;
  std::unique_ptr<dist::DataParallel> dp;  // a single process when WORLD_SIZE is not set
  data::TrainImages source;                // the dataset as data/open_dataset.h opened it
  TrainSet train_set;
  std::unique_ptr<data::ViewSource> views;
  models::ResNet model{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  optim::LrSchedule schedule;
  core::Precision precision = core::Precision::kFp32;  // resolved for the device
  bool channels_last = false;
  // The step's kind (train/train_step.h): sync-free on CUDA with LARS, graphed when also one process and
  // PretrainConfig::cuda_graphs. Tests may set sync_free_step on the CPU.
  bool sync_free_step = false;
  bool cuda_graph = false;
  std::unique_ptr<optim::GradScaler> scaler;  // fp16 only (its state is resumed and checkpointed)
  RunStart start;                             // start.train_set points into this object: do not copy it
};

// UserError for data or a checkpoint that does not fit the configuration.
std::unique_ptr<PretrainSetup> setup_pretraining(const PretrainConfig& config);

}  // namespace flatclr::train
