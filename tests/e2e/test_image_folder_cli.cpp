// End to end on an image-folder dataset: the real CIFAR-10 JPEGs (shared/data/cifar10-jpg.tar.gz, unpacked
// by the prepare_cifar10_jpg fixture into <build>/datasets/cifar10_jpg/{train,test}) pretrained with the
// per-image SimCLR pipeline (--faster_version=False, worker threads), then evaluated (linear_eval, kNN) on
// the same folders; the run is deterministic across worker counts.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "e2e_util.h"

using namespace flatclr::e2e;

namespace {

bool have_jpg_data() { return fs::exists(data_dir() + "/cifar10_jpg/test/truck/0999.jpg"); }

// 1% of the 50,000 JPEGs (500), ResNet-18 at 1/8 width, batch 50: 10 steps per epoch.
std::string folder_run(const fs::path& save, int workers) {
  return "--dataset_name=cifar10_jpg --precision=fp32 --faster_version=False --workers=" +
         std::to_string(workers) + " --data=" + data_dir() +
         " --clr=flatclr --model=res18 --width_multiplier=0.125 --batch_size=50 --epochs=1 --warmup_epochs=0"
         " --data_fraction=0.01 --lr=0.3 --save_every_n_epochs=1 --progress=lines --log_every_n_steps=5"
         " --seed=11 --save_dir=" +
         save.string();
}

fs::path run_folder(const fs::path& save) {
  std::vector<fs::path> runs;
  for (auto& e : fs::directory_iterator(save / "cifar10_jpg" / "50_FlatCLR")) runs.push_back(e.path());
  EXPECT_EQ(runs.size(), 1u);
  return runs.at(0);
}

}  // namespace

TEST(EndToEndImageFolder, PerImagePipelinePretrainsAndEvaluatesOnCifarJpegs) {
  if (!have_jpg_data()) GTEST_SKIP() << "no CIFAR-10 JPEG folders under " << data_dir();
  auto save = fresh_dir("folder");
  auto r = run_cli(folder_run(save, 2));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("on cifar10_jpg, 500 images"), std::string::npos) << r.output;
  const auto run = run_folder(save);
  ASSERT_TRUE(fs::exists(run / "checkpoint_0001.pth.tar"));
  std::ifstream metrics(run / "metrics.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(metrics, line));
  const auto rec = nlohmann::json::parse(line);
  EXPECT_TRUE(std::isfinite(rec["loss"].get<double>()));
  EXPECT_GE(rec["data_wait_s"].get<double>(), 0.0);
  // A CIFAR-sized folder gets the CIFAR stem (3x3 conv1).
  const auto ckpt = flatclr::io::load_checkpoint((run / "checkpoint_0001.pth.tar").string());
  EXPECT_EQ(ckpt.model_state_dict.at("conv1.weight").size(3), 3);

  // The same run with another worker count ends with the same weights (the views are keyed per image).
  const std::string first_output = r.output;
  auto save0 = fresh_dir("folder_w0");
  r = run_cli(folder_run(save0, 0));
  ASSERT_EQ(r.code, 0) << r.output;
  // Both runs' output on a failure (once seen under `ctest -j2` on a loaded machine, not reproduced alone).
  SCOPED_TRACE("the run with 2 workers:\n" + first_output + "\nthe run with 0 workers:\n" + r.output);
  expect_same_weights((run / "checkpoint_0001.pth.tar").string(),
                      (run_folder(save0) / "checkpoint_0001.pth.tar").string(), 0.0);

  const std::string common = " --checkpoint_dir=" + run.string() + " --data=" + data_dir() +
                             " --data_fraction=0.02 --eval_test_fraction=0.05 --progress=none --workers=2";
  r = run_cli("--train_mode=eval --transfer_mode=linear_eval --fc_epochs=3 --fc_batch_size=250" + common);
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli("--train_mode=eval --transfer_mode=knn" + common);
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream results(run / "eval_results.jsonl");
  std::vector<nlohmann::json> recs;
  while (std::getline(results, line)) recs.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(recs.size(), 2u);
  for (const auto& j : recs) {
    EXPECT_EQ(j["dataset"], "cifar10_jpg");
    EXPECT_EQ(j["train_images"], 1000);
    EXPECT_EQ(j["test_images"], 500);
    // No accuracy claim: 10 steps on 500 images do not make an encoder better than its random init (measured:
    // kNN 25.8 %, linear 20.2 %, where the random init scores about 24 %); the per-image pipeline's learning
    // check, against a run that learns nothing, is in test_learning_cli.cpp.
    EXPECT_LE(j["best_top1"].get<double>(), j["best_top5"].get<double>());
  }
}

