#include "flatclr/train/checkpoint_saver.h"

#include <filesystem>
#include <iostream>

#include "flatclr/io/checkpoint.h"
#include "flatclr/optim/optimizer_state.h"
#include "flatclr/train/run_config.h"

namespace flatclr::train {
namespace {

c10::IValue schedule_state(const optim::LrSchedule& s, int64_t step) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("kind", core::name_of(s.kind));
  d.insert("base_lr", s.base_lr);
  d.insert("warmup_steps", s.warmup_steps);
  d.insert("total_steps", s.total_steps);
  d.insert("final_lr", s.final_lr);
  d.insert("last_epoch", step);  // LambdaLR's name for the number of scheduler steps taken
  return d;
}

}  // namespace

void CheckpointSaver::on_start(const PretrainConfig& config, const RunStart& start) {
  config_ = &config;
  run_dir_ = start.run_dir;
  config_json_ = run_config_json(config, start);
}

void CheckpointSaver::on_epoch_end(EpochEnd& e) {
  const int64_t epoch = e.stats.epoch;
  if (epoch % config_->save_every_n_epochs != 0 && epoch != config_->epochs) return;
  io::Checkpoint ckpt;
  ckpt.epoch = epoch;
  ckpt.batch_size = config_->batch_size;
  ckpt.global_step = e.global_step;
  ckpt.model = core::name_of(config_->model.arch);
  ckpt.model_state_dict = io::module_state_dict(*e.model);
  ckpt.optimizer = optim::optimizer_state_dict(e.optimizer);
  ckpt.scheduler = schedule_state(e.schedule, e.global_step);
  ckpt.config_json = config_json_;
  if (e.scaler) ckpt.grad_scaler = e.scaler->state_dict();
  const std::string path = (std::filesystem::path(run_dir_) / io::checkpoint_file_name(epoch)).string();
  io::save_checkpoint(path, ckpt);
  std::cout << "saved " << path << std::endl;
  e.saved_checkpoint = path;
}

}  // namespace flatclr::train
