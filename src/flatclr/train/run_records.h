// The records of a run folder that resuming depends on: config.json (written at every start),
// metrics.jsonl (one line per epoch; for an image folder, `bad_images`: the files skipped so far, the online
// kNN monitor's included) and steps.jsonl (one per logging interval, and one per non-finite
// step). On resume the lines after the checkpoint are dropped, so each file describes one run.
#pragma once

#include <memory>

#include "flatclr/data/image_folder.h"
#include "flatclr/train/metrics_log.h"
#include "flatclr/train/observer.h"

namespace flatclr::train {

class RunRecords : public PretrainObserver {
 public:
  void on_start(const PretrainConfig& config, const RunStart& start) override;
  void on_interval(const Interval& interval) override;
  void on_nonfinite(const NonfiniteStep& step) override;
  void on_epoch_end(EpochEnd& end) override;

 private:
  bool per_image_loader_ = false;
  std::shared_ptr<data::BadImages> bad_;  // image folders only, else null
  std::unique_ptr<MetricsLog> metrics_, steps_;
};

}  // namespace flatclr::train
