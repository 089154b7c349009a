// A run's configuration as config.json and every checkpoint record it: the configuration as given
// (PretrainConfig::to_json, the paper's flag names) plus what `auto` became on this machine and why
// (precision_in_effect with precision_auto's measurement, memory_format_in_effect, cuda_graph_in_effect,
// color_jitter_strength_in_effect). A resumed run reads precision_in_effect and, unless given again,
// color_jitter_strength_in_effect back from its checkpoint, so it keeps the precision and the augmentation it
// started with.
#pragma once

#include <string>

#include "flatclr/train/observer.h"
#include "flatclr/train/pretrain_config.h"

namespace flatclr::train {

std::string run_config_json(const PretrainConfig& config, const RunStart& start);

}  // namespace flatclr::train
