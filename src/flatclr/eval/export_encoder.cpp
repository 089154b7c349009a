#include "flatclr/eval/export_encoder.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "flatclr/core/atomic_file.h"
#include "flatclr/core/error.h"
#include "flatclr/eval/run_checkpoints.h"
#include "flatclr/io/state_dict.h"
#include "flatclr/io/torch_save.h"

namespace flatclr::eval {
namespace {

std::string torchvision_name(models::Arch arch) {
  switch (arch) {
    case models::Arch::kRes18:
      return "resnet18";
    case models::Arch::kRes34:
      return "resnet34";
    case models::Arch::kRes50:
      return "resnet50";
    case models::Arch::kRes101:
      return "resnet101";
    case models::Arch::kRes152:
      return "resnet152";
    case models::Arch::kRes10:
      return "";  // torchvision has no ResNet-10
  }
  return "";
}

std::string json_list(const at::Tensor& t) {
  nlohmann::json j = nlohmann::json::array();
  auto d = t.to(at::kDouble).contiguous();
  for (int64_t i = 0; i < d.numel(); ++i) j.push_back(d.data_ptr<double>()[i]);
  return j.dump();
}

}  // namespace

void ExportConfig::validate() const {
  if (checkpoint_dir.empty()) fail_usage(Field{"checkpoint_dir"}, ": required (the pretraining run folder)");
  if (output.empty()) fail_usage(Field{"export.output"}, ": required (the file to write)");
  if (std::filesystem::is_directory(output))
    fail_usage(Field{"export.output"}, "=", output, ": is a folder; give a file name");
}

io::NamedTensors backbone_tensors(const LoadedEncoder& encoder) {
  io::NamedTensors out;
  for (const auto& e : io::module_state_dict(*encoder.model)) {
    const std::string& key = e.key();
    if (key.rfind("fc.", 0) == 0 || key.rfind("normalize.", 0) == 0) continue;
    out.emplace_back(key, e.value());
  }
  return out;
}

std::map<std::string, std::string> encoder_metadata(const LoadedEncoder& encoder) {
  const auto& o = encoder.model->options;
  std::map<std::string, std::string> m;
  m["format"] = "flatclr encoder backbone: torchvision ResNet keys, no fc (projection head) and no normalize";
  m["architecture"] = core::name_of(o.arch);
  m["torchvision_model"] = torchvision_name(o.arch);
  m["stem"] = o.imagenet_stem ? "imagenet" : "cifar";
  m["stem_note"] = o.imagenet_stem ? "torchvision's stem (7x7 stride-2 conv, max-pool)"
                                   : "3x3 stride-1 conv1 (padding 1, no bias), no max-pool (Identity)";
  m["width_multiplier"] = nlohmann::json(o.width_multiplier).dump();
  m["feature_dim"] = std::to_string(encoder.model->feature_dim());
  m["input"] = "RGB in [0, 1], then (x - normalize_mean) / normalize_std per channel";
  m["normalize_mean"] = json_list(encoder.model->normalize->mean);
  m["normalize_std"] = json_list(encoder.model->normalize->std);
  m["method"] = encoder.method.empty() ? "unknown" : encoder.method;
  m["pretrain_epochs"] = std::to_string(encoder.pretrain_epoch);
  m["pretrain_dataset"] = encoder.pretrain_dataset.empty() ? "unknown" : encoder.pretrain_dataset;
  m["source_checkpoint"] = encoder.source;
  return m;
}

ExportResult export_encoder(const ExportConfig& c) {
  c.validate();
  ExportResult r;
  r.checkpoint = choose_checkpoint(c.checkpoint_dir, c.transfer_from_epoch);
  const LoadedEncoder encoder = load_encoder(r.checkpoint);
  const io::NamedTensors tensors = backbone_tensors(encoder);
  r.tensors = static_cast<int64_t>(tensors.size());
  for (const auto& [k, t] : tensors) r.parameters += t.numel();
  if (c.format == ExportFormat::kSafetensors) {
    const std::string bytes = io::safetensors_bytes(tensors, encoder_metadata(encoder));
    core::write_file_atomic(c.output, bytes);
    r.bytes = bytes.size();
  } else {
    c10::Dict<std::string, at::Tensor> dict;
    for (const auto& [k, t] : tensors) dict.insert(k, t);
    const std::vector<char> bytes = io::torch_save(c10::IValue(dict));
    core::write_file_atomic(c.output, bytes);
    r.bytes = bytes.size();
  }
  return r;
}

}  // namespace flatclr::eval
