// The run folder, laid out as the paper's README says:
//   <save_dir>/<dataset_name>/<batch_size>_<SimCLR|FlatCLR>/<dd-mm-YYYY-HH-MM-SS>/
// holding config.json, metrics.jsonl and checkpoint_<epoch:04d>.pth.tar.
#pragma once

#include <string>

namespace flatclr::train {

// Creates a new, empty run folder (adds "-2", "-3", ... when one of that second already exists).
std::string create_run_dir(const std::string& save_dir, const std::string& dataset_name, int64_t batch_size,
                           const std::string& method_name);

// For resuming: checks that `log_dir` exists and resolves `train_from` (a file name inside log_dir, or
// a path) to an existing checkpoint path. UserError naming the field and path otherwise.
std::string resolve_resume_checkpoint(const std::string& log_dir, const std::string& train_from);

}  // namespace flatclr::train
