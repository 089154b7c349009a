#include "flatclr/run/supervised_run.h"

#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "flatclr/core/atomic_file.h"
#include "flatclr/core/device.h"
#include "flatclr/core/error.h"
#include "flatclr/core/threads.h"
#include "flatclr/data/open_dataset.h"
#include "flatclr/data/subset.h"
#include "flatclr/eval/train_classifier.h"
#include "flatclr/io/checkpoint.h"
#include "flatclr/io/state_dict.h"
#include "flatclr/train/run_dir.h"

namespace flatclr::run {
namespace {

namespace fs = std::filesystem;

void keep_fraction(data::LabelledSplit& split, double fraction, uint64_t seed) {
  if (fraction >= 1.0) return;
  split = split.subset(data::stratified_subset(split.labels(), split.num_classes(), fraction, seed));
}

}  // namespace

void SupervisedConfig::validate() const {
  if (data.dataset_name.empty()) fail_usage(Field{"data.dataset_name"}, ": required for a supervised run");
  data.validate();
  model.validate();
  probe.validate();
  if (!(test_fraction > 0 && test_fraction <= 1))
    fail_usage(Field{"test_fraction"}, "=", test_fraction, ": expected a fraction in (0, 1]");
  if (eval_batch_size < 1)
    fail_usage(Field{"eval_batch_size"}, "=", eval_batch_size, ": expected an integer >= 1");
  run.validate();
}

std::string SupervisedConfig::to_json() const {
  nlohmann::ordered_json j;
  j["train_mode"] = "supervised";
  j["clr"] = "supervised";
  j["dataset_name"] = data.dataset_name;
  j["data"] = data.root;
  j["data_fraction"] = data.fraction;
  j["eval_test_fraction"] = test_fraction;
  j["model"] = core::name_of(model.arch);
  j["width_multiplier"] = model.width_multiplier;
  j["fc_epochs"] = probe.epochs;
  j["fc_batch_size"] = probe.batch_size;
  j["fc_lr"] = probe.lr;
  j["fc_optimizer"] = core::name_of(probe.optimizer);
  j["fc_scheduler"] = core::name_of(probe.scheduler);
  j["fc_weight_decay"] = probe.weight_decay;
  j["fc_momentum"] = probe.momentum;
  j["seed"] = run.seed;
  j["device"] = run.device;
  return j.dump(2);
}

SupervisedResult run_supervised(const SupervisedConfig& c) {
  c.validate();
  const int threads = core::set_num_threads(c.run.threads);
  const c10::Device device = core::resolve_device(c.run.device, c.run.disable_cuda);
  const auto start = std::chrono::steady_clock::now();
  const data::OpenOptions open = c.data.open_options();
  auto bad = std::make_shared<data::BadImages>(open.stop_on_bad);
  auto train = data::open_labelled_split(c.data.root, c.data.dataset_name, true, open, bad);
  auto test = data::open_labelled_split(c.data.root, c.data.dataset_name, false, open, bad);
  const auto seed = static_cast<uint64_t>(c.run.seed);
  keep_fraction(train, c.data.fraction, seed);
  keep_fraction(test, c.test_fraction, seed);
  const bool imagenet_stem = train.height() > data::kSmallImageMax;
  const bool streamed = train.streamed() || test.streamed();
  const int64_t train_images = train.size(), test_images = test.size();

  models::ModelConfig model_config = c.model;
  model_config.head.mode = models::HeadMode::kNone;
  torch::manual_seed(seed);
  models::ResNet model(model_config.resnet_options(imagenet_stem, c.data.dataset_name));

  SupervisedResult out;
  out.run_dir = train::create_run_dir(c.save_dir, c.data.dataset_name, c.probe.batch_size, "Supervised");
  core::write_file_atomic((fs::path(out.run_dir) / "config.json").string(), c.to_json() + "\n");
  std::cout << "flatclr supervised: " << core::name_of(c.model.arch) << " x" << c.model.width_multiplier
            << " from random init on " << c.data.dataset_name << " (" << train_images << " train / "
            << test_images << " test images" << (streamed ? ", streamed from disk" : "") << "), "
            << c.probe.epochs << " epochs, device " << device.str() << ", " << threads
            << " threads\nrun folder: " << out.run_dir << std::endl;

  eval::ClassifierData cd{std::make_shared<const data::LabelledSplit>(std::move(train)),
                          std::make_shared<const data::LabelledSplit>(std::move(test))};
  eval::ClassifierOptions co;
  co.probe = c.probe;
  co.probe.seed = seed;
  co.freeze_backbone = false;
  co.eval_batch_size = c.eval_batch_size;
  co.progress = c.run.progress;
  co.loader.workers = open.threads;
  co.loader.pin_memory = device.is_cuda();
  auto on_epoch = [&](const eval::EpochResult& r) {
    std::printf(
        "supervised epoch %lld/%lld | train_loss %.4f | train_top1 %.2f | test_top1 %.2f | test_top5 %.2f\n",
        static_cast<long long>(r.epoch), static_cast<long long>(c.probe.epochs), r.train_loss,
        100 * r.train_top1, 100 * r.test_top1, 100 * r.test_top5);
    std::fflush(stdout);
  };
  const eval::ProbeResult result = eval::train_classifier(model, cd, co, device, on_epoch);

  io::Checkpoint ckpt;
  ckpt.epoch = c.probe.epochs;
  ckpt.batch_size = c.probe.batch_size;
  ckpt.model = core::name_of(c.model.arch);
  ckpt.model_state_dict = io::module_state_dict(*model);
  ckpt.optimizer = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  ckpt.scheduler = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  ckpt.config_json = c.to_json();
  out.checkpoint = (fs::path(out.run_dir) / io::checkpoint_file_name(c.probe.epochs)).string();
  io::save_checkpoint(out.checkpoint, ckpt);

  auto& rec = out.record;
  rec.checkpoint = out.checkpoint;
  rec.pretrain_epoch = 0;
  rec.mode = "supervised";
  rec.dataset = c.data.dataset_name;
  rec.fc_epochs = c.probe.epochs;
  rec.best_top1 = result.best_top1;
  rec.best_top5 = result.best_top5;
  rec.last_top1 = result.last_top1;
  rec.last_top5 = result.last_top5;
  rec.best_epoch = result.best_epoch;
  rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::ordered_json j;
  j["checkpoint"] = rec.checkpoint;
  j["pretrain_epoch"] = 0;
  j["train_mode"] = "supervised";
  j["mode"] = "supervised";
  j["dataset"] = rec.dataset;
  j["train_images"] = result.train_images;  // the images trained on (bad files left out)
  j["test_images"] = result.test_images;
  j["streamed"] = streamed;
  j["bad_images"] = bad->count();
  eval::add_scores(rec, j);
  core::write_file_atomic((fs::path(out.run_dir) / "eval_results.jsonl").string(), j.dump() + "\n");
  std::printf("supervised: best top-1 %.2f (epoch %lld), top-5 %.2f; last top-1 %.2f; %.1f s\n",
              100 * rec.best_top1, static_cast<long long>(rec.best_epoch), 100 * rec.best_top5,
              100 * rec.last_top1, rec.seconds);
  std::cout << "encoder saved as " << out.checkpoint << std::endl;
  return out;
}

}  // namespace flatclr::run
