#include "flatclr/train/pretrain.h"

#include <torch/torch.h>

#include <cmath>

#include "flatclr/core/clock.h"
#include "flatclr/core/error.h"
#include "flatclr/core/progress.h"
#include "flatclr/core/rng.h"
#include "flatclr/losses/pair_accuracy.h"
#include "flatclr/train/checkpoint_saver.h"
#include "flatclr/train/console_log.h"
#include "flatclr/train/run_records.h"
#include "flatclr/train/step_monitor.h"
#include "flatclr/train/tensorboard_log.h"
#include "flatclr/train/train_step.h"

namespace flatclr::train {
namespace {

using core::fixed;

constexpr uint64_t kOrderStream = 0x6f72646572ull;  // "order": the data-order stream of hash_key

// This rank's share of the epoch: a Fisher-Yates shuffle of the selected indices keyed by (seed, epoch)
// only, cut into `steps` global batches; of each, this rank's slice (dist/shard.h), concatenated, so that
// local batch s is [s * batch / W, (s + 1) * batch / W). One process: the first steps * batch entries.
std::vector<int64_t> local_epoch_order(const std::vector<int64_t>& indices, uint64_t seed, int64_t epoch,
                                       int64_t steps, int64_t batch, const dist::DataParallel& dp) {
  std::vector<int64_t> order = indices;
  core::Rng rng(core::hash_key({seed, static_cast<uint64_t>(epoch), kOrderStream}));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  std::vector<int64_t> local;
  local.reserve(static_cast<size_t>(steps * batch / dp.world_size()));
  for (int64_t step = 0; step < steps; ++step) {
    const auto slice = dp.local_batch(
        std::vector<int64_t>(order.begin() + step * batch, order.begin() + (step + 1) * batch));
    local.insert(local.end(), slice.begin(), slice.end());
  }
  return local;
}

std::string nonfinite_text(double v) { return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"); }

// Running sums of the epoch, kept on the device and read only at logging intervals (no per-step host sync).
struct EpochSums {
  at::Tensor loss, top1, top5;
  int64_t good_steps = 0;
  explicit EpochSums(const c10::Device& device)
      : loss(torch::zeros({}, torch::TensorOptions().device(device).dtype(torch::kDouble))),
        top1(torch::zeros_like(loss)),
        top5(torch::zeros_like(loss)) {}
  void add(const losses::ContrastiveOutput& out, const losses::PairAccuracy& acc) {
    loss += out.info_nce.to(torch::kDouble);
    top1 += acc.top1.to(torch::kDouble);
    top5 += acc.top5.to(torch::kDouble);
    ++good_steps;
  }
  double mean(const at::Tensor& sum) const {
    return sum.item<double>() / static_cast<double>(std::max<int64_t>(1, good_steps));
  }
};

}  // namespace

PretrainResult run_pretraining(const PretrainConfig& c, PretrainSetup& s,
                               const std::vector<PretrainObserver*>& observers) {
  const bool rank0 = s.dp->is_rank0();  // only rank 0 reports
  auto notify = [&](auto&& event) {
    if (rank0)
      for (auto* o : observers) event(*o);
  };
  const int64_t steps_per_epoch = s.start.steps_per_epoch, local_batch = c.batch_size / s.dp->world_size();
  PretrainResult result;
  result.run_dir = s.start.run_dir;
  int64_t global_step = s.start.global_step;
  notify([&](PretrainObserver& o) { o.on_start(c, s.start); });

  StepMonitor monitor(c.temperature, c.batch_size, c.diag_rank_every);  // h: this rank's rows, z: all
  StepOptions step_options;
  step_options.method = c.clr;
  step_options.temperature = c.temperature;
  step_options.restore_buffers = c.on_nonfinite == OnNonfinite::kSkip;
  step_options.precision = s.precision;
  step_options.channels_last = s.channels_last;
  step_options.scaler = s.scaler.get();
  TrainStep train_step(s.model, *s.optimizer, *s.dp, step_options);
  const auto progress_mode = rank0 ? c.run.progress : core::ProgressMode::kNone;

  for (int64_t epoch = s.start.start_epoch; epoch < c.epochs; ++epoch) {
    s.views->start_epoch(
        epoch,
        local_epoch_order(s.train_set.indices, c.run.seed, epoch, steps_per_epoch, c.batch_size, *s.dp),
        local_batch);
    const double wait_before = s.views->wait_seconds();
    core::Progress progress(progress_mode,
                            "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(c.epochs),
                            steps_per_epoch, c.batch_size);
    EpochSums sums(s.device);
    EpochStats stats;
    for (int64_t step = 0; step < steps_per_epoch; ++step) {
      const auto step_start = core::Clock::now();
      const at::Tensor views = s.views->next();  // the batched augmentation, or the wait for the loader
      const double data_seconds = core::seconds_since(step_start);
      stats.lr = s.schedule.lr_at(global_step);
      const StepResult r = train_step.run(views, stats.lr);
      ++global_step;
      if (r.scaler_skipped) {
        // fp16's loss scale was too large for this batch: no update, the scale backed off (routine).
        monitor.observe_skipped_step();
        ++stats.scaler_skipped_steps;
      } else if (r.finite) {
        if (monitor.wants_embeddings()) monitor.observe_embeddings(r.h, r.z);
        sums.add(r.out,
                 monitor.observe_step(r.out, r.grad_norm, data_seconds, core::seconds_since(step_start)));
      } else {
        const NonfiniteStep bad{epoch + 1,      global_step,
                                r.bad_loss,     nonfinite_text(r.bad_value),
                                c.on_nonfinite, result.last_checkpoint};
        notify([&](PretrainObserver& o) { o.on_nonfinite(bad); });
        if (c.on_nonfinite == OnNonfinite::kStop) {
          progress.finish();
          fail("the ", r.bad_loss ? "loss" : "gradient norm", " became ", bad.value, " at step ", global_step,
               " (epoch ", epoch + 1,
               "); last good checkpoint: ", bad.last_checkpoint.empty() ? "none" : bad.last_checkpoint,
               ". Try a lower ", Field{"lr"}, " or a larger ", Field{"temperature"}, " (or ",
               Field{"on_nonfinite"}, "=skip); `flatclr diagnose ", result.run_dir, "` reads the run's logs");
        }
        // skip: no update, BatchNorm statistics as they were; the step still counts (schedule, resume).
        monitor.observe_skipped_step();
        ++stats.skipped_steps;
      }
      if ((step + 1) % c.log_every_n_steps == 0 || step + 1 == steps_per_epoch) {
        const Record record = monitor.flush(stats.lr);
        const Interval interval{epoch + 1, global_step, &record};
        notify([&](PretrainObserver& o) { o.on_interval(interval); });
        progress.update(step + 1, "loss " + fixed(sums.mean(sums.loss), 4) + " lr " + fixed(stats.lr, 6));
      }
    }
    progress.finish();

    stats.epoch = epoch + 1;
    stats.loss = sums.mean(sums.loss);
    stats.top1 = sums.mean(sums.top1);
    stats.top5 = sums.mean(sums.top5);
    stats.seconds = progress.elapsed_seconds();
    stats.images_per_s = static_cast<double>(steps_per_epoch * c.batch_size) / stats.seconds;
    stats.data_wait_seconds = s.views->wait_seconds() - wait_before;
    if (s.scaler) stats.loss_scale = s.scaler->scale_value();
    EpochEnd end{stats, global_step, s.model, *s.optimizer, s.schedule, s.scaler.get(), ""};
    notify([&](PretrainObserver& o) { o.on_epoch_end(end); });
    if (!end.saved_checkpoint.empty()) result.last_checkpoint = end.saved_checkpoint;
    result.skipped_steps += stats.skipped_steps;
    result.epochs.push_back(stats);
  }
  notify([&](PretrainObserver& o) { o.on_end(result); });
  return result;
}

PretrainResult pretrain(const PretrainConfig& config, const std::vector<PretrainObserver*>& observers) {
  auto setup = setup_pretraining(config);
  ConsoleLog console;
  RunRecords records;
  TensorBoardLog tensorboard;
  CheckpointSaver checkpoints;
  std::vector<PretrainObserver*> all = observers;
  // The epoch's line, records and scalars come before its checkpoint's "saved" line.
  all.push_back(&console);
  all.push_back(&records);
  if (config.tensorboard) all.push_back(&tensorboard);
  all.push_back(&checkpoints);
  return run_pretraining(config, *setup, all);
}

}  // namespace flatclr::train
