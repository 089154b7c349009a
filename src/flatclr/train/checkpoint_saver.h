// checkpoint_<epoch>.pth.tar in the run folder every save_every_n_epochs epochs and after the last, and, with
// save_every_n_steps, checkpoint_step_<global step>.pth.tar every that many steps (only the newest kept):
// model, optimizer and schedule state, the step count and the configuration, enough to resume exactly, also
// from inside an epoch.
#pragma once

#include <string>

#include "flatclr/io/checkpoint.h"
#include "flatclr/train/observer.h"

namespace flatclr::train {

class CheckpointSaver : public PretrainObserver {
 public:
  void on_start(const PretrainConfig& config, const RunStart& start) override;
  void on_step_end(StepEnd& end) override;
  void on_epoch_end(EpochEnd& end) override;

 private:
  bool epoch_checkpoint_due(int64_t epochs_done) const;
  // Writes ckpt (atomically) as `file_name` in the run folder, then drops the older step checkpoints.
  std::string save(io::Checkpoint& ckpt, const std::string& file_name, models::ResNet& model,
                   torch::optim::Optimizer& optimizer, const optim::LrSchedule& schedule,
                   const optim::GradScaler* scaler);

  const PretrainConfig* config_ = nullptr;
  std::string run_dir_;
  std::string config_json_;  // run_config_json(): what every checkpoint stores
};

}  // namespace flatclr::train
