#include "flatclr/train/checkpoint_saver.h"

#include <filesystem>
#include <iostream>

#include "flatclr/io/checkpoint.h"
#include "flatclr/optim/optimizer_state.h"
#include "flatclr/train/resume_point.h"
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

bool CheckpointSaver::epoch_checkpoint_due(int64_t epochs_done) const {
  return epochs_done % config_->save_every_n_epochs == 0 || epochs_done == config_->epochs;
}

std::string CheckpointSaver::save(io::Checkpoint& ckpt, const std::string& file_name, models::ResNet& model,
                                  torch::optim::Optimizer& optimizer, const optim::LrSchedule& schedule,
                                  const optim::GradScaler* scaler) {
  ckpt.batch_size = config_->batch_size;
  ckpt.model = core::name_of(config_->model.arch);
  ckpt.model_state_dict = io::module_state_dict(*model);
  ckpt.optimizer = optim::optimizer_state_dict(optimizer);
  ckpt.scheduler = schedule_state(schedule, ckpt.global_step);
  ckpt.config_json = config_json_;
  if (scaler) ckpt.grad_scaler = scaler->state_dict();
  const std::string path = (std::filesystem::path(run_dir_) / file_name).string();
  io::save_checkpoint(path, ckpt);
  // Only now, with the newer one complete on disk: a crash in between leaves two, never none.
  remove_older_step_checkpoints(run_dir_, ckpt.global_step);
  std::cout << "saved " << path << std::endl;
  return path;
}

void CheckpointSaver::on_step_end(StepEnd& e) {
  const int64_t every = config_->save_every_n_steps;
  if (every <= 0 || e.global_step % every != 0) return;
  if (e.last_of_epoch && epoch_checkpoint_due(e.epoch + 1)) return;  // the epoch's checkpoint follows
  io::Checkpoint ckpt;
  ckpt.epoch = e.last_of_epoch ? e.epoch + 1 : e.epoch;  // epochs completed
  ckpt.global_step = e.global_step;
  e.saved_checkpoint =
      save(ckpt, io::step_checkpoint_file_name(e.global_step), e.model, e.optimizer, e.schedule, e.scaler);
}

void CheckpointSaver::on_epoch_end(EpochEnd& e) {
  const int64_t epoch = e.stats.epoch;
  if (!epoch_checkpoint_due(epoch)) return;
  io::Checkpoint ckpt;
  ckpt.epoch = epoch;
  ckpt.global_step = e.global_step;
  e.saved_checkpoint =
      save(ckpt, io::checkpoint_file_name(epoch), e.model, e.optimizer, e.schedule, e.scaler);
}

}  // namespace flatclr::train
