// Positive-pair retrieval accuracy of a batch, logged for both losses: for each of the 2N rows, the rank
// of its positive among the 2N-1 other views by cosine similarity. Top-k = share of rows whose positive
// ranks < k (ties count against the positive). Computed the same way for SimCLR and FlatCLR (the
// reference's FlatCLR "accuracy" was meaningless).
#pragma once

#include <ATen/ATen.h>

namespace flatclr::losses {

struct PairAccuracy {
  at::Tensor top1;  // scalar float in [0, 1]
  at::Tensor top5;  // scalar float in [0, 1]
};

// similarity: [2N, 2N]
PairAccuracy positive_pair_accuracy(const at::Tensor& similarity);

}  // namespace flatclr::losses
