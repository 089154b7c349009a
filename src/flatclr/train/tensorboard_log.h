// TensorBoard scalars of a pretraining run: every logging interval's record under its tag
// (train/step_monitor.h tag_for_key), and the online kNN accuracy at the end of an epoch.
#pragma once

#include <memory>

#include "flatclr/core/event_writer.h"
#include "flatclr/train/observer.h"

namespace flatclr::train {

class TensorBoardLog : public PretrainObserver {
 public:
  void on_start(const PretrainConfig& config, const RunStart& start) override;
  void on_interval(const Interval& interval) override;
  void on_epoch_end(EpochEnd& end) override;
  void on_end(const PretrainResult& result) override;

 private:
  std::unique_ptr<core::EventWriter> events_;
};

}  // namespace flatclr::train
