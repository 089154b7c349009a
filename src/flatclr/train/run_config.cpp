#include "flatclr/train/run_config.h"

#include <nlohmann/json.hpp>

namespace flatclr::train {

std::string run_config_json(const PretrainConfig& c, const RunStart& s) {
  auto config = nlohmann::ordered_json::parse(c.to_json());
  config["precision_in_effect"] = core::name_of(s.precision);
  const PrecisionChoice& pc = s.precision_choice;
  if (c.precision == core::Precision::kAuto) {
    auto& a = config["precision_auto"];
    a["source"] = core::name_of(pc.source);
    if (!pc.cpu_model.empty()) a["cpu"] = pc.cpu_model;
    if (pc.source == PrecisionSource::kMeasured || pc.source == PrecisionSource::kCached) {
      a["fp32_step_seconds"] = pc.times.fp32_seconds;
      a["bf16_step_seconds"] = pc.times.bf16_seconds;
      a["probe_batch"] = pc.times.batch;
      a["bf16_min_speedup"] = core::kBf16MinSpeedup;
    }
  }
  config["memory_format_in_effect"] = core::name_of(s.memory_format);
  if (!s.memory_format_note.empty()) config["memory_format_note"] = s.memory_format_note;
  config["cuda_graph_in_effect"] = s.cuda_graph;
  config["color_jitter_strength_in_effect"] = s.color_jitter_strength;
  return config.dump(2) + "\n";
}

}  // namespace flatclr::train
