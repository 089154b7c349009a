#include "flatclr/train/console_log.h"

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "flatclr/core/error.h"
#include "flatclr/core/progress.h"

namespace flatclr::train {
namespace {

using core::fixed;

// The fields of the checkpoint's stored configuration that differ from this run's. config.json's keys are
// the paper's option names.
void warn_config_differences(const std::string& stored_json, const PretrainConfig& now) {
  auto stored = nlohmann::json::parse(stored_json, nullptr, false);
  auto current = nlohmann::json::parse(now.to_json());
  if (stored.is_discarded() || !stored.is_object()) return;
  for (auto& [key, value] : current.items()) {
    if (key == "log_dir" || key == "train_from" || key == "progress" || key == "threads" ||
        key == "workers" || key == "world_size" || key == "dist_timeout")
      continue;
    // A setting left unset (null) keeps the checkpoint's. A given colour jitter strength is set against the
    // one the checkpoint trained with (its own setting may be null: the dataset's default).
    if (value.is_null()) continue;
    const std::string stored_key = key == "color_jitter_strength" ? key + "_in_effect" : key;
    if (stored.contains(stored_key) && stored[stored_key] != value) {
      std::cout << "warning: resuming with " << Field{key} << "=" << value.dump()
                << " but the checkpoint was trained with " << stored[stored_key].dump()
                << "; the result will differ from an uninterrupted run\n";
    }
  }
}

}  // namespace

void ConsoleLog::on_start(const PretrainConfig& c, const RunStart& s) {
  config_ = &c;
  train_set_ = s.train_set;
  if (!s.resumed_from.empty()) {
    warn_config_differences(s.stored_config_json, c);
    std::cout << "resuming from " << s.resumed_from << " at epoch " << s.start_epoch << ", step "
              << s.global_step
              << (c.dist_env.restart_count > 0
                      ? " (torchrun's restart " + std::to_string(c.dist_env.restart_count) + " of the job)"
                      : "")
              << "\n";
  }
  const auto& method = losses::method_info(c.clr);
  std::cout << "flatclr pretraining: " << method.name << " (" << method.loss_name << " loss) on "
            << c.data.dataset_name << ", " << s.images << " images, " << core::name_of(c.model.arch) << " x"
            << c.model.width_multiplier << ", batch " << c.batch_size << ", " << s.steps_per_epoch
            << " steps/epoch, lr " << c.effective_lr << " (" << Field{"lr"} << "=" << c.lr << ", scaling "
            << core::name_of(c.learning_rate_scaling) << "), device " << s.device.str() << ", " << s.threads
            << " threads, " << s.precision_choice.describe()
            << (s.memory_format == core::MemoryFormat::kChannelsLast ? " channels-last" : "")
            << (s.cuda_graph ? ", CUDA graph" : "")
            << (s.world_size > 1 ? ", " + std::to_string(s.world_size) + " processes (" + s.backend +
                                       (c.sync_bn ? ", SyncBN)" : ")")
                                 : std::string())
            << "\nrun folder: " << s.run_dir << " (the whole configuration: config.json)" << std::endl;
}

void ConsoleLog::on_nonfinite(const NonfiniteStep& step) {
  if (step.action != OnNonfinite::kSkip) return;  // the loop's error says it
  std::cerr << "warning: step " << step.global_step << " skipped: its "
            << (step.bad_loss ? "loss" : "gradient norm") << " is " << step.value << " ("
            << Field{"on_nonfinite"} << "=skip)" << std::endl;
}

void ConsoleLog::on_epoch_end(EpochEnd& e) {
  const EpochStats& s = e.stats;
  std::string knn_text;
  if (s.knn_top1 >= 0) knn_text = " | knn_top1 " + fixed(100 * s.knn_top1, 2);
  std::cout << "epoch " << s.epoch << "/" << config_->epochs << " | loss " << fixed(s.loss, 4) << " | top1 "
            << fixed(100 * s.top1, 2) << " | top5 " << fixed(100 * s.top5, 2) << " | lr " << fixed(s.lr, 6)
            << " | img/s " << fixed(s.images_per_s, 1) << " | time " << core::format_duration(s.seconds)
            << knn_text << std::endl;
}

void ConsoleLog::on_end(const PretrainResult& result) {
  if (train_set_ && train_set_->bad && train_set_->bad->count() > 0) {
    std::cout << train_set_->bad->count() << " bad image file(s) skipped (" << Field{"data.bad_images"}
              << "=skip)" << std::endl;
  }
  if (result.skipped_steps > 0) {
    std::cout << result.skipped_steps << " step(s) skipped because of a non-finite loss or gradient"
              << std::endl;
  }
}

}  // namespace flatclr::train
