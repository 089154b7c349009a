// Contrastive pretraining (SimCLR / FlatCLR): per step two augmented
// views of N images -> encoder -> (h, z) -> InfoNCE or FlatNCE on the 2N views -> optimizer step with the
// per-iteration lr of the warmup+cosine schedule. Epochs see a fresh shuffled order and fresh views,
// both pure functions of (seed, epoch), so a run resumed from a checkpoint ends where the uninterrupted
// run ends. Writes the run folder (config.json, metrics.jsonl, checkpoints).
#pragma once

#include <string>
#include <vector>

#include "flatclr/train/observer.h"
#include "flatclr/train/pretrain_config.h"

namespace flatclr::train {

// config must be validated and resolved (PretrainConfig::validate/resolve). The observers (rank 0 only) are
// called at the start, after every epoch and at the end (train/observer.h).
PretrainResult pretrain(const PretrainConfig& config, const std::vector<PretrainObserver*>& observers = {});

}  // namespace flatclr::train
