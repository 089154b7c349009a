// The console side of a pretraining run: the banner, one line per epoch, warnings for skipped steps and for
// a resumed run whose configuration differs from its checkpoint's, and the closing lines.
#pragma once

#include "flatclr/train/observer.h"

namespace flatclr::train {

class ConsoleLog : public PretrainObserver {
 public:
  void on_start(const PretrainConfig& config, const RunStart& start) override;
  void on_nonfinite(const NonfiniteStep& step) override;
  void on_epoch_end(EpochEnd& end) override;
  void on_end(const PretrainResult& result) override;

 private:
  const PretrainConfig* config_ = nullptr;
  const TrainSet* train_set_ = nullptr;
};

}  // namespace flatclr::train
