#include "flatclr/train/precision_probe.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <limits>
#include <mutex>
#include <sstream>

#include "flatclr/core/clock.h"
#include "flatclr/dist/data_parallel.h"
#include "flatclr/models/channels_last.h"
#include "flatclr/train/train_step.h"

namespace flatclr::train {
namespace {

// Restores the global CPU generator on destruction: the probe's model initialisation and views draw from
// it, and the run's own weights must not depend on whether the probe ran.
class GeneratorStateGuard {
 public:
  GeneratorStateGuard() : state_(at::detail::getDefaultCPUGenerator().get_state()) {}
  ~GeneratorStateGuard() {
    at::Generator g = at::detail::getDefaultCPUGenerator();  // a handle on the same generator
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_state(state_);
  }
  GeneratorStateGuard(const GeneratorStateGuard&) = delete;
  GeneratorStateGuard& operator=(const GeneratorStateGuard&) = delete;

 private:
  at::Tensor state_;
};

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s);
  return buf;
}

// A model, optimizer and one-process group for timing steps.
struct ProbeBench {
  models::ResNet model{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<dist::DataParallel> one;
  const ProbeSetting& setting;

  explicit ProbeBench(const ProbeSetting& s) : setting(s) {
    model = models::ResNet(s.model);
    if (s.channels_last) models::to_channels_last(*model);
    model->train();
    // lr 0: the step's cost without moving the weights anywhere odd over the probe's few steps.
    optimizer = optim::make_optimizer(s.optimizer, *model, 0.0, 1e-6, 0.9);
    one = std::make_unique<dist::DataParallel>(dist::DistEnv{}, dist::BackendChoice::kGloo, 60.0, c10::kCPU);
  }

  std::unique_ptr<TrainStep> step(core::Precision p) {
    StepOptions o;
    o.method = setting.method;
    o.precision = p;
    o.channels_last = setting.channels_last;
    return std::make_unique<TrainStep>(model, *optimizer, *one, o);
  }

  at::Tensor views(int64_t batch) const {
    return torch::rand({2 * batch, 3, setting.image_size, setting.image_size});
  }
};

double timed(TrainStep& step, const at::Tensor& views) {
  const auto start = core::Clock::now();
  step.run(views, 0.0);
  return core::seconds_since(start);
}

}  // namespace

std::string ProbeSetting::key() const {
  std::ostringstream k;
  k << "cpu=" << cpu_model << "|threads=" << threads << "|model=" << core::name_of(model.arch)
    << "|width=" << model.width_multiplier << "|stem=" << (model.imagenet_stem ? "imagenet" : "cifar")
    << "|head=" << model.head.num_layers << "x" << model.head.out_dim << "|size=" << image_size
    << "|batch=" << batch << "|layout=" << (channels_last ? "channels_last" : "contiguous")
    << "|torch=" << TORCH_VERSION;
  return k.str();
}

StepTimes measure_step_times(const ProbeSetting& setting) {
  GeneratorStateGuard keep_rng;
  ProbeBench bench(setting);
  auto fp32 = bench.step(core::Precision::kFp32);
  auto bf16 = bench.step(core::Precision::kBf16);
  // A small step first (its first run creates oneDNN's kernels), then the batch that fits the budget.
  const int64_t small = std::min(setting.batch, kProbeMinBatch);
  const at::Tensor small_views = bench.views(small);
  timed(*fp32, small_views);
  const double per_image = timed(*fp32, small_views) / static_cast<double>(small);
  const auto fits = static_cast<int64_t>(kProbeStepBudgetSeconds / std::max(per_image, 1e-9));
  StepTimes t;
  t.batch = std::clamp(fits, small, setting.batch);
  const at::Tensor views = t.batch == small ? small_views : bench.views(t.batch);
  timed(*fp32, views);  // warm-up of this shape (and bf16's first kernels)
  timed(*bf16, views);
  t.fp32_seconds = t.bf16_seconds = std::numeric_limits<double>::infinity();
  for (int i = 0; i < kProbeTimedSteps; ++i) {  // alternating, so that a burst of noise hits both
    t.fp32_seconds = std::min(t.fp32_seconds, timed(*fp32, views));
    t.bf16_seconds = std::min(t.bf16_seconds, timed(*bf16, views));
  }
  return t;
}

std::string PrecisionChoice::describe() const {
  const std::string name = core::name_of(precision);
  switch (source) {
    case PrecisionSource::kRequested:
      return name;
    case PrecisionSource::kDevice:
      return name + " (auto: by the GPU's compute capability)";
    case PrecisionSource::kNoBf16Instructions:
      return name + " (auto: " + cpu_model + " has no native bf16 instructions)";
    case PrecisionSource::kResumed:
      return name + " (auto: the precision the resumed run started with)";
    case PrecisionSource::kMeasured:
    case PrecisionSource::kCached:
      return name + " (auto: a step took " + seconds_text(times.bf16_seconds) + " s in bf16, " +
             seconds_text(times.fp32_seconds) + " s in fp32 at batch " + std::to_string(times.batch) +
             " on " + cpu_model +
             (source == PrecisionSource::kCached ? ", measured earlier" : ", measured now") + ")";
  }
  return name;
}

PrecisionChoice choose_precision(core::Precision requested, const c10::Device& device,
                                 const ProbeSetting& setting, const std::string& cache_path,
                                 std::optional<core::Precision> resumed, int64_t now,
                                 const core::CpuBf16& cpu) {
  PrecisionChoice c;
  c.precision = core::resolve_precision(requested, device);  // refuses what the device cannot run
  if (requested != core::Precision::kAuto) return c;
  if (device.is_cuda()) {
    c.source = PrecisionSource::kDevice;
    return c;
  }
  c.cpu_model = setting.cpu_model;
  if (resumed) {
    c.precision = core::resolve_precision(*resumed, device);
    c.source = PrecisionSource::kResumed;
    return c;
  }
  if (!cpu.native()) {
    c.precision = core::Precision::kFp32;
    c.source = PrecisionSource::kNoBf16Instructions;
    return c;
  }
  const std::string key = setting.key();
  const CacheLookup found = lookup_step_times(cache_path, key, now);
  if (found.status == CacheStatus::kHit) {
    c.times = found.times;
    c.source = PrecisionSource::kCached;
  } else {
    if (found.status == CacheStatus::kCorrupt) {
      c.warning = found.why + "; measuring again and rewriting it";
    }
    std::cout << "timing the training step in fp32 and bf16 (--precision=auto; a few seconds, once per "
                 "configuration on this machine)"
              << std::endl;
    c.times = measure_step_times(setting);
    c.times.measured_at = now;
    c.source = PrecisionSource::kMeasured;
    const std::string store_warning = store_step_times(cache_path, key, c.times);
    if (!store_warning.empty()) c.warning += (c.warning.empty() ? "" : "; ") + store_warning;
  }
  c.precision = core::choose_by_step_times(c.times.fp32_seconds, c.times.bf16_seconds);
  return c;
}

}  // namespace flatclr::train
