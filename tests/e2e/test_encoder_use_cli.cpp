// End to end: using a pretrained encoder elsewhere. `flatclr export` (Python loads both formats), `flatclr
// embed` (numpy reads the arrays; the features equal flatclr's own; the picture's PCA equals numpy's),
// transfer to an image folder of another image size, semi-supervised finetuning on a labelled share and on a
// list file, the supervised baseline, and bad input for each.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "e2e_util.h"
#include "flatclr/data/cifar.h"
#include "flatclr/eval/encoder_loader.h"
#include "flatclr/eval/features.h"
#include "flatclr/report/plots.h"

using namespace flatclr::e2e;

namespace {

nlohmann::json python_json(const std::string& args) {
  const auto r = run_cli_command(flatclr::testing::python() + " " + args);
  EXPECT_EQ(r.code, 0) << r.output;
  return r.code == 0 ? nlohmann::json::parse(r.output) : nlohmann::json::object();
}

// One epoch on 2% of CIFAR-10: an encoder to use (ResNet-18 at 1/8 width).
fs::path pretrain(const std::string& name) {
  auto save = fresh_dir(name);
  auto r = run_cli(small_run("flatclr", save) + " --epochs=1 --tensorboard=False --plots=False");
  EXPECT_EQ(r.code, 0) << r.output;
  return only_run_folder(save, "64_FlatCLR");
}

std::string common_eval(const fs::path& run) {
  return " --checkpoint_dir=" + run.string() + " --data=" + data_dir() + " --download=False --progress=none";
}

}  // namespace

TEST(EndToEndEncoderUse, ExportBothFormatsAndEmbedTheTestSplit) {
  if (!have_data()) GTEST_SKIP() << "no CIFAR-10 binaries under " << data_dir();
  const auto run = pretrain("use_export");
  const auto out = run.parent_path().parent_path().parent_path();  // the test's folder
  auto r = run_cli("export --checkpoint_dir=" + run.string() + " --output=" + (out / "enc.pth").string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("120 tensors"), std::string::npos) << r.output;
  r = run_cli("export --checkpoint_dir=" + run.string() +
              " --transfer_from_epoch=1 --format=safetensors --output=" + (out / "enc.st").string());
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string code =
      "import json, sys, torch\n"
      "from safetensors import safe_open\n"
      "sd = torch.load(sys.argv[1])\n"
      "with safe_open(sys.argv[2], \"pt\") as f:\n"
      "    meta = f.metadata(); same = sorted(f.keys()) == sorted(sd) and all(torch.equal(f.get_tensor(k), "
      "sd[k]) for k in sd)\n"
      "print(json.dumps({\"n\": len(sd), \"same\": same, \"meta\": meta}))";
  auto py = python_json("-c '" + code + "' " + (out / "enc.pth").string() + " " + (out / "enc.st").string());
  EXPECT_EQ(py["n"], 120);
  EXPECT_EQ(py["same"], true);
  EXPECT_EQ(py["meta"]["width_multiplier"], "0.125");
  EXPECT_EQ(py["meta"]["method"], "flatclr");
  EXPECT_EQ(py["meta"]["pretrain_epochs"], "1");

  // embed: the whole test split, with projections.
  const std::string prefix = (out / "emb" / "c10_test").string();
  r = run_cli("embed --checkpoint_dir=" + run.string() + " --data=" + data_dir() +
              " --download=False --projection=True --batch_size=1000 --progress=lines --output=" + prefix);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("progress | embed | step 10/10"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("embedded 10000 images of cifar10 test (64 features each)"), std::string::npos)
      << r.output;
  py = python_json(flatclr::testing::source_path("tests/e2e/check_embedding.py") + " " + prefix + " 2");
  EXPECT_EQ(py["features_dtype"], "float32");
  EXPECT_EQ(py["features_shape"], nlohmann::json::array({10000, 64}));
  EXPECT_EQ(py["labels_dtype"], "int64");
  EXPECT_EQ(py["label_counts"], nlohmann::json(std::vector<int>(10, 1000)));
  EXPECT_EQ(py["projections_shape"], nlohmann::json::array({10000, 128}));
  EXPECT_EQ(py["finite"], true);
  EXPECT_EQ(py["pca_rows"], 5000);
  EXPECT_EQ(py["pca_labels_match"], true);
  EXPECT_LT(py["pca_max_abs_diff"].get<double>(), 1e-4 * std::max(1.0, py["pca_scale"].get<double>()))
      << py.dump();
  // The rows are flatclr's own features of the test images, in the split's order.
  auto test = flatclr::data::load_cifar(data_dir(), "cifar10", /*train=*/false);
  for (int64_t i = 0; i < 20; ++i)
    EXPECT_EQ(py["first_labels"][i].get<int64_t>(), test.labels[i].item<int64_t>()) << i;
  auto enc = flatclr::eval::load_encoder((run / "checkpoint_0001.pth.tar").string());
  const auto h = flatclr::eval::extract_features(enc.model, test.images.slice(0, 0, 64), 64, c10::kCPU);
  std::ifstream npy(prefix + "_features.npy", std::ios::binary);
  npy.seekg(128);
  std::vector<float> rows(64 * 64);
  npy.read(reinterpret_cast<char*>(rows.data()), static_cast<std::streamsize>(rows.size() * sizeof(float)));
  const auto written = torch::from_blob(rows.data(), {64, 64}, torch::kFloat);
  EXPECT_LT((written - h).abs().max().item<double>(), 1e-4) << "max |difference| of the first 64 rows";
  if (!flatclr::report::find_gnuplot().empty()) EXPECT_TRUE(fs::exists(prefix + "_pca.png"));

  // Bad requests: exit 2 naming the flag, exit 1 naming the file; nothing half-written.
  r = run_cli("export --checkpoint_dir=" + run.string());
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--output"), std::string::npos) << r.output;
  r = run_cli("export --checkpoint_dir=" + run.string() + " --output=" + (out / "x.pth").string() +
              " --format=onnx");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--format=onnx: expected one of pth, safetensors"), std::string::npos) << r.output;
  r = run_cli("export --checkpoint_dir=" + run.string() + " --output=/proc/flatclr_no/x.pth");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("cannot write /proc/flatclr_no/x.pth"), std::string::npos) << r.output;
  r = run_cli("embed --checkpoint_dir=" + run.string() + " --split=val --output=" + prefix);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--split=val: expected one of train, test"), std::string::npos) << r.output;
  r = run_cli("embed --checkpoint_dir=" + run.string() + " --data=" + data_dir() +
              " --dataset_name=no_such_set --output=" + (out / "none" / "x").string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("no_such_set"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out / "none" / "x_features.npy"));
}

