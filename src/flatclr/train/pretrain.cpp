#include "flatclr/train/pretrain.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "flatclr/core/atomic_file.h"
#include "flatclr/core/clock.h"
#include "flatclr/core/device.h"
#include "flatclr/core/error.h"
#include "flatclr/core/event_writer.h"
#include "flatclr/core/progress.h"
#include "flatclr/core/rng.h"
#include "flatclr/core/threads.h"
#include "flatclr/data/augment_batch.h"
#include "flatclr/data/augment_image.h"
#include "flatclr/data/cifar.h"
#include "flatclr/data/open_dataset.h"
#include "flatclr/data/subset.h"
#include "flatclr/data/view_source.h"
#include "flatclr/dist/data_parallel.h"
#include "flatclr/io/checkpoint.h"
#include "flatclr/losses/method.h"
#include "flatclr/losses/pair_accuracy.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/optim/optimizer_state.h"
#include "flatclr/optim/schedule.h"
#include "flatclr/train/metrics_log.h"
#include "flatclr/train/run_dir.h"
#include "flatclr/train/step_monitor.h"
#include "flatclr/train/train_step.h"

namespace flatclr::train {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kOrderStream = 0x6f72646572ull;  // "order": the data-order stream of hash_key

// The training set as the trainer uses it: uint8 images on the training device plus the dataset
// indices of the selected (--data_fraction) subset.
struct TrainData {
  at::Tensor images;             // [N_all, 3, H, W] uint8 on the device (undefined: streamed image folder)
  at::Tensor labels;             // [N_all] int64 on the device (kNN monitor only)
  std::vector<int64_t> indices;  // selected indices into images, sorted
  data::TrainImages source;      // the dataset as data/open_dataset.h opened it (per-image loader)
};

TrainData load_train_data(const PretrainConfig& c, const c10::Device& device, dist::DataParallel& dp) {
  // Rank 0 downloads (CIFAR archives); the other ranks wait for it and then read what it wrote.
  if (c.download && dp.is_rank0() && data::is_cifar_name(c.dataset_name))
    data::ensure_cifar(c.data, c.dataset_name, data::default_cifar_source(c.dataset_name));
  dp.barrier();
  data::OpenOptions oo;
  oo.download = false;
  oo.stop_on_bad = data::bad_images_stop(c.bad_images);
  oo.threads = static_cast<int>(std::max<int64_t>(1, c.workers));
  TrainData td;
  td.source = data::open_train_images(c.data, c.dataset_name, oo);
  td.indices = data::stratified_subset(td.source.labels, td.source.num_classes, c.data_fraction,
                                       static_cast<uint64_t>(c.seed));
  if (td.source.memory.images.defined()) {
    if (c.faster_version || c.knn_every > 0) td.images = td.source.memory.images.to(device);
    td.labels = td.source.labels.to(device);
  } else if (c.faster_version || c.knn_every > 0) {
    fail("--dataset_name=", c.dataset_name, " is an ImageNet-sized image folder, streamed from disk: ",
         c.faster_version ? "--faster_version=True needs the images in memory (use --faster_version=False)"
                          : "the online kNN monitor needs the images in memory (use --knn_every=0)");
  }
  return td;
}

// Epoch order: a Fisher-Yates shuffle keyed by (seed, epoch) only.
std::vector<int64_t> epoch_order(const std::vector<int64_t>& indices, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order = indices;
  core::Rng rng(core::hash_key({seed, static_cast<uint64_t>(epoch), kOrderStream}));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

// This rank's share of an epoch: its slice (dist/shard.h) of each of the `steps` global batches of `order`,
// concatenated, so that local batch s is [s * batch / W, (s + 1) * batch / W). One process: the first
// steps * batch entries of order.
std::vector<int64_t> local_epoch_order(const std::vector<int64_t>& order, int64_t steps, int64_t batch,
                                       const dist::DataParallel& dp) {
  std::vector<int64_t> local;
  local.reserve(static_cast<size_t>(steps * batch / dp.world_size()));
  for (int64_t step = 0; step < steps; ++step) {
    const auto slice = dp.local_batch(
        std::vector<int64_t>(order.begin() + step * batch, order.begin() + (step + 1) * batch));
    local.insert(local.end(), slice.begin(), slice.end());
  }
  return local;
}

// The ImageNet stem (7x7/2 conv + max-pool) for ImageNet-sized data (imagenet, or a folder of images larger
// than data::kSmallImageMax), the CIFAR stem otherwise (the paper's code keys it on the name imagenet alone).
models::ResNet build_model(const PretrainConfig& c, bool imagenet_stem) {
  models::ResNetOptions o;
  o.arch = c.model;
  o.imagenet_stem = imagenet_stem;
  o.width_multiplier = c.width_multiplier;
  o.normalize_dataset = c.dataset_name;
  o.head.mode = c.proj_head_mode;
  o.head.num_layers = c.num_proj_layers;
  o.head.out_dim = c.proj_out_dim;
  return models::ResNet(o);
}

c10::IValue schedule_state(const optim::LrSchedule& s, int64_t step) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("kind", s.kind);
  d.insert("base_lr", s.base_lr);
  d.insert("warmup_steps", s.warmup_steps);
  d.insert("total_steps", s.total_steps);
  d.insert("final_lr", s.final_lr);
  d.insert("last_epoch", step);  // LambdaLR's name for the number of scheduler steps taken
  return d;
}

// Prints the fields of the checkpoint's stored config that differ from this run's flags.
void warn_config_differences(const std::string& stored_json, const PretrainConfig& now) {
  auto stored = nlohmann::json::parse(stored_json, nullptr, false);
  auto current = nlohmann::json::parse(now.to_json());
  if (stored.is_discarded() || !stored.is_object()) return;
  for (auto& [key, value] : current.items()) {
    if (key == "log_dir" || key == "train_from" || key == "progress" || key == "threads" ||
        key == "workers" || key == "world_size" || key == "dist_timeout")
      continue;
    if (stored.contains(key) && stored[key] != value) {
      std::cout << "warning: resuming with --" << key << "=" << value.dump()
                << " but the checkpoint was trained with " << stored[key].dump()
                << "; the result will differ from an uninterrupted run\n";
    }
  }
}

using core::Clock;
using core::seconds_since;

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// The batched augmentation on the device (faster_version) or the per-image pipeline on worker threads.
std::unique_ptr<data::ViewSource> make_view_source(const PretrainConfig& c, const TrainData& data,
                                                   const c10::Device& device) {
  const uint64_t seed = static_cast<uint64_t>(c.seed);
  const bool small = data.source.small;
  if (c.faster_version) {
    const auto aug = data::AugmentConfig::for_dataset(
        small && !data::is_cifar_name(c.dataset_name) ? "cifar10" : c.dataset_name, data.images.size(2));
    return std::make_unique<data::BatchedViewSource>(data.images, aug, seed, device);
  }
  data::LoaderOptions lo;
  lo.workers = static_cast<int>(c.workers);
  lo.pin_memory = device.is_cuda();
  lo.augment = data::per_image_config(small, data.source.view_size);
  lo.seed = seed;
  return std::make_unique<data::LoaderViewSource>(data.source.source, lo, device);
}

optim::LrSchedule make_schedule(const PretrainConfig& c, int64_t steps_per_epoch) {
  optim::LrSchedule schedule;
  schedule.kind = c.scheduler;
  schedule.base_lr = c.effective_lr;
  schedule.warmup_steps = c.warmup_epochs * steps_per_epoch;
  schedule.total_steps = c.epochs * steps_per_epoch;
  schedule.validate();
  return schedule;
}

// The epoch's line on the console and its record in metrics.jsonl (rank 0) and TensorBoard.
void log_epoch(const PretrainConfig& c, const EpochStats& s, int64_t global_step, int64_t skipped,
               MetricsLog& metrics, core::EventWriter* events, bool rank0) {
  std::string knn_text;
  if (s.knn_top1 >= 0) {
    knn_text = " | knn_top1 " + fixed(100 * s.knn_top1, 2);
    if (events)
      events->add_scalars(global_step, {{"eval/knn_top1", s.knn_top1}, {"eval/knn_top5", s.knn_top5}});
  }
  std::cout << "epoch " << s.epoch << "/" << c.epochs << " | loss " << fixed(s.loss, 4) << " | top1 "
            << fixed(100 * s.top1, 2) << " | top5 " << fixed(100 * s.top5, 2) << " | lr " << fixed(s.lr, 6)
            << " | img/s " << fixed(s.images_per_s, 1) << " | time " << core::format_duration(s.seconds)
            << knn_text << std::endl;
  nlohmann::ordered_json rec;
  rec["epoch"] = s.epoch;
  rec["global_step"] = global_step;
  rec["loss"] = s.loss;
  rec["top1"] = s.top1;
  rec["top5"] = s.top5;
  rec["lr"] = s.lr;
  rec["images_per_s"] = s.images_per_s;
  rec["epoch_time_s"] = s.seconds;
  if (!c.faster_version) rec["data_wait_s"] = s.data_wait_seconds;
  if (skipped > 0) rec["skipped_steps"] = skipped;
  if (s.knn_top1 >= 0) {
    rec["knn_top1"] = s.knn_top1;
    rec["knn_top5"] = s.knn_top5;
  }
  if (rank0) metrics.append(rec);
}

// checkpoint_<epoch>.pth.tar in the run folder; returns its path.
std::string save_epoch_checkpoint(const PretrainConfig& c, const fs::path& run_dir, int64_t epoch,
                                  int64_t global_step, models::ResNet& model,
                                  torch::optim::Optimizer& optimizer, const optim::LrSchedule& schedule) {
  io::Checkpoint ckpt;
  ckpt.epoch = epoch;
  ckpt.batch_size = c.batch_size;
  ckpt.global_step = global_step;
  ckpt.model = c.model;
  ckpt.model_state_dict = io::module_state_dict(*model);
  ckpt.optimizer = optim::optimizer_state_dict(optimizer);
  ckpt.scheduler = schedule_state(schedule, global_step);
  ckpt.config_json = c.to_json();
  const std::string path = (run_dir / io::checkpoint_file_name(epoch)).string();
  io::save_checkpoint(path, ckpt);
  std::cout << "saved " << path << std::endl;
  return path;
}

}  // namespace

