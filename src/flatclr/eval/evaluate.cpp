#include "flatclr/eval/evaluate.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>

#include "flatclr/core/device.h"
#include "flatclr/core/error.h"
#include "flatclr/core/threads.h"
#include "flatclr/data/cifar.h"
#include "flatclr/data/open_dataset.h"
#include "flatclr/data/subset.h"
#include "flatclr/eval/encoder_loader.h"
#include "flatclr/eval/features.h"
#include "flatclr/eval/knn.h"
#include "flatclr/eval/linear_probe.h"
#include "flatclr/eval/train_classifier.h"

namespace flatclr::eval {
namespace {

namespace fs = std::filesystem;

std::string pct(double rate) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 100 * rate);
  return buf;
}

void print_epoch(const EpochResult& r, int64_t epochs) {
  std::cout << "fc epoch " << r.epoch << "/" << epochs << " | train_loss " << r.train_loss << " | train_top1 "
            << pct(r.train_top1) << " | test_top1 " << pct(r.test_top1) << " | test_top5 " << pct(r.test_top5)
            << std::endl;
}

void print_table(const std::vector<EvalRecord>& records) {
  std::printf("\n%-44s %6s %-12s %-9s %8s %8s %8s %8s %8s\n", "checkpoint", "epoch", "mode", "dataset",
              "best@1", "best@5", "last@1", "last@5", "time_s");
  for (const auto& r : records) {
    std::string name =
        r.checkpoint.size() > 44 ? "..." + r.checkpoint.substr(r.checkpoint.size() - 41) : r.checkpoint;
    std::printf("%-44s %6lld %-12s %-9s %8s %8s %8s %8s %8.1f\n", name.c_str(),
                static_cast<long long>(r.pretrain_epoch), r.mode.c_str(), r.dataset.c_str(),
                pct(r.best_top1).c_str(), pct(r.best_top5).c_str(), pct(r.last_top1).c_str(),
                pct(r.last_top5).c_str(), r.seconds);
  }
  std::fflush(stdout);
}

// Keeps a class-stratified `fraction` of the dataset's images (all of them at 1).
void keep_stratified_fraction(data::Dataset& ds, double fraction, uint64_t seed) {
  if (fraction >= 1.0) return;
  auto index =
      torch::tensor(data::stratified_subset(ds.labels, ds.num_classes, fraction, seed), torch::kLong);
  ds.images = ds.images.index_select(0, index);
  ds.labels = ds.labels.index_select(0, index);
}

}  // namespace

std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& dir) {
  if (!fs::is_directory(dir)) fail(Field{"checkpoint_dir"}, "=", dir, ": no such folder");
  std::vector<std::pair<int64_t, std::string>> out;
  const std::regex name(R"(^checkpoint_(\d+)\.pth\.tar$)");
  for (const auto& e : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string file = e.path().filename().string();
    if (e.is_regular_file() && std::regex_match(file, m, name))
      out.emplace_back(std::stoll(m[1]), e.path().string());
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) fail(Field{"checkpoint_dir"}, "=", dir, ": no checkpoint_<epoch>.pth.tar files in it");
  return out;
}

