// Top-1 / top-5 classification accuracy counted per sample, so that counts from batches of any size add
// up exactly (the reference averaged per batch, which over-weights a short last batch). A sample is
// correct at k when its label is among the k classes returned by at::topk(scores, k) along the class
// dimension, with k = min(5, C) for top-5 (fewer than 5 classes: top-C, always correct). Ties: when
// several classes share the k-th largest score, at::topk picks among them in an unspecified order, as
// PyTorch's own accuracy helpers do.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace flatclr::eval {

struct TopKCounts {
  int64_t top1 = 0;   // samples whose label is the arg-max class
  int64_t top5 = 0;   // samples whose label is among the min(5, C) best classes
  int64_t total = 0;  // samples counted

  void add(const TopKCounts& other);
  // Fractions in [0, 1]; 0 when nothing was counted.
  double top1_rate() const;
  double top5_rate() const;
};

// scores: [N, C] float (logits, probabilities or any monotone score), any device
// labels: [N] int64 in [0, C), same device
// Throws flatclr::UserError on a shape mismatch or a label outside [0, C).
TopKCounts topk_counts(const at::Tensor& scores, const at::Tensor& labels);

}  // namespace flatclr::eval
