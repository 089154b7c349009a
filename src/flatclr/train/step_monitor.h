// What the trainer measures while it runs: the batch diagnostics of every step
// (losses/diagnostics.h: InfoNCE, MI estimate vs its log-K ceiling, p+, saturated rows, InfoNCE/FlatNCE
// gradient ratio, ESS of the negatives' weights, positive/negative similarity, alignment, uniformity), the
// positive-pair accuracy, the global gradient norm, the learning rate, images/s and the share of step time
// spent waiting for data, averaged over the steps of one logging interval (p+ min: the minimum). Every
// `rank_every` intervals it adds the effective rank (RankMe) of h and z and the per-dimension std of the
// normalised z (the rank of one batch is at most min(2N, D): rank_max_z). Values stay on the device until
// flush(), which syncs once per interval.
//
// Each value has a key (steps.jsonl, the diagnosis, the plots) and a TensorBoard tag grouped as loss/, diag/,
// perf/ and eval/ (tag_for_key).
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "flatclr/losses/contrastive_output.h"
#include "flatclr/losses/pair_accuracy.h"

namespace flatclr::train {

// Ordered (key, value) pairs of one interval.
using Record = std::vector<std::pair<std::string, double>>;

// "info_nce" -> "loss/info_nce", "p_pos_mean" -> "diag/p_pos_mean", "images_per_s" -> "perf/images_per_s",
// "knn_top1" -> "eval/knn_top1"; unknown keys go to "diag/".
std::string tag_for_key(const std::string& key);

class StepMonitor {
 public:
  // batch_size: images per step (N; the similarity matrix is [2N, 2N]); rank_every: 0 = never.
  StepMonitor(double temperature, int64_t batch_size, int64_t rank_every);

  // True when the embeddings of the coming step should be passed to observe_embeddings() (the first step
  // of every rank_every-th interval).
  bool wants_embeddings() const;
  // h: [2N, F], z: [2N, D] of the current step, and whether its update was made (0-dim, on the device;
  // undefined: made). Kept as device copies: the ranks are computed at flush(), which syncs anyway, and only
  // when the step's update was made.
  void observe_embeddings(const at::Tensor& h, const at::Tensor& z, const at::Tensor& applied);
  // After backward: the step's loss output, its global gradient norm (0-dim), whether its update was made
  // (0-dim bool or 0/1 number; undefined: made), the seconds spent getting the batch and the seconds of the
  // whole step. A step whose update was not made (a non-finite or fp16-skipped step) counts as skipped and
  // stays out of the averages. `applied` may be known on the device only (the sync-free step): it is read at
  // flush(), with everything else. Returns the step's positive-pair accuracy (on the device, no sync), so
  // that the loop's epoch sums use it instead of computing it a second time.
  losses::PairAccuracy observe_step(const losses::ContrastiveOutput& out, const at::Tensor& grad_norm,
                                    const at::Tensor& applied, double data_seconds, double step_seconds);
  // Steps observed since the last flush, skipped ones included.
  int64_t steps_observed() const { return static_cast<int64_t>(diag_.size()); }

  // The interval's averages (host sync), then resets. lr: the learning rate of the last step.
  Record flush(double lr);

 private:
  // The effective ranks and spreads of observe_embeddings()'s step (a host sync), empty without one.
  Record flush_ranks();

  double temperature_;
  int64_t batch_size_;
  int64_t rank_every_;
  int64_t intervals_ = 0;
  // per step: [kNumBatchDiagnostics + 4] (diagnostics, top1, top5, grad norm, applied 1/0)
  std::vector<at::Tensor> diag_;
  double data_seconds_ = 0, step_seconds_ = 0;
  at::Tensor rank_h_, rank_z_, rank_applied_;  // observe_embeddings()'s step, until flush()
};

}  // namespace flatclr::train
