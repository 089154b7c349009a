// Linear evaluation on fixed features (the paper's linear eval, with per-sample metrics): a single
// torch::nn::Linear(D, C) trained with cross-entropy on precomputed encoder features, evaluated on the
// test features after every epoch.
//   init:      LibTorch/PyTorch's default Linear init, W, b ~ U(-1/sqrt(D), 1/sqrt(D)) (kaiming_uniform
//              with a = sqrt(5)), drawn from a private CPU generator seeded with `seed`: the same tensors
//              as `torch.manual_seed(seed); torch.nn.Linear(D, C)` in Python. The global RNG is left as
//              it was.
//   data:      every epoch visits all N train rows once in a Fisher-Yates order keyed by (seed, epoch)
//              (flatclr::core::Rng), in batches of batch_size with a short last batch (drop_last=false).
//   optimizer: flatclr::optim::make_optimizer (sgd | adam | lars), lr set before every step by
//              flatclr::optim::LrSchedule with no warmup: cosine from lr to 1e-6 over epochs * ceil(N /
//              batch_size) steps (the reference's per-step cosine), or constant.
//   metrics:   per sample, never per batch (the reference averaged per batch, which over-weights a short
//              last batch): train_loss = mean cross-entropy of the train samples and train_top1 = share of
//              train samples classified right, both from the logits computed during the epoch (before
//              each step, as the reference); test_top1 / test_top5 with the layer at the end of the epoch.
//   standardize (off by default, the reference does not): x <- (x - mean) / std with the per-dimension
//              mean and population std of the TRAIN features, applied to train and test alike; a dimension
//              with std <= 1e-8 (e.g. a dead ReLU unit) is only centred (scikit-learn's StandardScaler rule).
// Runs on `train_device` (default: train_x's device). The features may live on the CPU in any floating type
// (memory-mapped float16 features, eval/feature_file.h): each mini-batch is gathered there and used on the
// device in float32; the standardisation statistics are accumulated in float64 over chunks of rows, so the
// features are never copied whole. Accuracies are fractions in [0, 1].
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "flatclr/optim/make_optimizer.h"
#include "flatclr/optim/schedule.h"

namespace flatclr::eval {

constexpr double kProbeFinalLr = 1e-6;       // where the cosine ends (as the reference)
constexpr double kStandardizeMinStd = 1e-8;  // below this a feature is only centred

// The probe's optimisation (the paper's fc_* options, with its defaults). Messages name the fields as
// probe.<field>, their place in the evaluation configuration (core/error.h).
struct LinearProbeConfig {
  int64_t epochs = 100;
  int64_t batch_size = 4096;
  double lr = 1.6;
  double momentum = 0.9;  // sgd, lars
  double weight_decay = 0.0;
  optim::OptimizerKind optimizer = optim::OptimizerKind::kSgd;
  optim::ScheduleKind scheduler = optim::ScheduleKind::kCosine;  // cosine: no warmup, to 1e-6, per step
  uint64_t seed = 0;                                             // layer init and data order
  bool standardize = false;  // standardise features with the train mean/std (see above)

  // Throws flatclr::UsageError naming the field and the bad value.
  void validate() const;
};

struct EpochResult {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0, train_top1 = 0, test_top1 = 0, test_top5 = 0;
  double lr = 0;  // lr of the epoch's last step
};

struct ProbeResult {
  std::vector<EpochResult> history;  // one per epoch
  // Maxima over epochs, each maximised independently (as the reference reports); best_epoch is the
  // first epoch reaching best_top1.
  double best_top1 = 0, best_top5 = 0;
  int64_t best_epoch = 0;
  double last_top1 = 0, last_top5 = 0;  // the last epoch's test accuracy
  // train_classifier: the images its last epoch trained and tested on (a streamed split's bad files left
  // out); -1 where not counted (the split sizes are then the counts).
  int64_t train_images = -1, test_images = -1;
  std::vector<double> lr_trace;  // the lr of every optimizer step, in order
  // The trained layer after the last epoch, on the CPU, float32: logits = x' W^T + b where x' is x
  // standardised with (feature_mean, feature_std) when standardize was on (else those are undefined).
  at::Tensor weight;        // [C, D]
  at::Tensor bias;          // [C]
  at::Tensor feature_mean;  // [D] or undefined
  at::Tensor feature_std;   // [D] or undefined (dimensions that were only centred have std 1)

  // Appends an epoch to history and updates best_* (first epoch reaching the maximum) and last_*.
  void add_epoch(const EpochResult& r);
};

// train_x: [N, D] floating, N >= 1;  train_y: [N] integer in [0, num_classes)
// test_x:  [M, D] floating;          test_y:  [M] integer in [0, num_classes)
// Features on the CPU or on the training device; labels anywhere. on_epoch, when set, is called after every
// epoch with that epoch's result. Throws flatclr::UserError on a bad config (see validate) or mismatched
// shapes, devices or labels.
ProbeResult train_linear_probe(const at::Tensor& train_x, const at::Tensor& train_y, const at::Tensor& test_x,
                               const at::Tensor& test_y, int64_t num_classes, const LinearProbeConfig& config,
                               const std::function<void(const EpochResult&)>& on_epoch = {},
                               c10::optional<c10::Device> train_device = c10::nullopt);

// Applies a trained probe (standardisation included) to features x: [M, D] -> logits [M, C] float32 on
// x's device.
at::Tensor linear_probe_logits(const ProbeResult& probe, const at::Tensor& x);

}  // namespace flatclr::eval
