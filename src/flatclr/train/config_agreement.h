// The configuration every process of a run must share, and a resumed run must keep: the fields of
// PretrainConfig::trajectory_keys() (batch size, model, optimisation, seed, ...). Two hosts started with
// different flags would otherwise train on inconsistent shapes or schedules, and hang or diverge silently.
#pragma once

#include <string>
#include <vector>

#include "flatclr/dist/data_parallel.h"
#include "flatclr/train/pretrain_config.h"

namespace flatclr::train {

// "`batch_size`=64 <a_name>, 128 <b_name>" for every trajectory key whose value differs between the JSON
// objects a and b (config.json texts), leaving out the keys in `ignore` and keys absent from either.
std::vector<std::string> trajectory_differences(const std::string& a, const std::string& a_name,
                                                const std::string& b, const std::string& b_name,
                                                const std::vector<std::string>& ignore = {});

// Rank 0 sends its configuration; a rank whose trajectory differs stops with a UserError naming the fields,
// its values and rank 0's; every other rank stops too, naming how many ranks differ (no rank is left
// waiting). Nothing when the run is not distributed.
void check_same_configuration(const PretrainConfig& config, dist::DataParallel& dp);

}  // namespace flatclr::train