TEST(EndToEndEncoderUse, TransferToAFolderOfAnotherSizeAndStreamedEmbedding) {
  if (!have_data()) GTEST_SKIP() << "no CIFAR-10 binaries under " << data_dir();
  const auto run = pretrain("use_transfer");
  // 3 classes of 80x80 images: ImageNet-sized (Resize 256, CenterCrop 224), brought back to 32 px for the
  // CIFAR-stem encoder.
  const auto folder_root = fresh_dir("use_transfer_data");
  auto r = run_cli_command(
      flatclr::testing::python() + " " + flatclr::testing::source_path("tests/e2e/make_image_folder.py") +
      " " + data_dir() + "/cifar10_jpg " + (folder_root / "up3").string() + " 80 20 10 cat ship truck");
  ASSERT_EQ(r.code, 0) << r.output;
  std::ofstream(folder_root / "up3" / "test" / "ship" / "0099.png") << "not a png";  // a bad file
  r = run_cli(
      "--train_mode=transfer --transfer_dataset_name=up3 --transfer_mode=linear_eval --fc_epochs=2"
      " --fc_batch_size=32" +
      common_eval(run) + " --data=" + folder_root.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("on up3 (encoder pretrained on cifar10)"), std::string::npos) << r.output;
  // Streamed: the header counts the files listed (the bad one among them, found only when decoded); the
  // results count the images scored and the bad file.
  EXPECT_NE(r.output.find("60 train / 31 test images, 32 px, streamed from disk"), std::string::npos)
      << r.output;
  EXPECT_NE(
      r.output.find("skipping a bad image: " + (folder_root / "up3" / "test" / "ship" / "0099.png").string()),
      std::string::npos)
      << r.output;
  auto results = read_jsonl(run / "eval_results.jsonl");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0]["test_images"], 30);
  EXPECT_EQ(results[0]["bad_images"], 1);
  EXPECT_EQ(results[0]["streamed"], true);
  EXPECT_EQ(results[0]["train_mode"], "transfer");
  EXPECT_EQ(results[0]["dataset"], "up3");
  EXPECT_EQ(results[0]["pretrain_dataset"], "cifar10");
  EXPECT_EQ(results[0]["input_size"], 32);
  EXPECT_EQ(results[0]["train_images"], 60);
  r = run_cli(
      "--train_mode=transfer --transfer_dataset_name=up3 --transfer_mode=finetune --fc_epochs=1"
      " --fc_batch_size=32 --fc_lr=0.01" +
      common_eval(run) + " --data=" + folder_root.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_jsonl(run / "eval_results.jsonl").back()["mode"], "finetune");
  // A transfer target that is not there.
  r = run_cli("--train_mode=transfer --transfer_dataset_name=nowhere" + common_eval(run) +
              " --data=" + folder_root.string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("nowhere"), std::string::npos) << r.output;

  // embed streams ImageNet-sized folders from disk and leaves the bad file out.
  const std::string prefix = (folder_root / "up3_test").string();
  r = run_cli("embed --checkpoint_dir=" + run.string() + " --data=" + folder_root.string() +
              " --dataset_name=up3 --batch_size=8 --progress=none --output=" + prefix);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("streamed from disk"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("embedded 30 images of up3 test"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 bad image file(s) left out"), std::string::npos) << r.output;
  auto py = python_json(flatclr::testing::source_path("tests/e2e/check_embedding.py") + " " + prefix + " 1");
  EXPECT_EQ(py["features_shape"], nlohmann::json::array({30, 64}));
  EXPECT_EQ(py["label_counts"], nlohmann::json::array({10, 10, 10}));
}

TEST(EndToEndEncoderUse, SemiSupervisedOnALabelledShareAndOnAListFile) {
  if (!have_data()) GTEST_SKIP() << "no CIFAR-10 binaries under " << data_dir();
  const auto run = pretrain("use_semi");
  auto r = run_cli(
      "--train_mode=semi --semi_ratio=0.01 --fc_epochs=1 --fc_batch_size=100 --fc_lr=0.01"
      " --eval_test_fraction=0.1" +
      common_eval(run));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("labelled: 1.00% of each class"), std::string::npos) << r.output;
  auto results = read_jsonl(run / "eval_results.jsonl");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0]["train_mode"], "semi");
  EXPECT_EQ(results[0]["mode"], "finetune");
  EXPECT_EQ(results[0]["semi_ratio"], 0.01);
  EXPECT_EQ(results[0]["train_images"], 500);  // 50 of each class
  EXPECT_EQ(results[0]["test_images"], 1000);

  // A list file over the JPEG folders: relative paths and unique bare names.
  const auto list = run.parent_path() / "labelled.txt";
  {
    std::ofstream out(list);
    out << "# 1 per class + 1\n";
    for (auto cls :
         {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"})
      out << cls << "/0000.jpg\n";
    out << "cat/0001.jpg\n";
  }
  r = run_cli("--train_mode=semi --dataset_name=cifar10_jpg --semi_list=" + list.string() +
              " --fc_epochs=1 --fc_batch_size=16 --fc_lr=0.01 --eval_test_fraction=0.1" + common_eval(run));
  ASSERT_EQ(r.code, 0) << r.output;
  results = read_jsonl(run / "eval_results.jsonl");
  EXPECT_EQ(results.back()["train_images"], 11);
  EXPECT_EQ(results.back()["semi_list"], list.string());
  // Bare names must be unique: every class folder has a 0001.jpg.
  std::ofstream(list) << "0001.jpg\n";
  r = run_cli("--train_mode=semi --dataset_name=cifar10_jpg --semi_list=" + list.string() + common_eval(run));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find(list.string() + ":1: 0001.jpg names 10 images"), std::string::npos) << r.output;
  r = run_cli("--train_mode=semi --semi_ratio=0" + common_eval(run));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--semi_ratio=0: expected a fraction in (0, 1]"), std::string::npos) << r.output;
  r = run_cli("--train_mode=semi --semi_list=" + list.string() + common_eval(run));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(
      r.output.find("--semi_list=" + list.string() + ": a list of image files needs an image-folder dataset"),
      std::string::npos)
      << r.output;
  EXPECT_EQ(read_jsonl(run / "eval_results.jsonl").size(), 2u);
}

