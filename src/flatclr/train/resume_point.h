// Where a run continues: the checkpoints of a run folder ordered by the steps they hold, the newest one that
// loads, and the run folder of a job that torchrun may restart (the same for every restart). A checkpoint
// file is complete or absent (they are written to a temporary file and renamed), so the newest that loads
// is the newest complete one; one that does not load (a damaged disk, a foreign file) is passed over.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "flatclr/io/checkpoint.h"

namespace flatclr::train {

struct SavedCheckpoint {
  std::string path;
  int64_t global_step = 0;  // the steps it holds
};

// checkpoint_<epoch>.pth.tar (epoch * steps_per_epoch steps) and checkpoint_step_<steps>.pth.tar of `dir`,
// the most steps first (an epoch's checkpoint before a step checkpoint of the same step). None when `dir`
// does not exist.
std::vector<SavedCheckpoint> list_run_checkpoints(const std::string& dir, int64_t steps_per_epoch);

struct FoundCheckpoint {
  std::string path;
  io::Checkpoint checkpoint;
  std::vector<std::string> skipped;  // newer files that did not load, with the reason
};

// The newest checkpoint of `dir` that loads; nullopt when none does.
std::optional<FoundCheckpoint> newest_checkpoint(const std::string& dir, int64_t steps_per_epoch);

// Removes the step checkpoints of `dir` that hold fewer steps than `global_step` (a newer checkpoint was just
// written), so that one is kept.
void remove_older_step_checkpoints(const std::string& dir, int64_t global_step);

// <save_dir>/<dataset_name>/<batch_size>_<method>/torchrun-<run_id>: the run folder of a job run by torchrun
// (TORCHELASTIC_RUN_ID, the same for each of its restarts; characters other than letters, digits, '.', '-'
// and '_' become '_').
std::string job_run_dir(const std::string& save_dir, const std::string& dataset_name, int64_t batch_size,
                        const std::string& method_name, const std::string& run_id);

}  // namespace flatclr::train
