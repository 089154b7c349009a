// What attaches to the pretraining loop from outside (train/pretrain.h takes a list of them): the online kNN
// monitor, the end-of-run report, or anything a caller wants to watch. The loop keeps the records that
// resuming depends on (metrics.jsonl, steps.jsonl, TensorBoard, checkpoints); observers see the training set
// at the start, the model after every epoch, and the result at the end. They are called in rank 0 only, the
// process that reports.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "flatclr/data/image_folder.h"
#include "flatclr/models/resnet.h"
#include "flatclr/train/pretrain_config.h"

namespace flatclr::train {

struct EpochStats {
  int64_t epoch = 0;  // 1-based: epochs completed after this one
  double loss = 0;    // mean InfoNCE value over the epoch's steps
  double top1 = 0;    // mean positive-pair top-1 over the steps, in [0, 1]
  double top5 = 0;
  double lr = 0;  // lr of the epoch's last step
  double images_per_s = 0;
  double seconds = 0;
  double data_wait_seconds = 0;  // per-image loader: time the steps waited for their batch
  double knn_top1 = -1;          // online kNN monitor, -1 when not measured this epoch
  double knn_top5 = -1;
};

struct PretrainResult {
  std::string run_dir;
  std::vector<EpochStats> epochs;  // the epochs run by this call
  std::string last_checkpoint;
};

// The training set as the loop holds it.
struct TrainSet {
  at::Tensor images;             // [N_all, 3, H, W] uint8 on the device; undefined when streamed from disk
  at::Tensor labels;             // [N_all] int64 on the device
  std::vector<int64_t> indices;  // the selected subset (data fraction), sorted
  std::shared_ptr<data::BadImages> bad;  // bad image files met so far (image folders)
  c10::Device device = c10::kCPU;
};

class PretrainObserver {
 public:
  virtual ~PretrainObserver() = default;
  virtual void on_start(const PretrainConfig& config, const TrainSet& train_set) {}
  // After every epoch, before the loop writes the epoch's line, metrics and scalars: an observer may fill the
  // optional fields of `stats` (knn_top1/5), which the loop then logs. The model is in training mode and must
  // be left so.
  virtual void on_epoch_end(models::ResNet& model, EpochStats& stats) {}
  virtual void on_end(const PretrainResult& result) {}
};

}  // namespace flatclr::train
