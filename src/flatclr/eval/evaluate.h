// Evaluation (the paper's train_mode eval or transfer): evaluates the checkpoint(s) of a pretraining run with
// a linear probe, finetuning or kNN (for every dataset, unlike the paper's code), prints a table and appends
// one JSON line per checkpoint to <checkpoint_dir>/eval_results.jsonl so that runs can be compared.
#pragma once

#include <string>
#include <vector>

#include "flatclr/eval/eval_config.h"

namespace flatclr::eval {

struct EvalRecord {
  std::string checkpoint;
  int64_t pretrain_epoch = -1;
  std::string mode, dataset;
  int64_t fc_epochs = 0;
  double best_top1 = 0, best_top5 = 0, last_top1 = 0, last_top5 = 0;
  int64_t best_epoch = 0;
  double seconds = 0;
};

std::vector<EvalRecord> run_evaluation(const EvalConfig& config);

}  // namespace flatclr::eval
