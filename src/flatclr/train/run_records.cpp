#include "flatclr/train/run_records.h"

#include <filesystem>

#include "flatclr/core/atomic_file.h"
#include "flatclr/data/open_dataset.h"
#include "flatclr/train/run_config.h"

namespace flatclr::train {

namespace fs = std::filesystem;

void RunRecords::on_start(const PretrainConfig& c, const RunStart& s) {
  per_image_loader_ = !c.faster_version;
  if (s.train_set && !data::is_cifar_name(c.data.dataset_name)) bad_ = s.train_set->bad;
  const fs::path dir(s.run_dir);
  core::write_file_atomic((dir / "config.json").string(), run_config_json(c, s));
  metrics_ = std::make_unique<MetricsLog>((dir / "metrics.jsonl").string());
  steps_ = std::make_unique<MetricsLog>((dir / "steps.jsonl").string());
  metrics_->truncate_after_epoch(s.start_epoch);
  steps_->truncate_after("global_step", s.global_step);
}

void RunRecords::on_interval(const Interval& interval) {
  nlohmann::ordered_json line;
  line["epoch"] = interval.epoch;
  line["global_step"] = interval.global_step;
  for (const auto& [key, value] : *interval.record) line[key] = value;
  steps_->append(line);
}

void RunRecords::on_nonfinite(const NonfiniteStep& step) {
  nlohmann::ordered_json ev;
  ev["event"] = "nonfinite";
  ev["epoch"] = step.epoch;
  ev["global_step"] = step.global_step;
  ev["what"] = step.bad_loss ? "loss" : "gradient";
  ev["value"] = step.value;
  ev["action"] = core::name_of(step.action);
  ev["last_checkpoint"] = step.last_checkpoint.empty() ? "none" : step.last_checkpoint;
  steps_->append(ev);
}

void RunRecords::on_epoch_end(EpochEnd& e) {
  const EpochStats& s = e.stats;
  nlohmann::ordered_json rec;
  rec["epoch"] = s.epoch;
  rec["global_step"] = e.global_step;
  rec["loss"] = s.loss;
  rec["top1"] = s.top1;
  rec["top5"] = s.top5;
  rec["lr"] = s.lr;
  rec["images_per_s"] = s.images_per_s;
  rec["epoch_time_s"] = s.seconds;
  if (per_image_loader_) rec["data_wait_s"] = s.data_wait_seconds;
  if (s.skipped_steps > 0) rec["skipped_steps"] = s.skipped_steps;
  if (s.loss_scale > 0) {
    rec["loss_scale"] = s.loss_scale;
    rec["scaler_skipped_steps"] = s.scaler_skipped_steps;
  }
  if (bad_) rec["bad_images"] = bad_->count();
  if (s.knn_top1 >= 0) {
    rec["knn_top1"] = s.knn_top1;
    rec["knn_top5"] = s.knn_top5;
  }
  metrics_->append(rec);
}

}  // namespace flatclr::train
