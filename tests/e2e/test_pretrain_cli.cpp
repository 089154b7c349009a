// End to end through the `flatclr` binary on a slice of the real CIFAR-10 (../shared/data converted to the
// official binary format by scripts/prepare_cifar10.sh, a CTest fixture): pretraining, the run folder,
// exact resume, and clear failures on bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "../test_paths.h"
#include "flatclr/train/checkpoint.h"

namespace fs = std::filesystem;
using flatclr::testing::binary_path;

namespace {

struct Result {
  int code;
  std::string output;
};

Result run_cli(const std::string& args) {
  const std::string cmd = std::string(FLATCLR_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string data_dir() { return binary_path("datasets"); }

bool have_data() { return fs::exists(data_dir() + "/cifar-10-batches-bin/data_batch_5.bin"); }

fs::path fresh_dir(const std::string& name) {
  auto d = fs::path(binary_path("e2e_runs")) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A CPU-sized run: 2% of CIFAR-10 (1,000 images), ResNet-18 at 1/8 width, batch 64 (15 steps/epoch).
std::string small_run(const std::string& clr, const fs::path& save_dir) {
  return "--dataset_name=cifar10 --clr=" + clr + " --faster_version=True --data=" + data_dir() +
         " --download=False --model=res18 --width_multiplier=0.125 --batch_size=64 --epochs=2"
         " --warmup_epochs=1 --data_fraction=0.02 --lr=0.3 --learning_rate_scaling=linear --save_every_n_epochs=1"
         " --progress=lines --log_every_n_steps=5 --seed=7 --save_dir=" +
         save_dir.string();
}

fs::path only_run_folder(const fs::path& save_dir, const std::string& sub) {
  fs::path parent = save_dir / "cifar10" / sub;
  std::vector<fs::path> runs;
  for (auto& e : fs::directory_iterator(parent)) runs.push_back(e.path());
  EXPECT_EQ(runs.size(), 1u);
  return runs.at(0);
}

void expect_same_weights(const std::string& a, const std::string& b, double tol) {
  auto ca = flatclr::train::load_checkpoint(a), cb = flatclr::train::load_checkpoint(b);
  ASSERT_EQ(ca.model_state_dict.size(), cb.model_state_dict.size());
  double max_diff = 0;
  for (const auto& e : ca.model_state_dict) {
    auto other = cb.model_state_dict.at(e.key());
    max_diff = std::max(max_diff, (e.value().to(torch::kDouble) - other.to(torch::kDouble)).abs().max().item<double>());
  }
  EXPECT_LE(max_diff, tol) << "max |difference| of the weights " << max_diff;
  EXPECT_EQ(ca.global_step, cb.global_step);
}

}  // namespace

TEST(EndToEnd, FlatClrPretrainsWritesRunFolderAndResumesExactly) {
  if (!have_data()) GTEST_SKIP() << "no CIFAR-10 binaries under " << data_dir() << " (scripts/prepare_cifar10.sh)";
  auto save = fresh_dir("flatclr");
  auto r = run_cli(small_run("flatclr", save));
  ASSERT_EQ(r.code, 0) << r.output;
  // One parseable line per epoch.
  std::regex epoch_line(R"(epoch (\d+)/2 \| loss ([0-9.]+) \| top1 ([0-9.]+) \| top5 ([0-9.]+) \| lr ([0-9.]+) \| img/s ([0-9.]+))");
  auto begin = std::sregex_iterator(r.output.begin(), r.output.end(), epoch_line);
  std::vector<double> losses;
  for (auto it = begin; it != std::sregex_iterator(); ++it) losses.push_back(std::stod((*it)[2]));
  ASSERT_EQ(losses.size(), 2u) << r.output;
  for (double l : losses) EXPECT_LT(l, std::log(2.0 * 64 - 1) + 0.5);
  EXPECT_NE(r.output.find("progress | epoch 1/2 | step 5/15"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"effective_lr\": 0.075"), std::string::npos) << r.output;

  auto run = only_run_folder(save, "64_FlatCLR");
  EXPECT_TRUE(std::regex_match(run.filename().string(), std::regex(R"(\d\d-\d\d-\d{4}-\d\d-\d\d-\d\d)")));
  for (auto f : {"config.json", "metrics.jsonl", "checkpoint_0001.pth.tar", "checkpoint_0002.pth.tar"}) {
    EXPECT_TRUE(fs::exists(run / f)) << f;
  }
  std::ifstream metrics(run / "metrics.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(metrics, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["epoch"].get<int>(), ++lines);
    EXPECT_EQ(j["global_step"].get<int>(), 15 * lines);
    EXPECT_NEAR(j["loss"].get<double>(), losses[lines - 1], 1e-4);
  }
  EXPECT_EQ(lines, 2);

  // Resume from epoch 1 into the same folder: epoch 2 must end with the uninterrupted run's weights.
  fs::copy_file(run / "checkpoint_0002.pth.tar", save / "straight_0002.pth.tar");
  auto resumed = run_cli(small_run("flatclr", save) + " --log_dir=" + run.string() +
                         " --train_from=checkpoint_0001.pth.tar");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming from"), std::string::npos);
  EXPECT_EQ(resumed.output.find("epoch 1/2 |"), std::string::npos) << "epoch 1 was run again";
  expect_same_weights((save / "straight_0002.pth.tar").string(), (run / "checkpoint_0002.pth.tar").string(), 1e-6);
  // metrics.jsonl still describes one run: epochs 1 and 2 once each.
  std::ifstream m2(run / "metrics.jsonl");
  int count = 0;
  while (std::getline(m2, line)) ++count;
  EXPECT_EQ(count, 2);
}

TEST(EndToEnd, SimClrRunsAndSameSeedIsReproducible) {
  if (!have_data()) GTEST_SKIP() << "no CIFAR-10 binaries under " << data_dir();
  auto a = fresh_dir("simclr_a"), b = fresh_dir("simclr_b");
  auto ra = run_cli(small_run("simclr", a) + " --epochs=1");
  ASSERT_EQ(ra.code, 0) << ra.output;
  auto rb = run_cli(small_run("simclr", b) + " --epochs=1");
  ASSERT_EQ(rb.code, 0) << rb.output;
  expect_same_weights((only_run_folder(a, "64_SimCLR") / "checkpoint_0001.pth.tar").string(),
                      (only_run_folder(b, "64_SimCLR") / "checkpoint_0001.pth.tar").string(), 0.0);
}

TEST(EndToEnd, BadInputFailsClearlyAndLeavesNothingBehind) {
  auto save = fresh_dir("bad");
  // No data and no download: says which archive to put where.
  auto empty = fresh_dir("empty_data");
  auto r = run_cli("--dataset_name=cifar10 --faster_version=True --download=False --data=" + empty.string() +
                   " --save_dir=" + save.string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("cifar-10-binary.tar.gz"), std::string::npos) << r.output;
  // Unknown flag.
  r = run_cli("--batchsize=3");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--batchsize"), std::string::npos) << r.output;
  // The per-image pipeline is not there yet: said clearly.
  r = run_cli("--faster_version=False --data=" + empty.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("faster_version"), std::string::npos) << r.output;
  if (!have_data()) return;
  // A corrupt checkpoint to resume from.
  auto run = save / "cifar10" / "64_FlatCLR" / "x";
  fs::create_directories(run);
  std::ofstream(run / "checkpoint_0001.pth.tar") << "not a checkpoint";
  r = run_cli(small_run("flatclr", save) + " --log_dir=" + run.string() + " --train_from=checkpoint_0001.pth.tar");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("checkpoint_0001.pth.tar"), std::string::npos) << r.output;
  // A missing one.
  r = run_cli(small_run("flatclr", save) + " --log_dir=" + run.string() + " --train_from=checkpoint_0007.pth.tar");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("checkpoint_0007.pth.tar"), std::string::npos) << r.output;
}
