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
#include "flatclr/eval/feature_file.h"
#include "flatclr/eval/features.h"
#include "flatclr/eval/knn.h"
#include "flatclr/eval/linear_probe.h"
#include "flatclr/eval/run_checkpoints.h"
#include "flatclr/eval/split_knn.h"
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

constexpr int64_t kCifarInputSize = 32;  // the input size of CIFAR-stem encoders in transfer

// "<run folder>/<checkpoint file>": the run folder's name tells runs apart; the full path is in the jsonl.
std::string short_name(const std::string& checkpoint) {
  const fs::path p(checkpoint);
  const std::string file = p.filename().string(), folder = p.parent_path().filename().string();
  const std::string name = folder.empty() ? file : folder + "/" + file;
  return checkpoint.rfind("random init", 0) == 0 ? "random init (" + name : name;
}

void print_table(const std::vector<EvalRecord>& records) {
  size_t width = 10;
  for (const auto& r : records) width = std::max(width, short_name(r.checkpoint).size());
  const int w = static_cast<int>(width);
  std::printf("\n%-*s %6s %-12s %-11s %8s %8s %8s %8s %8s\n", w, "checkpoint", "epoch", "mode", "dataset",
              "best@1", "best@5", "last@1", "last@5", "time_s");
  for (const auto& r : records) {
    const std::string name = short_name(r.checkpoint);
    std::printf("%-*s %6lld %-12s %-11s %8s %8s %8s %8s %8.1f\n", w, name.c_str(),
                static_cast<long long>(r.pretrain_epoch), r.mode.c_str(), r.dataset.c_str(),
                pct(r.best_top1).c_str(), pct(r.best_top5).c_str(), pct(r.last_top1).c_str(),
                pct(r.last_top5).c_str(), r.seconds);
  }
  std::fflush(stdout);
}

// Keeps a class-stratified `fraction` of the split's images (all of them at 1).
void keep_stratified_fraction(data::LabelledSplit& split, double fraction, uint64_t seed) {
  if (fraction >= 1.0) return;
  split = split.subset(data::stratified_subset(split.labels(), split.num_classes(), fraction, seed));
}

// "<checkpoint_dir>/eval_features/<checkpoint file's stem>.<dataset>.<split>.npy"
std::string feature_path(const EvalConfig& c, const std::string& checkpoint, const std::string& dataset,
                         const std::string& split) {
  const fs::path dir = fs::path(c.checkpoint_dir) / "eval_features";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create ", dir.string(), " for the feature files (", ec.message(), ")");
  return (dir / (fs::path(checkpoint).stem().string() + "." + dataset + "." + split + ".npy")).string();
}

}  // namespace

void add_scores(const EvalRecord& rec, nlohmann::ordered_json& j) {
  j["fc_epochs"] = rec.fc_epochs;
  j["best_top1"] = rec.best_top1;
  j["best_top5"] = rec.best_top5;
  j["best_epoch"] = rec.best_epoch;
  j["last_top1"] = rec.last_top1;
  j["last_top5"] = rec.last_top5;
  j["wall_time_s"] = rec.seconds;
}

