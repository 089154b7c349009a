// Contrastive pretraining (SimCLR / FlatCLR): per step two augmented views of N images -> encoder -> (h, z)
// -> InfoNCE or FlatNCE on the 2N views -> optimizer step with the per-iteration lr of the warmup+cosine
// schedule. Epochs see a fresh shuffled order and fresh views, both pure functions of (seed, epoch), so a run
// resumed from a checkpoint ends where the uninterrupted run ends.
//
// The loop only trains. Its records (config.json, metrics.jsonl, steps.jsonl, TensorBoard, checkpoints) and
// the console are the standard observers (train/console_log.h, run_records.h, tensorboard_log.h,
// checkpoint_saver.h), attached by pretrain() after the caller's own.
#pragma once

#include <string>
#include <vector>

#include "flatclr/train/observer.h"
#include "flatclr/train/pretrain_config.h"
#include "flatclr/train/pretrain_setup.h"

namespace flatclr::train {

// config must be validated and resolved (PretrainConfig::validate/resolve). The caller's observers come
// first (an observer that fills the epoch's kNN fields must precede the sinks that log them); rank 0 only.
PretrainResult pretrain(const PretrainConfig& config, const std::vector<PretrainObserver*>& observers = {});

// The loop alone, on a prepared setup, reporting to exactly `observers` (rank 0 only).
PretrainResult run_pretraining(const PretrainConfig& config, PretrainSetup& setup,
                               const std::vector<PretrainObserver*>& observers);

}  // namespace flatclr::train
