// The checkpoints of a pretraining run folder (checkpoint_<epoch>.pth.tar, flatclr's or the paper's), and the
// choice of one or all of them, shared by evaluation, export and embedding.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace flatclr::eval {

// checkpoint_*.pth.tar of `dir` as (epoch, path), ascending. UserError naming `checkpoint_dir` when the
// folder is missing or holds none.
std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& dir);

// The checkpoint of `epoch` (-1: the newest) of `dir`; UserError naming `transfer_from_epoch` and the epochs
// the folder has when there is none of that epoch.
std::string choose_checkpoint(const std::string& dir, int64_t epoch);

}  // namespace flatclr::eval