std::vector<EvalRecord> run_evaluation(const EvalConfig& c) {
  const int threads = core::set_num_threads(c.run.threads);
  const c10::Device device = core::resolve_device(c.run.device, c.run.disable_cuda);
  auto all = list_checkpoints(c.checkpoint_dir);
  std::vector<std::string> chosen;
  if (c.all_checkpoints) {
    for (auto& [e, p] : all) chosen.push_back(p);
  } else {
    chosen.push_back(choose_checkpoint(c.checkpoint_dir, c.transfer_from_epoch));
  }

  // The dataset: the transfer target, else the flag, else the one the encoder was pretrained on.
  auto first = load_encoder(chosen.front());
  check_expected_encoder(c.model, first.model->options, chosen.front());
  const std::string source_dataset = first.pretrain_dataset.empty() ? "cifar10" : first.pretrain_dataset;
  std::string dataset = !c.data.dataset_name.empty() ? c.data.dataset_name : source_dataset;
  if (c.protocol == Protocol::kTransfer && !c.transfer_dataset.empty()) dataset = c.transfer_dataset;
  const data::OpenOptions open = c.data.open_options();
  auto bad = std::make_shared<data::BadImages>(open.stop_on_bad);
  const bool semi = c.protocol == Protocol::kSemi;
  auto train = data::open_labelled_split(c.data.root, dataset, true, open, bad, semi ? c.semi_list : "");
  auto test = data::open_labelled_split(c.data.root, dataset, false, open, bad);
  if (bad->count() > 0) {
    std::cout << bad->count() << " bad image file(s) skipped (" << Field{"data.bad_images"} << "=skip)"
              << std::endl;
  }
  const auto seed = static_cast<uint64_t>(c.run.seed);
  keep_stratified_fraction(train, semi && c.semi_list.empty() ? c.semi_ratio : c.data.fraction, seed);
  keep_stratified_fraction(test, c.test_fraction, seed);
  // Transfer: the target's images at the size the encoder was pretrained on.
  int64_t input_size = train.height();
  if (c.protocol == Protocol::kTransfer) {
    input_size = first.model->options.imagenet_stem ? data::kLargeCropSize : kCifarInputSize;
    train = train.resized(input_size, threads);
    test = test.resized(input_size, threads);
  }
  const bool streamed = train.streamed() || test.streamed();
  const auto train_split = std::make_shared<const data::LabelledSplit>(std::move(train));
  const auto test_split = std::make_shared<const data::LabelledSplit>(std::move(test));
  data::SplitLoaderOptions lo;
  lo.workers = open.threads;
  lo.pin_memory = device.is_cuda();
  const std::string mode = core::name_of(c.transfer_mode);
  const std::string protocol = core::name_of(c.protocol);
  std::cout << "flatclr " << protocol << ": " << mode << " on " << dataset;
  if (c.protocol == Protocol::kTransfer) std::cout << " (encoder pretrained on " << source_dataset << ")";
  if (semi) {
    std::cout << ", labelled: "
              << (c.semi_list.empty() ? pct(c.semi_ratio) + "% of each class"
                                      : "the images of " + c.semi_list);
  }
  std::cout << " (" << train_split->size() << " train / " << test_split->size() << " test images, "
            << input_size << " px" << (streamed ? ", streamed from disk" : "") << "), " << chosen.size()
            << " checkpoint(s)" << (c.random_init ? " [random-init baseline]" : "") << ", device "
            << device.str() << ", " << threads << " threads" << std::endl;

  LinearProbeConfig probe = c.probe;
  probe.seed = seed;

  std::vector<EvalRecord> records;
  for (size_t i = 0; i < chosen.size(); ++i) {
    LoadedEncoder enc = i == 0 ? first : load_encoder(chosen[i]);
    check_expected_encoder(c.model, enc.model->options, chosen[i]);
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
    int64_t train_rows = train_split->size(), test_rows = test_split->size();
    if (c.transfer_mode == TransferMode::kKnn && streamed) {
      SplitKnnOptions ko;
      ko.k = c.knn_k;
      ko.temperature = c.knn_temperature;
      ko.batch_size = c.eval_batch_size;
      ko.loader = lo;
      ko.progress = c.run.progress;
      const auto knn = split_knn(enc.model, train_split, test_split, device, ko);
      const TopKCounts& counts = knn.counts;
      train_rows = knn.bank_rows;
      test_rows = counts.total;
      result.best_top1 = result.last_top1 = counts.top1_rate();
      result.best_top5 = result.last_top5 = counts.top5_rate();
      rec.fc_epochs = 0;
    } else if (linear && !c.fc_augment && streamed) {
      FeatureFileOptions fo;
      fo.dtype = c.feature_dtype;
      fo.batch_size = c.eval_batch_size;
      fo.loader = lo;
      fo.progress = c.run.progress;
      fo.label = "features train";
      auto ftrain = write_feature_file(enc.model, train_split, feature_path(c, chosen[i], dataset, "train"),
                                       device, fo);
      fo.label = "features test";
      auto ftest =
          write_feature_file(enc.model, test_split, feature_path(c, chosen[i], dataset, "test"), device, fo);
      train_rows = ftrain->rows();
      test_rows = ftest->rows();
      result = train_linear_probe(ftrain->features(), ftrain->labels(), ftest->features(), ftest->labels(),
                                  train_split->num_classes(), probe, on_epoch, device);
      rec.fc_epochs = probe.epochs;
    } else if (c.transfer_mode == TransferMode::kKnn || (linear && !c.fc_augment)) {
      const auto& train_ds = train_split->dataset();
      const auto& test_ds = test_split->dataset();
      auto ftrain = extract_features(enc.model, train_ds.images, c.eval_batch_size, device, c.run.progress,
                                     "features train");
      auto ftest = extract_features(enc.model, test_ds.images, c.eval_batch_size, device, c.run.progress,
                                    "features test");
      if (c.transfer_mode == TransferMode::kKnn) {
        auto counts =
            knn_evaluate(ftrain, train_split->labels().to(device), ftest, test_split->labels().to(device),
                         train_split->num_classes(), c.knn_k, c.knn_temperature);
        result.best_top1 = result.last_top1 = counts.top1_rate();
        result.best_top5 = result.last_top5 = counts.top5_rate();
        result.best_epoch = 0;
        rec.fc_epochs = 0;
      } else {
        result =
            train_linear_probe(ftrain, train_split->labels().to(device), ftest,
                               test_split->labels().to(device), train_split->num_classes(), probe, on_epoch);
        rec.fc_epochs = probe.epochs;
      }
    } else {
      ClassifierData cd{train_split, test_split};
      ClassifierOptions co;
      co.probe = probe;
      co.freeze_backbone = linear;
      co.eval_batch_size = c.eval_batch_size;
      co.progress = c.run.progress;
      co.loader = lo;
      result = train_classifier(enc.model, cd, co, device, on_epoch);
      rec.fc_epochs = probe.epochs;
      train_rows = result.train_images;
      test_rows = result.test_images;
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
    j["train_mode"] = protocol;
    j["dataset"] = rec.dataset;
    j["pretrain_dataset"] = enc.pretrain_dataset.empty() ? "unknown" : enc.pretrain_dataset;
    j["input_size"] = input_size;
    if (semi) {
      if (c.semi_list.empty()) {
        j["semi_ratio"] = c.semi_ratio;
      } else {
        j["semi_list"] = c.semi_list;
      }
    }
    j["train_images"] = train_rows;
    j["test_images"] = test_rows;
    j["streamed"] = streamed;
    j["bad_images"] = bad->count();
    add_scores(rec, j);
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
