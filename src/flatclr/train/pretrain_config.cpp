#include "flatclr/train/pretrain_config.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

#include "flatclr/core/error.h"
#include "flatclr/losses/method.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/schedule.h"

namespace flatclr::train {
namespace {

void one_of(const std::string& flag, const std::string& value, const std::vector<std::string>& allowed) {
  for (const auto& a : allowed) {
    if (a == value) return;
  }
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  fail_usage("--", flag, "=", value, ": expected one of ", list);
}

void positive(const std::string& flag, double value) {
  if (!(value > 0) || !std::isfinite(value))
    fail_usage("--", flag, "=", value, ": expected a positive number");
}

void at_least(const std::string& flag, int64_t value, int64_t min) {
  if (value < min) fail_usage("--", flag, "=", value, ": expected an integer >= ", min);
}

}  // namespace

void PretrainConfig::validate() const {
  if (dataset_name.empty() || dataset_name.find('/') != std::string::npos || dataset_name == "." ||
      dataset_name == "..")
    fail_usage("--dataset_name=", dataset_name,
               ": expected cifar10, cifar100 or the name of an image folder <data>/<name>/train/<class>/*");
  one_of("bad_images", bad_images, {"skip", "stop"});
  std::vector<std::string> method_keys;
  for (const auto& m : losses::methods()) method_keys.push_back(m.key);
  one_of("clr", clr, method_keys);
  one_of("model", model, models::resnet_arch_names());
  one_of("proj_head_mode", proj_head_mode, {"nonlinear", "linear", "none"});
  one_of("learning_rate_scaling", learning_rate_scaling, {"none", "linear", "sqrt"});
  one_of("optimizer", optimizer, {"lars", "sgd", "adam"});
  one_of("scheduler", scheduler, {"cosine", "constant"});
  one_of("train_mode", train_mode, {"ssl", "eval", "transfer"});
  one_of("progress", progress, {"auto", "bar", "lines", "none"});
  one_of("on_nonfinite", on_nonfinite, {"stop", "skip"});
  one_of("dist_backend", dist_backend, {"auto", "gloo", "nccl"});
  positive("dist_timeout", dist_timeout);
  if (!(device == "auto" || device == "cpu" || device.rfind("cuda", 0) == 0)) {
    fail_usage("--device=", device, ": expected auto, cpu, cuda or cuda:N");
  }
  if (n_views != 2) fail_usage("--n_views=", n_views, ": only 2 views are supported (as in the reference)");
  at_least("batch_size", batch_size, 2);
  at_least("epochs", epochs, 1);
  at_least("warmup_epochs", warmup_epochs, 0);
  at_least("save_every_n_epochs", save_every_n_epochs, 1);
  at_least("num_proj_layers", num_proj_layers, 1);
  at_least("proj_out_dim", proj_out_dim, 1);
  at_least("workers", workers, 0);
  at_least("log_every_n_steps", log_every_n_steps, 1);
  at_least("knn_every", knn_every, 0);
  at_least("diag_rank_every", diag_rank_every, 0);
  if (threads < 0) fail_usage("--threads=", threads, ": expected 0 (all cores) or a positive count");
  positive("lr", lr);
  positive("temperature", temperature);
  positive("width_multiplier", width_multiplier);
  if (!(weight_decay >= 0) || !std::isfinite(weight_decay)) {
    fail_usage("--weight_decay=", weight_decay, ": expected a number >= 0");
  }
  if (!(momentum >= 0 && momentum < 1)) fail_usage("--momentum=", momentum, ": expected a number in [0, 1)");
  if (!(data_fraction > 0 && data_fraction <= 1)) {
    fail_usage("--data_fraction=", data_fraction, ": expected a fraction in (0, 1]");
  }
  if (batch_size % dist_env.world_size != 0) {
    fail_usage("--batch_size=", batch_size,
               " is the global batch and must be divisible by WORLD_SIZE=", dist_env.world_size,
               " (each process takes batch_size / WORLD_SIZE images)");
  }
  if (!train_from.empty() && log_dir.empty()) {
    fail_usage("--train_from=", train_from,
               ": resuming also needs --log_dir=<run folder> (the folder that holds it)");
  }
}

void PretrainConfig::resolve() { effective_lr = optim::scale_lr(lr, learning_rate_scaling, batch_size); }

std::string PretrainConfig::method_name() const {
  const auto m = losses::find_method(clr);
  return m ? losses::method_info(*m).name : clr;
}

std::string PretrainConfig::to_json() const {
  nlohmann::ordered_json j;
  j["data"] = data;
  j["dataset_name"] = dataset_name;
  j["faster_version"] = faster_version;
  j["workers"] = workers;
  j["data_fraction"] = data_fraction;
  j["download"] = download;
  j["bad_images"] = bad_images;
  j["clr"] = clr;
  j["temperature"] = temperature;
  j["n_views"] = n_views;
  j["model"] = model;
  j["width_multiplier"] = width_multiplier;
  j["proj_head_mode"] = proj_head_mode;
  j["num_proj_layers"] = num_proj_layers;
  j["proj_out_dim"] = proj_out_dim;
  j["batch_size"] = batch_size;
  j["epochs"] = epochs;
  j["lr"] = lr;
  j["learning_rate_scaling"] = learning_rate_scaling;
  j["effective_lr"] = effective_lr;
  j["optimizer"] = optimizer;
  j["weight_decay"] = weight_decay;
  j["momentum"] = momentum;
  j["scheduler"] = scheduler;
  j["warmup_epochs"] = warmup_epochs;
  j["fp16_precision"] = fp16_precision;
  j["train_mode"] = train_mode;
  j["device"] = device;
  j["disable_cuda"] = disable_cuda;
  j["seed"] = seed;
  j["threads"] = threads;
  j["save_every_n_epochs"] = save_every_n_epochs;
  j["save_dir"] = save_dir;
  j["log_dir"] = log_dir;
  j["train_from"] = train_from;
  j["log_every_n_steps"] = log_every_n_steps;
  j["knn_every"] = knn_every;
  j["progress"] = progress;
  j["diag_rank_every"] = diag_rank_every;
  j["on_nonfinite"] = on_nonfinite;
  j["tensorboard"] = tensorboard;
  j["plots"] = plots;
  j["dist_backend"] = dist_backend;
  j["sync_bn"] = sync_bn;
  j["dist_timeout"] = dist_timeout;
  j["world_size"] = dist_env.world_size;
  return j.dump(2);
}

}  // namespace flatclr::train
