// Contrastive pretraining (SimCLR / FlatCLR), reference §5 with decisions §13: per step two augmented
// views of N images -> encoder -> (h, z) -> InfoNCE or FlatNCE on the 2N views -> optimizer step with the
// per-iteration lr of the warmup+cosine schedule. Epochs see a fresh shuffled order and fresh views,
// both pure functions of (seed, epoch), so a run resumed from a checkpoint ends where the uninterrupted
// run ends. Writes the run folder (config.json, metrics.jsonl, checkpoints).
#pragma once

#include <string>
#include <vector>

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
  double knn_top1 = -1;          // online kNN monitor (--knn_every), -1 when not measured this epoch
  double knn_top5 = -1;
};

struct PretrainResult {
  std::string run_dir;
  std::vector<EpochStats> epochs;  // the epochs run by this call
  std::string last_checkpoint;
};

// config must be validated and resolved (PretrainConfig::validate/resolve).
PretrainResult pretrain(const PretrainConfig& config);

}  // namespace flatclr::train
