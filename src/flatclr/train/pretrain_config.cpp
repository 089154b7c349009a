#include "flatclr/train/pretrain_config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "flatclr/core/error.h"
#include "flatclr/core/threads.h"
#include "flatclr/data/augment_batch.h"

namespace flatclr::train {
namespace {

void positive(const char* field, double value) {
  if (!(value > 0) || !std::isfinite(value))
    fail_usage(Field{field}, "=", value, ": expected a positive number");
}

void at_least(const char* field, int64_t value, int64_t min) {
  if (value < min) fail_usage(Field{field}, "=", value, ": expected an integer >= ", min);
}

}  // namespace

void PretrainConfig::validate() const {
  if (data.dataset_name.empty()) {
    fail_usage(Field{"data.dataset_name"},
               "=: expected cifar10, cifar100 or the name of an image folder <data>/<name>/train/<class>/*");
  }
  data.validate();
  model.validate();
  if (fp16_precision && precision != core::Precision::kAuto && precision != core::Precision::kFp16) {
    fail_usage(Field{"fp16_precision"}, "=true asks for fp16 but ", Field{"precision"}, "=",
               core::name_of(precision), ": give one of them");
  }
  run.validate();
  if (color_jitter_strength) {
    const double s = *color_jitter_strength;
    if (!(s >= 0 && s <= data::kMaxColorJitterStrength)) {
      fail_usage(Field{"color_jitter_strength"}, "=", s, ": expected a number in [0, ",
                 data::kMaxColorJitterStrength,
                 "] (ColorJitter(0.8s, 0.8s, 0.8s, 0.2s): 0 turns the jitter off, and the hue shift 0.2s "
                 "cannot pass 0.5)");
    }
  }
  if (!(crop_min_scale > 0 && crop_min_scale <= 1)) {
    fail_usage(
        Field{"crop_min_scale"}, "=", crop_min_scale,
        ": expected a number in (0, 1], the smallest area fraction of the random crop (RandomResizedCrop's "
        "scale range is (crop_min_scale, 1))");
  }
  positive("dist_timeout", dist_timeout);
  if (n_views != 2)
    fail_usage(Field{"n_views"}, "=", n_views, ": only 2 views are supported (as in the reference)");
  at_least("batch_size", batch_size, 2);
  at_least("epochs", epochs, 1);
  at_least("warmup_epochs", warmup_epochs, 0);
  at_least("save_every_n_epochs", save_every_n_epochs, 1);
  at_least("save_every_n_steps", save_every_n_steps, 0);
  at_least("log_every_n_steps", log_every_n_steps, 1);
  at_least("knn_every", knn_every, 0);
  at_least("knn_bank_size", knn_bank_size, 1);
  at_least("diag_rank_every", diag_rank_every, 0);
  positive("lr", lr);
  positive("temperature", temperature);
  if (!(weight_decay >= 0) || !std::isfinite(weight_decay)) {
    fail_usage(Field{"weight_decay"}, "=", weight_decay, ": expected a number >= 0");
  }
  if (!(momentum >= 0 && momentum < 1))
    fail_usage(Field{"momentum"}, "=", momentum, ": expected a number in [0, 1)");
  if (batch_size % dist_env.world_size != 0) {
    fail_usage(Field{"batch_size"}, "=", batch_size,
               " is the global batch and must be divisible by WORLD_SIZE=", dist_env.world_size,
               " (each process takes batch_size / WORLD_SIZE images)");
  }
  if (!train_from.empty() && log_dir.empty()) {
    fail_usage(Field{"train_from"}, "=", train_from, ": resuming also needs ", Field{"log_dir"},
               "=<run folder> (the folder that holds it)");
  }
}

void PretrainConfig::resolve() {
  effective_lr = optim::scale_lr(lr, learning_rate_scaling, batch_size);
  if (fp16_precision) precision = core::Precision::kFp16;
  // Defaults that depend on the machine: each of the processes on it gets its share of the cores.
  if (run.threads <= 0) run.threads = core::cores_per_process(dist_env.local_world_size);
  if (data.workers < 0) data.workers = core::cores_per_process(dist_env.local_world_size);
}

std::string PretrainConfig::method_name() const { return losses::method_info(clr).name; }

std::string PretrainConfig::to_json() const {
  using core::name_of;
  nlohmann::ordered_json j;
  j["data"] = data.root;
  j["dataset_name"] = data.dataset_name;
  j["faster_version"] = faster_version;
  // null when not given: the dataset's default, or the resumed checkpoint's (config.json's
  // color_jitter_strength_in_effect says which value the run used).
  j["color_jitter_strength"] = color_jitter_strength ? nlohmann::ordered_json(*color_jitter_strength)
                                                     : nlohmann::ordered_json(nullptr);
  j["crop_min_scale"] = crop_min_scale;
  j["workers"] = data.workers;
  j["data_fraction"] = data.fraction;
  j["download"] = data.download;
  j["bad_images"] = name_of(data.bad_images);
  j["clr"] = name_of(clr);
  j["temperature"] = temperature;
  j["n_views"] = n_views;
  j["model"] = name_of(model.arch);
  j["width_multiplier"] = model.width_multiplier;
  j["proj_head_mode"] = name_of(model.head.mode);
  j["num_proj_layers"] = model.head.num_layers;
  j["proj_out_dim"] = model.head.out_dim;
  j["batch_size"] = batch_size;
  j["epochs"] = epochs;
  j["lr"] = lr;
  j["learning_rate_scaling"] = name_of(learning_rate_scaling);
  j["effective_lr"] = effective_lr;
  j["optimizer"] = name_of(optimizer);
  j["weight_decay"] = weight_decay;
  j["momentum"] = momentum;
  j["scheduler"] = name_of(scheduler);
  j["warmup_epochs"] = warmup_epochs;
  j["fp16_precision"] = fp16_precision;
  j["precision"] = name_of(precision);
  j["memory_format"] = name_of(memory_format);
  j["cuda_graphs"] = cuda_graphs;
  j["train_mode"] = "ssl";
  j["device"] = run.device;
  j["disable_cuda"] = run.disable_cuda;
  j["seed"] = run.seed;
  j["threads"] = run.threads;
  j["save_every_n_epochs"] = save_every_n_epochs;
  j["save_every_n_steps"] = save_every_n_steps;
  j["save_dir"] = save_dir;
  j["log_dir"] = log_dir;
  j["train_from"] = train_from;
  j["log_every_n_steps"] = log_every_n_steps;
  j["knn_every"] = knn_every;
  j["knn_bank_size"] = knn_bank_size;
  j["progress"] = name_of(run.progress);
  j["diag_rank_every"] = diag_rank_every;
  j["on_nonfinite"] = name_of(on_nonfinite);
  j["tensorboard"] = tensorboard;
  j["plots"] = plots;
  j["dist_backend"] = name_of(dist_backend);
  j["sync_bn"] = sync_bn;
  j["dist_timeout"] = dist_timeout;
  j["world_size"] = dist_env.world_size;
  return j.dump(2);
}

const std::vector<std::string>& PretrainConfig::trajectory_keys() {
  static const std::vector<std::string> keys{"dataset_name",
                                             "faster_version",
                                             "data_fraction",
                                             "clr",
                                             "temperature",
                                             "crop_min_scale",
                                             "n_views",
                                             "model",
                                             "width_multiplier",
                                             "proj_head_mode",
                                             "num_proj_layers",
                                             "proj_out_dim",
                                             "batch_size",
                                             "epochs",
                                             "lr",
                                             "learning_rate_scaling",
                                             "optimizer",
                                             "weight_decay",
                                             "momentum",
                                             "scheduler",
                                             "warmup_epochs",
                                             "fp16_precision",
                                             "precision",
                                             "seed",
                                             "on_nonfinite",
                                             "dist_backend",
                                             "sync_bn"};
  return keys;
}

}  // namespace flatclr::train
