// Evaluation (the paper's train_mode eval or transfer): evaluates the checkpoint(s) of a pretraining run with
// a linear probe, finetuning or kNN (for every dataset, unlike the paper's code), prints a table and appends
// one JSON line per checkpoint to <checkpoint_dir>/eval_results.jsonl so that runs can be compared.
#pragma once

#include <nlohmann/json.hpp>
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

// The scores of a record as eval_results.jsonl stores them (fc_epochs, best/last top-1/top-5, best_epoch,
// wall_time_s), added to `line` after the fields that say what was evaluated.
void add_scores(const EvalRecord& record, nlohmann::ordered_json& line);

}  // namespace flatclr::eval
