#include "flatclr/train/tensorboard_log.h"

#include <iostream>

namespace flatclr::train {

void TensorBoardLog::on_start(const PretrainConfig&, const RunStart& s) {
  events_ = std::make_unique<core::EventWriter>(s.run_dir);
  // TensorBoard drops the earlier files' points at steps >= this: those after the checkpoint. The
  // checkpoint's own last step (global_step, logged at the end of its epoch) stays.
  if (s.global_step > 0) events_->add_session_start(s.global_step + 1);
}

void TensorBoardLog::on_interval(const Interval& interval) {
  std::vector<std::pair<std::string, double>> scalars;
  for (const auto& [key, value] : *interval.record) scalars.emplace_back(tag_for_key(key), value);
  events_->add_scalars(interval.global_step, scalars);
}

void TensorBoardLog::on_epoch_end(EpochEnd& e) {
  if (e.stats.knn_top1 < 0) return;
  events_->add_scalars(e.global_step,
                       {{"eval/knn_top1", e.stats.knn_top1}, {"eval/knn_top5", e.stats.knn_top5}});
}

void TensorBoardLog::on_end(const PretrainResult& result) {
  std::cout << "TensorBoard: tensorboard --logdir " << result.run_dir << std::endl;
}

}  // namespace flatclr::train
