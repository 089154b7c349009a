// End to end: every command that reads an ImageNet-sized image folder streams it (--streaming=auto) and
// gives what the in-memory path (--streaming=off) gives on the same data and seed: kNN, linear_eval on
// fixed features (float32 files: the same; float16: within one test image), linear_eval with augmentation,
// finetune, transfer (resized to a CIFAR-stem encoder's 32 px), semi, supervised and `flatclr embed`. And
// the memory check in small: peak resident memory at 4N images is within 10% of that at N.
// The data: a synthetic ImageNet-like JPEG folder (scripts/make_synthetic_imagenet.py); the encoders:
// random ResNet-10s at 1/8 width written as checkpoints by the test (no pretraining needed to compare paths).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "e2e_util.h"
#include "flatclr/io/checkpoint.h"
#include "flatclr/io/state_dict.h"
#include "flatclr/models/resnet.h"

using namespace flatclr::e2e;

namespace {

fs::path root() { return fs::path(binary_path("e2e_runs")) / "streaming"; }

void make_folder(const std::string& name, int classes, int train, int val) {
  const auto dest = root() / "data" / name;
  if (fs::exists(dest / "val")) return;
  const auto r = run_cli_command(flatclr::testing::python() + " " +
                                 flatclr::testing::source_path("scripts/make_synthetic_imagenet.py") + " " +
                                 dest.string() + " " + std::to_string(classes) + " " + std::to_string(train) +
                                 " " + std::to_string(val));
  ASSERT_EQ(r.code, 0) << r.output;
}

// A run folder holding one checkpoint of a random ResNet-10 x0.125 "pretrained" on `dataset`.
fs::path make_run(const std::string& name, const std::string& dataset, bool imagenet_stem) {
  const auto dir = root() / "runs" / name;
  if (fs::exists(dir / "checkpoint_0001.pth.tar")) return dir;
  write_random_res10_run(dir, dataset, imagenet_stem);
  return dir;
}

std::string data_flags() {
  return " --data=" + (root() / "data").string() + " --download=False --progress=none";
}

// The last line of eval_results.jsonl after running `args` (which must succeed).
nlohmann::json eval_line(const fs::path& run, const std::string& args, std::string* output = nullptr) {
  const auto r = run_cli(args + " --checkpoint_dir=" + run.string() + data_flags());
  EXPECT_EQ(r.code, 0) << r.output;
  if (output) *output = r.output;
  const auto lines = read_jsonl(run / "eval_results.jsonl");
  return lines.empty() ? nlohmann::json::object() : lines.back();
}

void expect_same_scores(const nlohmann::json& a, const nlohmann::json& b, double tol = 0) {
  for (const char* key :
       {"best_top1", "best_top5", "last_top1", "last_top5", "train_images", "test_images"}) {
    EXPECT_NEAR(a.value(key, -1.0), b.value(key, -2.0), tol) << key << "\n" << a.dump() << "\n" << b.dump();
  }
}

double peak_mb(const std::string& output) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex(R"(peak resident memory: ([0-9.]+) MB)"))) return -1;
  return std::stod(m[1]);
}

class Streaming : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    make_folder("synth", 5, 12, 6);  // 60 training and 30 held-out JPEGs of 72-120 px
    run_ = make_run("imagenet_stem", "synth", true);
    cifar_run_ = make_run("cifar_stem", "cifar10", false);
  }
  static fs::path run_, cifar_run_;
};
fs::path Streaming::run_, Streaming::cifar_run_;

}  // namespace

TEST_F(Streaming, KnnAndLinearEvalOnFixedFeaturesEqualTheInMemoryPath) {
  const std::string knn = "--train_mode=eval --transfer_mode=knn --knn_k=10 --eval_batch_size=16 --workers=2";
  std::string out;
  const auto mem = eval_line(run_, knn + " --streaming=off", &out);
  EXPECT_NE(out.find("60 train / 30 test images, 224 px), 1 checkpoint"), std::string::npos) << out;
  const auto str = eval_line(run_, knn, &out);  // auto: ImageNet-sized, streamed
  EXPECT_NE(out.find("224 px, streamed from disk"), std::string::npos) << out;
  EXPECT_EQ(str["streamed"], true);
  EXPECT_EQ(mem["streamed"], false);
  expect_same_scores(mem, str);
  EXPECT_GT(str["best_top1"].get<double>(), 0.3) << "the classes are told apart: " << str.dump();

  const std::string linear =
      "--train_mode=eval --transfer_mode=linear_eval --fc_epochs=4 --fc_batch_size=16 --fc_lr=0.1 "
      "--eval_batch_size=16 --workers=2";
  const auto lmem = eval_line(run_, linear + " --streaming=off");
  // float32 features in the file: the same probe; float16: within one of the 30 test images.
  expect_same_scores(lmem, eval_line(run_, linear + " --feature_dtype=float32"));
  expect_same_scores(lmem, eval_line(run_, linear), 1.0 / 30 + 1e-9);
  // The feature files are gone once the evaluation ends.
  EXPECT_TRUE(fs::is_empty(run_ / "eval_features"));
}

TEST_F(Streaming, AugmentedLinearEvalAndFinetuneEqualTheInMemoryPath) {
  // Finetuning over two epochs: the second decodes and augments every image again.
  for (const std::string mode : {"--transfer_mode=linear_eval --fc_augment=True --fc_epochs=1",
                                 "--transfer_mode=finetune --fc_epochs=2"}) {
    const std::string args =
        "--train_mode=eval " + mode + " --fc_batch_size=16 --fc_lr=0.05 --eval_batch_size=16 --workers=2";
    expect_same_scores(eval_line(run_, args + " --streaming=off"), eval_line(run_, args));
  }
}

