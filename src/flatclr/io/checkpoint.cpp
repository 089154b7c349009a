#include "flatclr/io/checkpoint.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "flatclr/core/atomic_file.h"
#include "flatclr/core/error.h"
#include "flatclr/io/torch_load.h"
#include "flatclr/io/torch_save.h"

namespace flatclr::io {

std::string checkpoint_file_name(int64_t epoch) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "checkpoint_%04lld.pth.tar", static_cast<long long>(epoch));
  return buf;
}

std::string step_checkpoint_file_name(int64_t global_step) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "checkpoint_step_%08lld.pth.tar", static_cast<long long>(global_step));
  return buf;
}

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert("batch_size", c.batch_size);
  dict.insert("epoch", c.epoch);
  dict.insert("model", c.model);
  dict.insert("model_state_dict", c.model_state_dict);
  dict.insert("optimizer", c.optimizer);
  dict.insert("scheduler", c.scheduler);
  dict.insert("global_step", c.global_step);
  dict.insert("config", c.config_json);
  dict.insert("flatclr_format", kCheckpointFormat);
  if (!c.grad_scaler.isNone()) dict.insert("grad_scaler", c.grad_scaler);
  core::write_file_atomic(path, torch_save(c10::IValue(dict)));
}

namespace {

c10::IValue field(const c10::impl::GenericDict& d, const std::string& key, const std::string& path) {
  auto it = d.find(key);
  if (it == d.end()) fail(path, ": not a flatclr pretraining checkpoint: the field '", key, "' is missing");
  return it->value();
}

}  // namespace

Checkpoint load_checkpoint(const std::string& path) {
  if (!std::filesystem::exists(path)) fail("checkpoint ", path, " does not exist");
  // The same reader as for the paper's checkpoints: it also reads what earlier flatclr versions wrote with
  // torch::pickle_save (typed containers tagged with torch.jit._pickle calls).
  const c10::IValue root = torch_load(path);
  if (!root.isGenericDict())
    fail(path, ": expected a dict at the top of the checkpoint, found ", root.tagKind());
  const auto d = root.toGenericDict();
  if (d.find("flatclr_format") == d.end() && d.find("model_state_dict") != d.end()) {
    fail(path,
         ": not written by flatclr (no 'flatclr_format' field; a checkpoint of the paper's PyTorch code?). "
         "It can be evaluated (",
         Field{"train_mode"}, "=eval ", Field{"checkpoint_dir"},
         "=<its folder>) but not resumed: it holds no step count, and the paper's LARS state (one parameter "
         "group) does not match flatclr's");
  }
  Checkpoint c;
  auto as_int = [&](const std::string& key) {
    auto v = field(d, key, path);
    if (!v.isInt()) fail(path, ": field '", key, "' should be an int, found ", v.tagKind());
    return v.toInt();
  };
  c.epoch = as_int("epoch");
  c.batch_size = as_int("batch_size");
  c.global_step = as_int("global_step");
  const auto model = field(d, "model", path);
  if (!model.isString()) fail(path, ": field 'model' should be a string");
  c.model = model.toStringRef();
  c.model_state_dict = to_state_dict(field(d, "model_state_dict", path), path + " model_state_dict");
  c.optimizer = field(d, "optimizer", path);
  c.scheduler = field(d, "scheduler", path);
  const auto config = field(d, "config", path);
  c.config_json = config.isString() ? config.toStringRef() : "";
  if (auto it = d.find("grad_scaler"); it != d.end()) c.grad_scaler = it->value();
  return c;
}

}  // namespace flatclr::io
