// checkpoint_<epoch>.pth.tar in the run folder every save_every_n_epochs epochs and after the last: model,
// optimizer and schedule state, the step count and the configuration, enough to resume exactly.
#pragma once

#include <string>

#include "flatclr/train/observer.h"

namespace flatclr::train {

class CheckpointSaver : public PretrainObserver {
 public:
  void on_start(const PretrainConfig& config, const RunStart& start) override;
  void on_epoch_end(EpochEnd& end) override;

 private:
  const PretrainConfig* config_ = nullptr;
  std::string run_dir_;
  std::string config_json_;  // run_config_json(): what every checkpoint stores
};

}  // namespace flatclr::train