std::vector<EvalRecord> run_evaluation(const EvalConfig& c) {
  const int threads = core::set_num_threads(c.run.threads);
  const c10::Device device = core::resolve_device(c.run.device, c.run.disable_cuda);
  auto all = list_checkpoints(c.checkpoint_dir);
  std::vector<std::string> chosen;
  if (c.all_checkpoints) {
    for (auto& [e, p] : all) chosen.push_back(p);
  } else if (c.transfer_from_epoch >= 0) {
    for (auto& [e, p] : all) {
      if (e == c.transfer_from_epoch) chosen.push_back(p);
    }
    if (chosen.empty()) {
      fail(Field{"transfer_from_epoch"}, "=", c.transfer_from_epoch, ": no checkpoint_",
           c.transfer_from_epoch, " in ", c.checkpoint_dir, " (it has epochs ", all.front().first, "..",
           all.back().first, ")");
    }
  } else {
    chosen.push_back(all.back().second);
  }

  // The dataset: the flag, else the one the encoder was pretrained on.
  auto first = load_encoder(chosen.front());
  const std::string dataset = !c.data.dataset_name.empty()
                                  ? c.data.dataset_name
                                  : (first.pretrain_dataset.empty() ? "cifar10" : first.pretrain_dataset);
  const data::OpenOptions open = c.data.open_options();
  data::BadImages bad(open.stop_on_bad);
  auto train = data::load_labelled_split(c.data.root, dataset, true, open, bad);
  auto test = data::load_labelled_split(c.data.root, dataset, false, open, bad);
  if (bad.count() > 0) {
    std::cout << bad.count() << " bad image file(s) skipped (" << Field{"data.bad_images"} << "=skip)"
              << std::endl;
  }
  const auto seed = static_cast<uint64_t>(c.run.seed);
  keep_stratified_fraction(train, c.data.fraction, seed);
  keep_stratified_fraction(test, c.test_fraction, seed);
  const std::string mode = core::name_of(c.transfer_mode);
  std::cout << "flatclr evaluation: " << mode << " on " << dataset << " (" << train.images.size(0)
            << " train / " << test.images.size(0) << " test images), " << chosen.size() << " checkpoint(s)"
            << (c.random_init ? " [random-init baseline]" : "") << ", device " << device.str() << ", "
            << threads << " threads" << std::endl;

  LinearProbeConfig probe = c.probe;
  probe.seed = seed;

  std::vector<EvalRecord> records;
  for (size_t i = 0; i < chosen.size(); ++i) {
    LoadedEncoder enc = i == 0 ? first : load_encoder(chosen[i]);
    if (c.random_init) {
      auto options = enc.model->options;
      enc = random_encoder(options, seed);
    }
    enc.model->to(device);
    const auto start = std::chrono::steady_clock::now();
    EvalRecord rec;
    rec.checkpoint = c.random_init ? "random init (" + chosen[i] + ")" : chosen[i];
    rec.pretrain_epoch = enc.pretrain_epoch;
    rec.mode = mode;
    rec.dataset = dataset;
    std::cout << "evaluating " << rec.checkpoint << std::endl;
    auto on_epoch = [&](const EpochResult& r) { print_epoch(r, probe.epochs); };
    ProbeResult result;
    const bool linear = c.transfer_mode == TransferMode::kLinearEval;
    if (c.transfer_mode == TransferMode::kKnn || (linear && !c.fc_augment)) {
      auto ftrain = extract_features(enc.model, train.images, c.eval_batch_size, device, c.run.progress,
                                     "features train");
      auto ftest = extract_features(enc.model, test.images, c.eval_batch_size, device, c.run.progress,
                                    "features test");
      if (c.transfer_mode == TransferMode::kKnn) {
        auto counts = knn_evaluate(ftrain, train.labels.to(device), ftest, test.labels.to(device),
                                   train.num_classes, c.knn_k, c.knn_temperature);
        result.best_top1 = result.last_top1 = counts.top1_rate();
        result.best_top5 = result.last_top5 = counts.top5_rate();
        result.best_epoch = 0;
        rec.fc_epochs = 0;
      } else {
        result = train_linear_probe(ftrain, train.labels.to(device), ftest, test.labels.to(device),
                                    train.num_classes, probe, on_epoch);
        rec.fc_epochs = probe.epochs;
      }
    } else {
      ClassifierData cd{train.images, train.labels, test.images, test.labels, train.num_classes};
      ClassifierOptions co;
      co.probe = probe;
      co.freeze_backbone = linear;
      co.eval_batch_size = c.eval_batch_size;
      co.progress = c.run.progress;
      result = train_classifier(enc.model, cd, co, device, on_epoch);
      rec.fc_epochs = probe.epochs;
    }
    rec.best_top1 = result.best_top1;
    rec.best_top5 = result.best_top5;
    rec.last_top1 = result.last_top1;
    rec.last_top5 = result.last_top5;
    rec.best_epoch = result.best_epoch;
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    records.push_back(rec);

    nlohmann::ordered_json j;
    j["checkpoint"] = rec.checkpoint;
    j["pretrain_epoch"] = rec.pretrain_epoch;
    j["mode"] = rec.mode + (linear && c.fc_augment ? "+augment" : "");
    j["dataset"] = rec.dataset;
    j["train_images"] = train.images.size(0);
    j["test_images"] = test.images.size(0);
    j["fc_epochs"] = rec.fc_epochs;
    j["best_top1"] = rec.best_top1;
    j["best_top5"] = rec.best_top5;
    j["best_epoch"] = rec.best_epoch;
    j["last_top1"] = rec.last_top1;
    j["last_top5"] = rec.last_top5;
    j["wall_time_s"] = rec.seconds;
    std::ofstream out(fs::path(c.checkpoint_dir) / "eval_results.jsonl", std::ios::app);
    out << j.dump() << "\n";
    if (!out) fail("cannot append to ", (fs::path(c.checkpoint_dir) / "eval_results.jsonl").string());
  }
  print_table(records);
  std::cout << "results appended to " << (fs::path(c.checkpoint_dir) / "eval_results.jsonl").string()
            << std::endl;
  return records;
}

}  // namespace flatclr::eval
