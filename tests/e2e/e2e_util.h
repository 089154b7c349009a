// Shared by the end-to-end tests: running the `flatclr` binary and the small CPU-sized run they use.
#pragma once

#include <sys/wait.h>
#include <torch/torch.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../test_paths.h"
#include "flatclr/io/checkpoint.h"
#include "flatclr/io/state_dict.h"
#include "flatclr/models/resnet.h"

namespace flatclr::e2e {

namespace fs = std::filesystem;
using flatclr::testing::binary_path;

struct Result {
  int code;
  std::string output;
};

inline Result run_cli(const std::string& args) {
  const std::string cmd = std::string(FLATCLR_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Any command; its stdout only (stderr goes to the test's log), e.g. a Python check that prints JSON.
inline Result run_cli_command(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// One JSON value per line (eval_results.jsonl, metrics.jsonl).
inline std::vector<nlohmann::json> read_jsonl(const fs::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

inline std::string data_dir() { return binary_path("datasets"); }

inline bool have_data() { return fs::exists(data_dir() + "/cifar-10-batches-bin/data_batch_5.bin"); }

inline fs::path fresh_dir(const std::string& name) {
  auto d = fs::path(binary_path("e2e_runs")) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A CPU-sized run: 2% of CIFAR-10 (1,000 images), ResNet-18 at 1/8 width, batch 64 (15 steps/epoch).
// In fp32: `--precision=auto` times the step on this machine (train/precision_probe.h) and may choose bf16 on
// one machine and fp32 on another, or differently for two runs that a test compares; the e2e tests that are
// about `auto` say so, the others pin the precision. The same holds for every pretraining command below.
inline std::string small_run(const std::string& clr, const fs::path& save_dir) {
  return "--dataset_name=cifar10 --precision=fp32 --clr=" + clr +
         " --faster_version=True --data=" + data_dir() +
         " --download=False --model=res18 --width_multiplier=0.125 --batch_size=64 --epochs=2"
         " --warmup_epochs=1 --data_fraction=0.02 --lr=0.3 --learning_rate_scaling=linear "
         "--save_every_n_epochs=1"
         " --progress=lines --log_every_n_steps=5 --seed=7 --save_dir=" +
         save_dir.string();
}

inline fs::path only_run_folder(const fs::path& save_dir, const std::string& sub) {
  fs::path parent = save_dir / "cifar10" / sub;
  std::vector<fs::path> runs;
  for (auto& e : fs::directory_iterator(parent)) runs.push_back(e.path());
  EXPECT_EQ(runs.size(), 1u);
  return runs.at(0);
}

inline void expect_same_weights(const std::string& a, const std::string& b, double tol) {
  auto ca = flatclr::io::load_checkpoint(a), cb = flatclr::io::load_checkpoint(b);
  ASSERT_EQ(ca.model_state_dict.size(), cb.model_state_dict.size());
  double max_diff = 0;
  for (const auto& e : ca.model_state_dict) {
    auto other = cb.model_state_dict.at(e.key());
    max_diff = std::max(max_diff,
                        (e.value().to(torch::kDouble) - other.to(torch::kDouble)).abs().max().item<double>());
  }
  EXPECT_LE(max_diff, tol) << "max |difference| of the weights " << max_diff;
  EXPECT_EQ(ca.global_step, cb.global_step);
}

// Writes <dir>/checkpoint_0001.pth.tar: a random ResNet-10 x0.125 (seed 5) "pretrained" on `dataset`, for the
// tests of the evaluation modes on image folders, which need an encoder but not a trained one.
inline void write_random_res10_run(const fs::path& dir, const std::string& dataset, bool imagenet_stem) {
  fs::create_directories(dir);
  torch::manual_seed(5);
  flatclr::models::ResNetOptions o;
  o.arch = flatclr::models::Arch::kRes10;
  o.width_multiplier = 0.125;
  o.imagenet_stem = imagenet_stem;
  o.normalize_dataset = dataset;
  flatclr::models::ResNet model(o);
  flatclr::io::Checkpoint c;
  c.epoch = 1;
  c.batch_size = 16;
  c.model = "res10";
  c.model_state_dict = flatclr::io::module_state_dict(*model);
  c.optimizer = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  c.scheduler = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  c.config_json = nlohmann::json{{"dataset_name", dataset}, {"clr", "flatclr"}}.dump();
  flatclr::io::save_checkpoint((dir / "checkpoint_0001.pth.tar").string(), c);
}

}  // namespace flatclr::e2e