TEST_F(Streaming, TransferSemiSupervisedAndEmbedEqualTheInMemoryPath) {
  // Transfer to a CIFAR-stem encoder: the 224 px crops brought to 32 px as each image is read.
  const std::string transfer =
      "--train_mode=transfer --transfer_dataset_name=synth --transfer_mode=knn --knn_k=10 --workers=2";
  std::string out;
  const auto tstr = eval_line(cifar_run_, transfer, &out);
  EXPECT_NE(out.find("32 px, streamed from disk"), std::string::npos) << out;
  expect_same_scores(eval_line(cifar_run_, transfer + " --streaming=off"), tstr);
  const std::string semi =
      "--train_mode=semi --semi_ratio=0.5 --fc_epochs=1 --fc_batch_size=8 --fc_lr=0.05 --eval_batch_size=16";
  const auto smem = eval_line(run_, semi + " --streaming=off");
  EXPECT_EQ(smem["train_images"], 30);
  expect_same_scores(smem, eval_line(run_, semi));

  // The supervised baseline: its own run folders.
  const std::string sup =
      "--train_mode=supervised --dataset_name=synth --model=res10 --width_multiplier=0.125"
      " --fc_epochs=1 --fc_batch_size=16 --fc_lr=0.05 --eval_batch_size=16 --seed=3" +
      data_flags() + " --save_dir=";
  std::vector<nlohmann::json> sups;
  for (const std::string streaming : {"off", "on"}) {
    const auto save = root() / ("supervised_" + streaming);
    fs::remove_all(save);
    const auto r = run_cli(sup + save.string() + " --streaming=" + streaming);
    ASSERT_EQ(r.code, 0) << r.output;
    std::vector<fs::path> runs;
    for (auto& e : fs::directory_iterator(save / "synth" / "16_Supervised")) runs.push_back(e.path());
    ASSERT_EQ(runs.size(), 1u);
    sups.push_back(read_jsonl(runs[0] / "eval_results.jsonl").at(0));
  }
  expect_same_scores(sups[0], sups[1]);
  EXPECT_EQ(sups[1]["streamed"], true);

  // embed: the same arrays, streamed or not.
  std::vector<std::string> bytes;
  for (const std::string streaming : {"off", "auto"}) {
    const auto prefix = (root() / ("embed_" + streaming)).string();
    const auto r = run_cli("embed --checkpoint_dir=" + run_.string() + data_flags() +
                           " --batch_size=16 --split=train --streaming=" + streaming + " --output=" + prefix);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(r.output.find("streamed from disk") != std::string::npos, streaming == "auto") << r.output;
    std::ifstream in(prefix + "_features.npy", std::ios::binary);
    bytes.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  EXPECT_EQ(bytes[0].size(), 128u + 60 * 64 * 4);
  EXPECT_TRUE(bytes[0] == bytes[1]) << "the streamed embedding differs from the in-memory one";
}

// Pretraining on a streamed folder with the online kNN monitor: a fixed class-stratified bank of
// --knn_bank_size training images against the held-out split, both streamed.
TEST_F(Streaming, OnlineKnnMonitorOfAStreamedFolder) {
  const auto save = root() / "monitor";
  fs::remove_all(save);
  const auto r = run_cli(
      "--dataset_name=synth --faster_version=False --model=res10 --width_multiplier=0.125"
      " --batch_size=20 --epochs=1 --warmup_epochs=0 --precision=fp32 --knn_every=1"
      " --knn_bank_size=20 --workers=2 --plots=False --tensorboard=False --save_dir=" +
      save.string() + data_flags());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("online kNN: a bank of 20 training images against 30 held-out images, streamed"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("| knn_top1 "), std::string::npos) << r.output;
  // --knn_bank_size is a pretraining flag: an evaluation refuses it.
  const auto refused = run_cli("--train_mode=eval --knn_bank_size=5 --checkpoint_dir=" + run_.string());
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_NE(refused.output.find("--knn_bank_size"), std::string::npos) << refused.output;
}

// The CI-sized memory check of bench/bench_streaming_memory.py: each streamed command's peak resident memory
// at 4N images within 10% of its peak at N (the feature file and kNN bank are a few KB here).
TEST_F(Streaming, PeakMemoryDoesNotGrowWithTheNumberOfImages) {
  make_folder("mem_n", 4, 12, 6);    // N = 72 images
  make_folder("mem_4n", 4, 48, 24);  // 4N = 288
  const fs::path run = make_run("memory", "mem_n", true);
  const std::string common = " --eval_batch_size=16 --fc_batch_size=16 --fc_epochs=1 --workers=2";
  for (const std::string mode :
       {"--train_mode=eval --transfer_mode=knn", "--train_mode=eval --transfer_mode=linear_eval",
        "--train_mode=eval --transfer_mode=finetune --fc_lr=0.05"}) {
    double peak[2] = {0, 0};
    for (int i = 0; i < 2; ++i) {
      std::string out;
      const auto line = eval_line(run, mode + common + " --dataset_name=" + (i ? "mem_4n" : "mem_n"), &out);
      EXPECT_EQ(line["train_images"], i ? 192 : 48);
      peak[i] = peak_mb(out);
      ASSERT_GT(peak[i], 0) << out;
    }
    EXPECT_LE(peak[1], 1.10 * peak[0])
        << mode << ": peak " << peak[0] << " MB at N, " << peak[1] << " MB at 4N";
    std::cout << mode << ": peak resident memory " << peak[0] << " MB at N = 72 images, " << peak[1]
              << " MB at 4N" << std::endl;
  }
}
