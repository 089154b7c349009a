// The supervised baseline (the paper's train_mode supervised, which its code never got to run): the same
// architecture as a pretraining run would build (model.*), randomly initialised from the seed, trained with
// labels exactly as `finetune` trains a pretrained encoder: the same random crop + flip, optimiser, schedule
// and epochs (probe.*, the fc_* options), the same per-sample test accuracy after every epoch. So
// `finetune` of a pretrained encoder and `supervised` differ only in where the weights start, and their gap
// is what self-supervision buys.
//
// A run folder <save_dir>/<dataset>/<probe.batch_size>_Supervised/<date>/ receives config.json,
// eval_results.jsonl (one line, mode "supervised") and checkpoint_<epochs>.pth.tar holding the trained
// encoder (without the classifier), which `flatclr export`, `flatclr embed` and the evaluations read like any
// pretraining checkpoint.
#pragma once

#include <string>

#include "flatclr/core/run_settings.h"
#include "flatclr/data/data_config.h"
#include "flatclr/eval/evaluate.h"
#include "flatclr/eval/linear_probe.h"
#include "flatclr/models/model_config.h"

namespace flatclr::run {

struct SupervisedConfig {
  data::DataConfig data;      // dataset_name, fraction of the labelled training split, ...
  models::ModelConfig model;  // the projection head is not built: a classifier replaces it
  eval::LinearProbeConfig probe;
  double test_fraction = 1.0;
  int64_t eval_batch_size = 512;
  std::string save_dir = "results";
  core::RunSettings run;

  void validate() const;  // UsageError naming the field
  std::string to_json() const;
};

struct SupervisedResult {
  std::string run_dir, checkpoint;
  eval::EvalRecord record;
};

SupervisedResult run_supervised(const SupervisedConfig& config);

}  // namespace flatclr::run
