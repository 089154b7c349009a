// `--precision=auto` on a CPU, decided by measurement. Whether bf16 pays on a CPU depends on more than its
// flags (AVX512-BF16 without AMX measured 0.9x float32 on one Xeon and 1.86x on one AMD EPYC), so a run times
// its own training step (train/train_step.h: its model, width, image size, layout and threads, on random
// views) in fp32 and in bf16 for a few steps before training, and core::choose_by_step_times() picks. The
// batch is the run's own per-process batch when a step of it fits kProbeStepBudgetSeconds, else the largest
// batch that does (at least kProbeMinBatch): a probe takes a few seconds, whatever the model. The result is
// cached per machine and configuration (train/precision_cache.h), so the next run does not measure again.
//
// What `auto` became and why is a PrecisionChoice: the console summary prints it, config.json records it.
// The probe builds its own model and leaves the global random generator as it found it, so a run's weights
// and data order do not depend on whether the probe ran or came from the cache.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <optional>
#include <string>

#include "flatclr/core/choice.h"
#include "flatclr/core/precision.h"
#include "flatclr/losses/method.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/train/precision_cache.h"

namespace flatclr::train {

inline constexpr double kProbeStepBudgetSeconds = 0.4;
inline constexpr int64_t kProbeMinBatch = 4;

// Everything the step's speed depends on. key() is the cache key: all but the method and the optimizer, whose
// share of a step is small, so that SimCLR and FlatCLR runs of one configuration share one decision.
struct ProbeSetting {
  std::string cpu_model;
  int threads = 1;
  models::ResNetOptions model;
  int64_t image_size = 32;  // side of the views
  int64_t batch = 32;       // images per process per step (2 views each)
  bool channels_last = false;
  losses::Method method = losses::Method::kFlatCLR;
  optim::OptimizerKind optimizer = optim::OptimizerKind::kLars;
  std::string key() const;
};

// Times the step in fp32 and bf16 (the fastest of kProbeTimedSteps after a warm-up step each, alternating).
inline constexpr int kProbeTimedSteps = 2;
StepTimes measure_step_times(const ProbeSetting& setting);

// How the precision in effect was decided.
enum class PrecisionSource {
  kRequested,           // --precision named it
  kDevice,              // auto on a GPU: by its compute capability
  kNoBf16Instructions,  // auto on a CPU without native bf16: fp32, unmeasured
  kMeasured,            // auto on a CPU: measured now
  kCached,              // auto on a CPU: measured earlier with the same configuration (the cache)
  kResumed,             // auto, resumed: the precision the run started with
};
inline constexpr core::Choice<PrecisionSource> kPrecisionSources[] = {
    {PrecisionSource::kRequested, "requested"},
    {PrecisionSource::kDevice, "device"},
    {PrecisionSource::kNoBf16Instructions, "no_bf16_instructions"},
    {PrecisionSource::kMeasured, "measured"},
    {PrecisionSource::kCached, "cached"},
    {PrecisionSource::kResumed, "resumed"}};
constexpr const auto& choices_of(PrecisionSource) { return kPrecisionSources; }

struct PrecisionChoice {
  core::Precision precision = core::Precision::kFp32;  // resolved
  PrecisionSource source = PrecisionSource::kRequested;
  std::string cpu_model;  // auto on a CPU
  StepTimes times;        // kMeasured, kCached
  std::string warning;    // a cache that could not be used or written, else ""
  // For the one-line summary, e.g. "bf16 (auto: a step took 0.210 s in bf16, 0.398 s in fp32 at batch 32
  // on AMD EPYC, measured)"; just the name when it was requested.
  std::string describe() const;
};

// The precision of a run. requested: the configuration's. On a CPU with auto: `resumed` when set (the stored
// precision of the run being resumed), else no native bf16 -> fp32, else the cache's entry for `setting`,
// else measure_step_times() (and store it). cache_path "" measures every time. now: Unix seconds. cpu: this
// machine's (core::cpu_bf16()); tests pass others. UsageError as core::resolve_precision for a precision the
// device cannot run.
PrecisionChoice choose_precision(core::Precision requested, const c10::Device& device,
                                 const ProbeSetting& setting, const std::string& cache_path,
                                 std::optional<core::Precision> resumed, int64_t now,
                                 const core::CpuBf16& cpu);

}  // namespace flatclr::train
