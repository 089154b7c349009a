#include "flatclr/train/pretrain.h"

#include <torch/cuda.h>
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

// Running sums of the epoch over the steps whose update was made, kept on the device and read only at
// logging intervals (no per-step host sync).
struct EpochSums {
  at::Tensor loss, top1, top5, good_steps;
  explicit EpochSums(const c10::Device& device)
      : loss(torch::zeros({}, torch::TensorOptions().device(device).dtype(torch::kDouble))),
        top1(torch::zeros_like(loss)),
        top5(torch::zeros_like(loss)),
        good_steps(torch::zeros_like(loss)) {}
  // applied: 0-dim, 1 if the step's update was made, else 0 (its values, maybe NaN, are left out).
  void add(const losses::ContrastiveOutput& out, const losses::PairAccuracy& acc, const at::Tensor& applied) {
    const auto made = applied.gt(0.5);
    loss += torch::where(made, out.info_nce.detach().to(torch::kDouble), 0.0);
    top1 += torch::where(made, acc.top1.to(torch::kDouble), 0.0);
    top5 += torch::where(made, acc.top5.to(torch::kDouble), 0.0);
    good_steps += made;
  }
  double mean(const at::Tensor& sum) const {
    return sum.item<double>() / std::max(1.0, good_steps.item<double>());
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
  step_options.sync_free = s.sync_free_step;
  step_options.cuda_graph = s.cuda_graph;
  step_options.graph_fallback = true;  // a failed capture costs speed, not the run
  TrainStep train_step(s.model, *s.optimizer, *s.dp, step_options);
  const auto progress_mode = rank0 ? c.run.progress : core::ProgressMode::kNone;

  for (int64_t epoch = s.start.start_epoch; epoch < c.epochs; ++epoch) {
    // A run resumed from a checkpoint taken inside an epoch skips the epoch's steps it already made: the
    // epoch's order and every view depend on (seed, epoch) only, so the rest of the epoch is what the
    // uninterrupted run trained on.
    const int64_t first_step =
        epoch == s.start.start_epoch ? s.start.global_step - epoch * steps_per_epoch : 0;
    FLATCLR_CHECK(first_step >= 0 && first_step < steps_per_epoch, "resumed at step ", first_step);
    auto order =
        local_epoch_order(s.train_set.indices, c.run.seed, epoch, steps_per_epoch, c.batch_size, *s.dp);
    order.erase(order.begin(), order.begin() + first_step * local_batch);
    s.views->start_epoch(epoch, order, local_batch);
    const double wait_before = s.views->wait_seconds();
    core::Progress progress(progress_mode,
                            "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(c.epochs),
                            steps_per_epoch - first_step, c.batch_size);
    EpochSums sums(s.device);
    EpochStats stats;
    // A step that made no update: fp16's routine skip, or a non-finite loss or gradient (stop, or skip it:
    // the step still counts for the schedule and for resuming).
    const auto handle_skip = [&](const StepOutcome& o, int64_t step_number) {
      if (o.scaler_skipped) {
        ++stats.scaler_skipped_steps;
        return;
      }
      const NonfiniteStep bad{epoch + 1,      step_number,           o.bad_loss, nonfinite_text(o.bad_value),
                              c.on_nonfinite, result.last_checkpoint};
      notify([&](PretrainObserver& obs) { obs.on_nonfinite(bad); });
      if (c.on_nonfinite == OnNonfinite::kStop) {
        progress.finish();
        fail("the ", o.bad_loss ? "loss" : "gradient norm", " became ", bad.value, " at step ", step_number,
             " (epoch ", epoch + 1,
             "); last good checkpoint: ", bad.last_checkpoint.empty() ? "none" : bad.last_checkpoint,
             ". Try a lower ", Field{"lr"}, " or a larger ", Field{"temperature"}, " (or ",
             Field{"on_nonfinite"}, "=skip); `flatclr diagnose ", result.run_dir, "` reads the run's logs");
      }
      ++stats.skipped_steps;
    };
    // The sync-free step's flags, read once per logging interval.
    std::vector<std::pair<int64_t, at::Tensor>> pending;
    const auto resolve_pending = [&]() {
      if (pending.empty()) return;
      std::vector<at::Tensor> flags;
      for (auto& [n, f] : pending) flags.push_back(f);
      const auto rows = torch::stack(flags).cpu();  // the interval's host sync
      for (size_t i = 0; i < pending.size(); ++i) {
        const StepOutcome o = read_outcome(rows[static_cast<int64_t>(i)]);
        if (!o.applied) handle_skip(o, pending[i].first);
      }
      pending.clear();
    };
    for (int64_t step = first_step; step < steps_per_epoch; ++step) {
      const auto step_start = core::Clock::now();
      const at::Tensor views = s.views->next();  // the batched augmentation, or the wait for the loader
      const double data_seconds = core::seconds_since(step_start);
      stats.lr = s.schedule.lr_at(global_step);
      const StepResult r = train_step.run(views, stats.lr);
      ++global_step;
      // Whether the update was made stays on the device: the monitor reads it at the interval's end, with
      // the rank of the embeddings when that is due.
      const at::Tensor applied = r.flags.select(0, 2);
      if (monitor.wants_embeddings()) monitor.observe_embeddings(r.h, r.z, applied);
      const bool interval_end = (step + 1) % c.log_every_n_steps == 0 || step + 1 == steps_per_epoch;
      // A GPU runs behind the host: the interval's last step waits for it (the interval syncs anyway), so
      // that the interval's step times add up to its wall time and its images/s is the GPU's.
      if (interval_end && s.device.is_cuda()) torch::cuda::synchronize(s.device.index());
      sums.add(
          r.out,
          monitor.observe_step(r.out, r.grad_norm, applied, data_seconds, core::seconds_since(step_start)),
          applied);
      if (!r.outcome_known) {
        pending.push_back({global_step, r.flags.clone()});  // a CUDA graph's flags are overwritten next step
      } else if (const StepOutcome o = outcome_of(r); !o.applied) {
        handle_skip(o, global_step);
      }
      if (interval_end) {
        resolve_pending();
        const Record record = monitor.flush(stats.lr);
        const Interval interval{epoch + 1, global_step, &record};
        notify([&](PretrainObserver& o) { o.on_interval(interval); });
        progress.update(step + 1 - first_step,
                        "loss " + fixed(sums.mean(sums.loss), 4) + " lr " + fixed(stats.lr, 6));
      }
      StepEnd end{epoch,          global_step, step + 1 == steps_per_epoch, s.model, *s.optimizer, s.schedule,
                  s.scaler.get(), ""};
      notify([&](PretrainObserver& o) { o.on_step_end(end); });
      if (!end.saved_checkpoint.empty()) result.last_checkpoint = end.saved_checkpoint;
    }
    progress.finish();

    stats.epoch = epoch + 1;
    stats.loss = sums.mean(sums.loss);
    stats.top1 = sums.mean(sums.top1);
    stats.top5 = sums.mean(sums.top5);
    stats.seconds = progress.elapsed_seconds();
    stats.images_per_s = static_cast<double>((steps_per_epoch - first_step) * c.batch_size) / stats.seconds;
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
