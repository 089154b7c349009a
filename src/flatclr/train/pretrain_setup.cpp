#include "flatclr/train/pretrain_setup.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "flatclr/core/atomic_file.h"
#include "flatclr/core/device.h"
#include "flatclr/core/error.h"
#include "flatclr/core/precision.h"
#include "flatclr/core/threads.h"
#include "flatclr/data/augment_batch.h"
#include "flatclr/data/augment_image.h"
#include "flatclr/data/cifar.h"
#include "flatclr/data/subset.h"
#include "flatclr/io/checkpoint.h"
#include "flatclr/models/channels_last.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/train/config_agreement.h"
#include "flatclr/train/precision_probe.h"
#include "flatclr/train/restore_state.h"
#include "flatclr/train/resume_point.h"
#include "flatclr/train/run_dir.h"

namespace flatclr::train {
namespace {

// The training set: rank 0 downloads (CIFAR archives), the other ranks wait for it and then read what it
// wrote. Images go to the device when the batched augmentation or the kNN monitor needs them there.
void load_train_data(const PretrainConfig& c, PretrainSetup& s) {
  const auto& d = c.data;
  if (d.download && s.dp->is_rank0() && data::is_cifar_name(d.dataset_name))
    data::ensure_cifar(d.root, d.dataset_name, data::default_cifar_source(d.dataset_name));
  s.dp->barrier();
  data::OpenOptions oo = d.open_options();
  oo.download = false;
  s.source = data::open_train_images(d.root, d.dataset_name, oo);
  auto& t = s.train_set;
  t.indices = data::stratified_subset(s.source.labels, s.source.num_classes, d.fraction,
                                      static_cast<uint64_t>(c.run.seed));
  t.bad = s.source.bad;
  t.device = s.device;
  // The kNN monitor reads a streamed folder itself (run/pretrain_run.h); in memory it uses these images.
  const bool needs_memory = c.faster_version || c.knn_every > 0;
  if (s.source.memory.images.defined()) {
    if (needs_memory) t.images = s.source.memory.images.to(s.device);
    t.labels = s.source.labels.to(s.device);
  } else if (c.faster_version) {
    fail(Field{"data.dataset_name"}, "=", d.dataset_name,
         " is an ImageNet-sized image folder, streamed from disk: ", Field{"faster_version"},
         "=True needs the images in memory (use ", Field{"faster_version"}, "=False)");
  }
}

// The colour jitter strength the run trains with: the one given; else, when resuming, the one its checkpoint
// recorded (a checkpoint from before the setting existed trained with the dataset's); else the dataset's.
double decide_color_jitter_strength(const PretrainConfig& c, const std::optional<io::Checkpoint>& ckpt,
                                    bool small_images) {
  if (c.color_jitter_strength) return *c.color_jitter_strength;
  if (ckpt) {
    const auto j = nlohmann::json::parse(ckpt->config_json, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
      const auto it = j.find("color_jitter_strength_in_effect");
      if (it != j.end() && it->is_number()) return it->get<double>();
    }
  }
  return data::default_color_jitter_strength(small_images);
}

// The batched augmentation on the device (faster_version) or the per-image pipeline on worker threads, with
// colour jitter of strength s.start.color_jitter_strength and crops of at least c.crop_min_scale of the
// image.
std::unique_ptr<data::ViewSource> make_view_source(const PretrainConfig& c, const PretrainSetup& s) {
  const uint64_t seed = static_cast<uint64_t>(c.run.seed);
  const bool small = s.source.small;
  const double jitter = s.start.color_jitter_strength;
  if (c.faster_version) {
    auto aug = data::AugmentConfig::for_dataset(
        small && !data::is_cifar_name(c.data.dataset_name) ? "cifar10" : c.data.dataset_name,
        s.train_set.images.size(2), jitter);
    aug.scale_min = c.crop_min_scale;
    return std::make_unique<data::BatchedViewSource>(s.train_set.images, aug, seed, s.device);
  }
  data::LoaderOptions lo;
  lo.workers = static_cast<int>(c.data.workers);
  lo.pin_memory = s.device.is_cuda();
  lo.augment = data::per_image_config(small, s.source.view_size, jitter);
  lo.augment.scale_min = c.crop_min_scale;
  lo.seed = seed;
  return std::make_unique<data::LoaderViewSource>(s.source.source, lo, s.device);
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

// Model and optimizer state, epoch and step from the checkpoint (at `path`, in the run folder `run_dir`)
// the run resumes.
void resume(const PretrainConfig& c, const std::string& run_dir, const std::string& path,
            const io::Checkpoint& ckpt, PretrainSetup& s) {
  RunStart& r = s.start;
  restore_training_state(ckpt, path, s.model, *s.optimizer, s.scaler.get());
  r.start_epoch = ckpt.epoch;
  r.global_step = ckpt.global_step;
  // An epoch's checkpoint holds whole epochs; a step checkpoint (save_every_n_steps) part of the next one.
  if (r.global_step < r.start_epoch * r.steps_per_epoch ||
      r.global_step >= (r.start_epoch + 1) * r.steps_per_epoch) {
    fail(path, ": its ", r.global_step, " steps after ", r.start_epoch, " epochs do not match ",
         r.steps_per_epoch, " steps per epoch of this run (different ", Field{"batch_size"}, " or ",
         Field{"data.fraction"}, "?)");
  }
  if (r.start_epoch >= c.epochs) {
    fail(path, " already holds ", r.start_epoch, " epochs; ", Field{"epochs"}, "=", c.epochs);
  }
  r.run_dir = run_dir;
  r.resumed_from = path;
  r.stored_config_json = ckpt.config_json;
}

// The precision the resumed run started with (config.json's precision_in_effect in its checkpoint), if it
// recorded one.
std::optional<core::Precision> stored_precision(const std::string& config_json) {
  const auto j = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find("precision_in_effect");
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return core::parse_choice<core::Precision>(it->get<std::string>());
}

// The precision: requested, or auto decided as train/precision_probe.h says (rank 0 decides, every rank
// takes its decision, so that all train alike).
void decide_precision(const PretrainConfig& c, std::optional<core::Precision> resumed, int64_t view_size,
                      PretrainSetup& s) {
  ProbeSetting p;
  p.threads = s.threads;
  p.model = s.model->options;
  p.image_size = view_size;
  p.batch = std::max<int64_t>(1, c.batch_size / s.dp->world_size());
  p.channels_last = s.channels_last;
  p.method = c.clr;
  p.optimizer = c.optimizer;
  const bool probes = c.precision == core::Precision::kAuto && !s.device.is_cuda() && !resumed;
  if (probes) p.cpu_model = core::cpu_model_name();
  PrecisionChoice& choice = s.start.precision_choice;
  if (s.dp->is_rank0() || !probes) {
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    choice = choose_precision(c.precision, s.device, p, c.precision_cache, resumed, now, core::cpu_bf16());
    if (!choice.warning.empty() && s.dp->is_rank0()) std::cerr << "warning: " << choice.warning << std::endl;
  }
  if (probes && s.dp->distributed()) {
    const auto agreed = core::parse_choice<core::Precision>(s.dp->agree(core::name_of(choice.precision)));
    FLATCLR_CHECK(agreed.has_value(), "rank 0 sent no precision");
    if (!s.dp->is_rank0()) {
      choice.precision = *agreed;
      choice.source = PrecisionSource::kMeasured;
    }
  }
  s.precision = choice.precision;
}

// Where the run continues: the run folder ("" = a new one) and the checkpoint it resumes (none = a fresh
// start).
struct ResumePoint {
  std::string run_dir;
  std::string path;
  std::optional<io::Checkpoint> checkpoint;
};

// train_from: that checkpoint of log_dir. Otherwise the run folder to continue, log_dir or (under torchrun)
// the job's own, and its newest complete checkpoint, chosen by rank 0 for every rank (the folder is on a
// file system they share, as it must be for any resume).
ResumePoint find_resume_point(const PretrainConfig& c, const PretrainSetup& s) {
  ResumePoint p;
  p.run_dir = c.log_dir;
  if (!c.train_from.empty()) {
    p.path = resolve_resume_checkpoint(c.log_dir, c.train_from);
    p.checkpoint = io::load_checkpoint(p.path);
    return p;
  }
  const auto& env = c.dist_env;
  if (p.run_dir.empty() && env.launcher == dist::Launcher::kTorchrun && !env.run_id.empty())
    p.run_dir = job_run_dir(c.save_dir, c.data.dataset_name, c.batch_size, c.method_name(), env.run_id);
  if (p.run_dir.empty()) return p;
  std::string found;
  if (s.dp->is_rank0()) {
    std::error_code ec;
    std::filesystem::create_directories(p.run_dir, ec);
    if (ec)
      fail("cannot create the run folder ", p.run_dir, ": ", ec.message(), " (check ", Field{"save_dir"},
           ")");
    auto newest = newest_checkpoint(p.run_dir, s.start.steps_per_epoch);
    const auto skipped = newest ? newest->skipped : std::vector<std::string>{};
    for (const auto& why : skipped)
      std::cerr << "warning: passing over a checkpoint that does not load: " << why << std::endl;
    if (newest) {
      found = newest->path;
      p.checkpoint = std::move(newest->checkpoint);
    }
  }
  p.path = s.dp->agree(found);
  if (p.path.empty()) return p;
  if (!p.checkpoint) p.checkpoint = io::load_checkpoint(p.path);
  // Found by itself, so it must be this run's: another run's checkpoint in the folder (a job id used twice)
  // is an error, not a silent continuation of a different training.
  const auto diffs =
      trajectory_differences(c.to_json(), "now", p.checkpoint->config_json, "in " + p.path, {"epochs"});
  const std::string own_folder =
      c.log_dir.empty() ? "give the job its own torchrun --rdzv-id (or a --log_dir)" : "use another log_dir";
  if (!diffs.empty()) {
    std::string list;
    for (const auto& d : diffs) list += (list.empty() ? "" : "; ") + d;
    fail("the run folder ", p.run_dir, " holds another run: ", list, "; ", own_folder);
  }
  if (p.checkpoint->epoch >= c.epochs) {
    fail("the run folder ", p.run_dir, " holds a finished run (", p.path, ": ", p.checkpoint->epoch,
         " epochs; ", Field{"epochs"}, "=", c.epochs, "); ", own_folder, " for a new run, or raise ",
         Field{"epochs"}, " to train it further");
  }
  return p;
}

}  // namespace

std::unique_ptr<PretrainSetup> setup_pretraining(const PretrainConfig& c) {
  auto s = std::make_unique<PretrainSetup>();
  s->threads = core::set_num_threads(c.run.threads);
  // cuda:LOCAL_RANK in a multi-process run, made current before any CUDA work (the process group's
  // communicator, the model, the loader's pinned memory) so that no rank touches another rank's GPU.
  s->device =
      core::resolve_device(c.run.device, c.run.disable_cuda, c.dist_env.world_size, c.dist_env.local_rank);
  core::make_current(s->device);
  // cuDNN tries its convolution algorithms once per shape and keeps the fastest (the shapes are fixed).
  if (s->device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
  core::resolve_precision(c.precision, s->device);  // a precision the device cannot run fails now
  s->dp = std::make_unique<dist::DataParallel>(c.dist_env, c.dist_backend, c.dist_timeout, s->device);
  check_same_configuration(c, *s->dp);
  torch::manual_seed(static_cast<uint64_t>(c.run.seed));

  load_train_data(c, *s);
  const int64_t n = static_cast<int64_t>(s->train_set.indices.size());
  RunStart& r = s->start;
  r.steps_per_epoch = n / c.batch_size;  // drop_last, as the reference
  if (r.steps_per_epoch == 0) {
    fail(Field{"batch_size"}, "=", c.batch_size, " is larger than the training set (", n, " images after ",
         Field{"data.fraction"}, "=", c.data.fraction, ")");
  }
  // A resumed run's checkpoint is read once, here: its configuration keeps the run's precision and colour
  // jitter.
  const ResumePoint from = find_resume_point(c, *s);
  const std::string& resume_path = from.path;
  const std::optional<io::Checkpoint>& ckpt = from.checkpoint;
  r.color_jitter_strength = decide_color_jitter_strength(c, ckpt, s->source.small);
  s->views = make_view_source(c, *s);

  // The ImageNet stem (7x7/2 conv + max-pool) for ImageNet-sized data (imagenet, or a folder of images
  // larger than data::kSmallImageMax), the CIFAR stem otherwise (the paper's code keys it on the name
  // imagenet alone).
  s->model = models::ResNet(c.model.resnet_options(!s->source.small, c.data.dataset_name));
  s->model->to(s->device);
  s->channels_last = models::use_channels_last(c.memory_format, s->device, *s->model, &r.memory_format_note);
  if (!r.memory_format_note.empty() && s->dp->is_rank0())
    std::cout << "note: " << r.memory_format_note << std::endl;
  if (s->channels_last) models::to_channels_last(*s->model);
  s->model->train();
  s->dp->prepare_model(*s->model, c.sync_bn);  // rank 0's weights everywhere; SyncBN
  s->optimizer = optim::make_optimizer(c.optimizer, *s->model, c.effective_lr, c.weight_decay, c.momentum);
  s->schedule = make_schedule(c, r.steps_per_epoch);
  s->sync_free_step = s->device.is_cuda() && c.optimizer == optim::OptimizerKind::kLars;
  s->cuda_graph = s->sync_free_step && c.cuda_graphs && s->dp->world_size() == 1;

  const int64_t view_size = c.faster_version ? s->train_set.images.size(2) : s->source.view_size;
  decide_precision(c, ckpt ? stored_precision(ckpt->config_json) : std::nullopt, view_size, *s);
  if (s->precision == core::Precision::kFp16) {
    s->scaler = std::make_unique<optim::GradScaler>(optim::GradScalerOptions{}, s->device);
  }

  const bool rank0 = s->dp->is_rank0();
  if (ckpt) {
    resume(c, from.run_dir, resume_path, *ckpt, *s);
  } else if (!from.run_dir.empty()) {
    r.run_dir = from.run_dir;  // the run folder to continue, with no checkpoint yet: the run starts there
  } else {
    r.run_dir = s->dp->agree(
        rank0 ? create_run_dir(c.save_dir, c.data.dataset_name, c.batch_size, c.method_name()) : "");
  }
  if (rank0) {
    // Before any training: a folder that cannot take the checkpoints is an error now, not after an epoch; and
    // what a killed run left half-written there (temporary files, never taken for checkpoints) goes.
    core::check_writable_folder(r.run_dir, "the run folder");
    const int stale = core::remove_stale_temporaries(r.run_dir);
    if (stale > 0) {
      std::cout << "removed " << stale << " unfinished temporary file(s) of an interrupted run from "
                << r.run_dir << std::endl;
    }
  }
  r.device = s->device;
  r.precision = s->precision;
  r.memory_format = s->channels_last ? core::MemoryFormat::kChannelsLast : core::MemoryFormat::kContiguous;
  r.sync_free_step = s->sync_free_step;
  r.cuda_graph = s->cuda_graph;
  r.threads = s->threads;
  r.world_size = s->dp->world_size();
  r.backend = s->dp->distributed() ? s->dp->group().backend() : "";
  r.images = n;
  r.train_set = &s->train_set;
  return s;
}

}  // namespace flatclr::train
