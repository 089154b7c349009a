#include "flatclr/eval/encoder_loader.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "flatclr/core/error.h"
#include "flatclr/io/torch_load.h"

namespace flatclr::eval {
namespace {

bool has(const io::StateDict& s, const std::string& k) { return s.contains(k); }

// The paper's code stores the run's total epochs in `epoch` and names the file after the 0-based epoch it
// saved at (checkpoint_0000 after the first epoch, ...), plus a final checkpoint_<total>. The epochs
// completed are therefore n + 1 for checkpoint_<n> with n < total, and the total for the final one; a file
// named otherwise shows the stored total.
int64_t paper_epochs_completed(const std::string& path, int64_t total) {
  std::smatch m;
  const std::string name = std::filesystem::path(path).filename().string();
  if (!std::regex_match(name, m, std::regex(R"(^checkpoint_(\d+)\.pth\.tar$)"))) return total;
  const int64_t n = std::stoll(m[1]);
  return n >= total ? total : n + 1;
}

}  // namespace

models::ResNetOptions infer_resnet_options(const io::StateDict& s, const std::string& what) {
  if (!has(s, "conv1.weight") || !has(s, "layer4.0.conv1.weight")) {
    fail(what, ": not a ResNet encoder state dict (no conv1.weight / layer4.0.conv1.weight keys)");
  }
  models::ResNetOptions o;
  const auto stem = s.at("conv1.weight");
  o.imagenet_stem = stem.size(3) == 7;
  o.width_multiplier = static_cast<double>(stem.size(0)) / 64.0;
  const bool bottleneck = has(s, "layer1.0.conv3.weight");
  std::vector<int64_t> blocks(4, 0);
  const std::regex block_key(R"(^layer([1-4])\.(\d+)\.conv1\.weight$)");
  for (const auto& e : s) {
    std::smatch m;
    const std::string key = e.key();
    if (std::regex_match(key, m, block_key)) {
      auto& b = blocks[std::stoi(m[1]) - 1];
      b = std::max<int64_t>(b, std::stoll(m[2]) + 1);
    }
  }
  using models::Arch;
  const std::map<std::pair<bool, std::vector<int64_t>>, Arch> archs{
      {{false, {1, 1, 1, 1}}, Arch::kRes10},  {{false, {2, 2, 2, 2}}, Arch::kRes18},
      {{false, {3, 4, 6, 3}}, Arch::kRes34},  {{true, {3, 4, 6, 3}}, Arch::kRes50},
      {{true, {3, 4, 23, 3}}, Arch::kRes101}, {{true, {3, 8, 36, 3}}, Arch::kRes152}};
  auto it = archs.find({bottleneck, blocks});
  if (it == archs.end()) {
    fail(what, ": a ResNet with ", blocks[0], "/", blocks[1], "/", blocks[2], "/", blocks[3], " blocks",
         bottleneck ? " (Bottleneck)" : "", " is none of res10/18/34/50/101/152");
  }
  o.arch = it->second;
  // Projection head: fc.linear_layers.net.<i>.weight; BatchNorm at net.1 means mode "linear".
  std::vector<std::pair<int64_t, at::Tensor>> linears;
  const std::regex head_key(R"(^fc\.linear_layers\.net\.(\d+)\.weight$)");
  for (const auto& e : s) {
    std::smatch m;
    const std::string key = e.key();
    if (std::regex_match(key, m, head_key) && e.value().dim() == 2)
      linears.emplace_back(std::stoll(m[1]), e.value());
  }
  std::sort(linears.begin(), linears.end(), [](auto& a, auto& b) { return a.first < b.first; });
  if (linears.empty()) {
    o.head.mode = models::HeadMode::kNone;
  } else if (has(s, "fc.linear_layers.net.1.running_mean")) {
    o.head.mode = models::HeadMode::kLinear;
    o.head.out_dim = linears.back().second.size(0);
  } else {
    o.head.mode = models::HeadMode::kNonlinear;
    o.head.num_layers = static_cast<int64_t>(linears.size());
    o.head.out_dim = linears.back().second.size(0);
  }
  return o;
}

LoadedEncoder load_encoder(const std::string& path) {
  // The metadata (stored config, epochs) and the state dict; a second read of the file costs little
  // next to an evaluation.
  const c10::IValue top = io::torch_load(path);
  io::StateDict state = io::load_encoder_state_dict(path);
  auto options = infer_resnet_options(state, path);
  LoadedEncoder out;
  out.source = path;
  if (top.isGenericDict()) {
    const auto d = top.toGenericDict();
    auto config = d.find("config");
    auto epoch = d.find("epoch");
    if (config != d.end() && config->value().isString()) {
      auto j = nlohmann::json::parse(config->value().toStringRef(), nullptr, false);
      if (j.is_object() && j.contains("dataset_name"))
        out.pretrain_dataset = j["dataset_name"].get<std::string>();
      if (j.is_object() && j.contains("clr") && j["clr"].is_string())
        out.method = j["clr"].get<std::string>();
      // flatclr checkpoints store the epochs completed.
      if (epoch != d.end() && epoch->value().isInt()) out.pretrain_epoch = epoch->value().toInt();
    } else if (epoch != d.end() && epoch->value().isInt()) {
      out.pretrain_epoch = paper_epochs_completed(path, epoch->value().toInt());
    }
  }
  options.normalize_dataset = out.pretrain_dataset.empty() ? "cifar10" : out.pretrain_dataset;
  out.model = models::ResNet(options);
  const bool has_normalize = state.contains("normalize.mean");
  auto report = io::load_module_state_dict(*out.model, state, /*strict=*/false, path);
  for (const auto& k : report.missing) {
    if (k.rfind("normalize.", 0) == 0 && !has_normalize) continue;  // very old layouts: default normalisation
    fail(path, ": the encoder state lacks ", k, " (", report.missing.size(), " key(s) missing)");
  }
  for (const auto& k : report.unexpected)
    fail(path, ": unexpected key ", k, " for a ", core::name_of(options.arch), " encoder");
  return out;
}

LoadedEncoder random_encoder(const models::ResNetOptions& like, uint64_t seed) {
  torch::manual_seed(seed);
  LoadedEncoder out;
  out.model = models::ResNet(like);
  out.source = "random init";
  out.pretrain_epoch = 0;
  out.pretrain_dataset = like.normalize_dataset;
  return out;
}

}  // namespace flatclr::eval