PretrainResult pretrain(const PretrainConfig& c, const std::vector<PretrainObserver*>& observers) {
  if (c.fp16_precision)
    fail("--fp16_precision: mixed precision is not implemented yet; run without it (fp32)");

  const int threads = core::set_num_threads(c.threads);
  const losses::MethodInfo& method = losses::method_info(*losses::find_method(c.clr));  // validated
  const c10::Device device = dist::local_device(core::resolve_device(c.device, c.disable_cuda), c.dist_env);
  // One process of a data-parallel group (dist/); a single process when WORLD_SIZE is not set.
  dist::DataParallel dp(c.dist_env, c.dist_backend, c.dist_timeout, device);
  const bool rank0 = dp.is_rank0();  // only rank 0 writes and prints
  const uint64_t seed = static_cast<uint64_t>(c.seed);
  torch::manual_seed(seed);

  TrainData data = load_train_data(c, device, dp);
  const int64_t n = static_cast<int64_t>(data.indices.size());
  const int64_t steps_per_epoch = n / c.batch_size;  // drop_last, as the reference
  if (steps_per_epoch == 0) {
    fail("--batch_size=", c.batch_size, " is larger than the training set (", n,
         " images after --data_fraction=", c.data_fraction, ")");
  }
  const auto views_source = make_view_source(c, data, device);

  auto model = build_model(c, !data.source.small);
  model->to(device);
  model->train();
  dp.prepare_model(*model, c.sync_bn);  // rank 0's weights everywhere; SyncBN
  auto optimizer = optim::make_optimizer(c.optimizer, *model, c.effective_lr, c.weight_decay, c.momentum);
  const optim::LrSchedule schedule = make_schedule(c, steps_per_epoch);

  PretrainResult result;
  int64_t start_epoch = 0, global_step = 0, skipped_steps = 0;
  if (!c.train_from.empty()) {
    const std::string path = resolve_resume_checkpoint(c.log_dir, c.train_from);
    auto ckpt = io::load_checkpoint(path);
    if (ckpt.model != c.model) fail(path, " holds a ", ckpt.model, " model but --model=", c.model);
    io::load_module_state_dict(*model, ckpt.model_state_dict, /*strict=*/true, path);
    optim::load_optimizer_state(*optimizer, ckpt.optimizer);
    start_epoch = ckpt.epoch;
    global_step = ckpt.global_step;
    if (global_step != start_epoch * steps_per_epoch) {
      fail(path, ": its ", global_step, " steps over ", start_epoch, " epochs do not match ", steps_per_epoch,
           " steps per epoch of this run (different --batch_size or --data_fraction?)");
    }
    if (start_epoch >= c.epochs) fail(path, " already holds ", start_epoch, " epochs; --epochs=", c.epochs);
    warn_config_differences(ckpt.config_json, c);
    result.run_dir = c.log_dir;
    std::cout << "resuming from " << path << " at epoch " << start_epoch << ", step " << global_step << "\n";
  } else {
    result.run_dir =
        dp.agree(rank0 ? create_run_dir(c.save_dir, c.dataset_name, c.batch_size, c.method_name()) : "");
  }
  const fs::path run_dir(result.run_dir);
  MetricsLog metrics((run_dir / "metrics.jsonl").string());
  MetricsLog steps_log((run_dir / "steps.jsonl").string());  // per logging interval (train/step_monitor.h)
  std::unique_ptr<core::EventWriter> events;                 // TensorBoard scalars
  if (rank0) {
    core::write_file_atomic((run_dir / "config.json").string(), c.to_json() + "\n");
    metrics.truncate_after_epoch(start_epoch);
    steps_log.truncate_after("global_step", global_step);
    if (c.tensorboard) {
      events = std::make_unique<core::EventWriter>(run_dir.string());
      // TensorBoard drops the earlier files' points at steps >= this: those after the checkpoint. The
      // checkpoint's own last step (global_step, logged at the end of its epoch) stays.
      if (global_step > 0) events->add_session_start(global_step + 1);
    }
  }
  StepMonitor monitor(c.temperature, c.batch_size, c.diag_rank_every);  // h: this rank's rows, z: all

  std::cout << "flatclr pretraining: " << c.method_name() << " (" << method.loss_name << " loss) on "
            << c.dataset_name << ", " << n << " images, " << c.model << " x" << c.width_multiplier
            << ", batch " << c.batch_size << ", " << steps_per_epoch << " steps/epoch, lr " << c.effective_lr
            << " (--lr=" << c.lr << ", scaling " << c.learning_rate_scaling << "), device " << device.str()
            << ", " << threads << " threads"
            << (dp.distributed() ? ", " + std::to_string(dp.world_size()) + " processes (" +
                                       dp.group().backend() + (c.sync_bn ? ", SyncBN)" : ")")
                                 : std::string())
            << "\nrun folder: " << result.run_dir << std::endl;

  if (rank0) {
    TrainSet train_set{data.images, data.labels, data.indices, data.source.bad, device};
    for (auto* o : observers) o->on_start(c, train_set);
  }

  const auto progress_mode = core::progress_mode_from(rank0 ? c.progress : "none");
  StepOptions step_options;
  step_options.method = method.method;
  step_options.temperature = c.temperature;
  step_options.restore_buffers = c.on_nonfinite == "skip";
  TrainStep train_step(model, *optimizer, dp, step_options);

  for (int64_t epoch = start_epoch; epoch < c.epochs; ++epoch) {
    // This rank's slice of every global batch of the epoch, batch after batch.
    const int64_t local_batch = c.batch_size / dp.world_size();
    const auto order =
        local_epoch_order(epoch_order(data.indices, seed, epoch), steps_per_epoch, c.batch_size, dp);
    views_source->start_epoch(epoch, order, local_batch);
    const double wait_before = views_source->wait_seconds();
    core::Progress progress(progress_mode,
                            "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(c.epochs),
                            steps_per_epoch, c.batch_size);
    // Running sums stay on the device; they are read only at logging intervals (no per-step host sync).
    auto sum_loss = torch::zeros({}, torch::TensorOptions().device(device).dtype(torch::kDouble));
    auto sum_top1 = torch::zeros_like(sum_loss), sum_top5 = torch::zeros_like(sum_loss);
    double lr = 0;
    int64_t good_steps = 0;
    for (int64_t step = 0; step < steps_per_epoch; ++step) {
      const auto step_start = Clock::now();
      // The data time of the step: the batched augmentation, or the wait for the loader's prefetched batch.
      const at::Tensor views = views_source->next();
      const double data_seconds = seconds_since(step_start);
      lr = schedule.lr_at(global_step);
      const StepResult r = train_step.run(views, lr);
      if (!r.finite) {
        const std::string bad_text = std::isnan(r.bad_value) ? "nan" : (r.bad_value > 0 ? "inf" : "-inf");
        nlohmann::ordered_json ev;
        ev["event"] = "nonfinite";
        ev["epoch"] = epoch + 1;
        ev["global_step"] = global_step + 1;
        ev["what"] = r.bad_loss ? "loss" : "gradient";
        ev["value"] = bad_text;
        ev["action"] = c.on_nonfinite;
        ev["last_checkpoint"] = result.last_checkpoint.empty() ? "none" : result.last_checkpoint;
        if (rank0) steps_log.append(ev);
        if (c.on_nonfinite == "stop") {
          progress.finish();
          fail("the ", r.bad_loss ? "loss" : "gradient norm", " became ", bad_text, " at step ",
               global_step + 1, " (epoch ", epoch + 1,
               "); last good checkpoint: ", result.last_checkpoint.empty() ? "none" : result.last_checkpoint,
               ". Try a lower --lr or a larger --temperature (or --on_nonfinite=skip); `flatclr diagnose ",
               result.run_dir, "` reads the run's logs");
        }
        // skip: the step made no update and left the BatchNorm statistics as they were; it still counts
        // (schedule, resume).
        monitor.observe_skipped_step();
        ++skipped_steps;
        std::cerr << "warning: step " << global_step + 1 << " skipped: its "
                  << (r.bad_loss ? "loss" : "gradient norm") << " is " << bad_text << " (--on_nonfinite=skip)"
                  << std::endl;
      } else {
        auto acc = losses::positive_pair_accuracy(r.out.similarity);
        sum_loss += r.out.info_nce.to(torch::kDouble);
        sum_top1 += acc.top1.to(torch::kDouble);
        sum_top5 += acc.top5.to(torch::kDouble);
        ++good_steps;
        if (monitor.wants_embeddings()) monitor.observe_embeddings(r.h, r.z);
        monitor.observe_step(r.out, r.grad_norm, data_seconds, seconds_since(step_start));
      }
      ++global_step;

      const bool log_now = (step + 1) % c.log_every_n_steps == 0 || step + 1 == steps_per_epoch;
      if (log_now) {
        const Record rec = monitor.flush(lr);
        nlohmann::ordered_json line;
        line["epoch"] = epoch + 1;
        line["global_step"] = global_step;
        std::vector<std::pair<std::string, double>> scalars;
        for (const auto& [key, value] : rec) {
          line[key] = value;
          scalars.emplace_back(tag_for_key(key), value);
        }
        if (rank0) steps_log.append(line);
        if (events) events->add_scalars(global_step, scalars);
        progress.update(step + 1, "loss " +
                                      fixed(sum_loss.item<double>() / std::max<int64_t>(1, good_steps), 4) +
                                      " lr " + fixed(lr, 6));
      }
    }
    progress.finish();

    EpochStats s;
    s.epoch = epoch + 1;
    const double good = static_cast<double>(std::max<int64_t>(1, good_steps));
    s.loss = sum_loss.item<double>() / good;
    s.top1 = sum_top1.item<double>() / good;
    s.top5 = sum_top5.item<double>() / good;
    s.lr = lr;
    s.seconds = progress.elapsed_seconds();
    s.images_per_s = static_cast<double>(steps_per_epoch * c.batch_size) / s.seconds;
    s.data_wait_seconds = views_source->wait_seconds() - wait_before;
    if (rank0) {
      for (auto* o : observers) o->on_epoch_end(model, s);
    }
    result.epochs.push_back(s);
    log_epoch(c, s, global_step, steps_per_epoch - good_steps, metrics, events.get(), rank0);
    if (rank0 && (s.epoch % c.save_every_n_epochs == 0 || s.epoch == c.epochs))
      result.last_checkpoint =
          save_epoch_checkpoint(c, run_dir, s.epoch, global_step, model, *optimizer, schedule);
  }
  if (data.source.bad && data.source.bad->count() > 0)
    std::cout << data.source.bad->count() << " bad image file(s) skipped (--bad_images=skip)" << std::endl;
  if (skipped_steps > 0)
    std::cout << skipped_steps << " step(s) skipped because of a non-finite loss or gradient" << std::endl;
  if (rank0) {
    for (auto* o : observers) o->on_end(result);
  }
  if (events) std::cout << "TensorBoard: tensorboard --logdir " << result.run_dir << std::endl;
  return result;
}

}  // namespace flatclr::train