TEST(EndToEndImageFolder, BadImageFlagsAndMissingSplit) {
  auto data = fresh_dir("folder_bad");
  fs::create_directories(data / "tiny" / "train" / "a");
  fs::copy_file(flatclr::testing::source_path("tests/data/data/images/rgb.jpg"), data / "tiny/train/a/0.jpg");
  std::ofstream(data / "tiny/train/a/1.jpg") << "not a jpeg";
  const std::string base = "--dataset_name=tiny --faster_version=False --data=" + data.string() +
                           " --model=res10 --width_multiplier=0.125 --batch_size=2 --epochs=1 --save_dir=" +
                           (data / "runs").string() + " --progress=none";
  auto r = run_cli(base + " --bad_images=stop");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find((data / "tiny/train/a/1.jpg").string()), std::string::npos) << r.output;
  r = run_cli(base + " --bad_images=sometimes");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--bad_images"), std::string::npos) << r.output;
  // skip: the one good image is not enough for a batch of 2 -> a clear error, the bad file counted.
  r = run_cli(base);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("1.jpg"), std::string::npos) << r.output;
}

// A narrow model on ImageNet-sized images, the configuration on which oneDNN's channels-last backward crashed
// (ResNet-18 x0.125, 224 px views: layer2's 1x1 stride-2 shortcut takes 8 channels): the default layout
// (auto) trains contiguous, and an explicit channels-last falls back to contiguous with one line that says
// why.
TEST(EndToEndImageFolder, NarrowModelOnImageNetSizedImagesTrainsInEveryLayout) {
  if (!have_jpg_data()) GTEST_SKIP() << "no CIFAR-10 JPEG folders under " << data_dir();
  const auto data = fresh_dir("folder_narrow");
  // 2 classes x 8 images of 160 px (CIFAR upscaled): an ImageNet-sized folder, views of 224 px.
  auto made = run_cli_command(flatclr::testing::python() + " " +
                              flatclr::testing::source_path("tests/e2e/make_image_folder.py") + " " +
                              data_dir() + "/cifar10_jpg " + (data / "big160").string() + " 160 8 1 cat dog");
  ASSERT_EQ(made.code, 0) << made.output;
  const std::string base =
      "--dataset_name=big160 --precision=fp32 --faster_version=False --data=" + data.string() +
      " --model=res18 --width_multiplier=0.125 --batch_size=4 --epochs=1 --warmup_epochs=0"
      " --lr=0.1 --progress=none --plots=False --tensorboard=False --save_dir=";
  for (const std::string layout : {"", " --memory_format=channels_last"}) {
    const auto save = data / ("runs" + std::to_string(layout.size()));
    auto r = run_cli(base + save.string() + layout);
    ASSERT_EQ(r.code, 0) << layout << "\n" << r.output;
    const bool note =
        r.output.find("note: --memory_format=channels_last: using contiguous instead") != std::string::npos;
    EXPECT_EQ(note, !layout.empty()) << r.output;
    if (!layout.empty()) {
      EXPECT_NE(r.output.find("layer2.0.downsample.0 (8 input channels, 1x1 stride 2)"), std::string::npos)
          << r.output;
    }
    std::vector<fs::path> runs;
    for (auto& e : fs::directory_iterator(save / "big160" / "4_FlatCLR")) runs.push_back(e.path());
    ASSERT_EQ(runs.size(), 1u);
    const auto config = nlohmann::json::parse(std::ifstream(runs[0] / "config.json"));
    EXPECT_EQ(config["memory_format_in_effect"], "contiguous");
    // Both record why (auto says it in config.json only; an explicit request also on the console).
    ASSERT_TRUE(config.contains("memory_format_note"));
    EXPECT_NE(config["memory_format_note"].get<std::string>().find(
                  layout.empty() ? "=auto: contiguous, because" : "=channels_last: using contiguous"),
              std::string::npos)
        << config["memory_format_note"];
    // The ImageNet stem: a 7x7 conv1.
    const auto ckpt = flatclr::io::load_checkpoint((runs[0] / "checkpoint_0001.pth.tar").string());
    EXPECT_EQ(ckpt.model_state_dict.at("conv1.weight").size(3), 7);
  }
}