TEST(EndToEndEncoderUse, SupervisedBaselineWritesARunFolderThatExportReads) {
  if (!have_data()) GTEST_SKIP() << "no CIFAR-10 binaries under " << data_dir();
  const auto save = fresh_dir("use_supervised");
  auto r = run_cli("--train_mode=supervised --dataset_name=cifar10 --data=" + data_dir() +
                   " --download=False --model=res18 --width_multiplier=0.125 --data_fraction=0.02"
                   " --eval_test_fraction=0.1 --fc_epochs=2 --fc_batch_size=100 --fc_lr=0.1 --progress=none"
                   " --save_dir=" +
                   save.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("supervised epoch 2/2"), std::string::npos) << r.output;
  const auto run = only_run_folder(save, "100_Supervised");
  EXPECT_TRUE(fs::exists(run / "config.json"));
  EXPECT_TRUE(fs::exists(run / "checkpoint_0002.pth.tar"));
  const auto results = read_jsonl(run / "eval_results.jsonl");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0]["mode"], "supervised");
  EXPECT_EQ(results[0]["train_images"], 1000);
  // No accuracy claim: 20 steps on 1,000 images (measured: 16.9 % top-1) are a check of the run folder, not
  // of learning, which test_learning_cli.cpp checks against a run that learns nothing.
  r = run_cli("export --checkpoint_dir=" + run.string() + " --output=" + (save / "sup.safetensors").string());
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli("--train_mode=supervised --dataset_name=cifar10 --fc_epochs=0");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--fc_epochs=0"), std::string::npos) << r.output;
  r = run_cli("--from_pretrained=True");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--from_pretrained=True"), std::string::npos) << r.output;
}
