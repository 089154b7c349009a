// Synchronised BatchNorm (SimCLR's "global BN"; torch.nn.SyncBatchNorm's semantics): in training mode the
// statistics are those of the union of every rank's batch, so the output equals plain BatchNorm on the
// concatenated global batch, and so do the running statistics (momentum update with the unbiased
// variance over the global count).
//
// Per channel, each rank computes its count n_r, mean m_r and sum of squared deviations M2_r (LibTorch's
// fused batch-norm statistics kernel); these [3, C] stats are all-gathered and combined with Chan et al.'s
// parallel formula (numerically stable, one collective per layer): N = sum n_r, mean = sum n_r m_r / N, var =
// (sum M2_r + sum n_r (m_r - mean)^2) / N. The normalisation is LibTorch's fused kernel with these
// statistics, and the backward is written out (one all-reduce of sum dy and sum dy * xhat per layer):
// dx = w invstd (dy - sum dy / N - xhat sum(dy xhat) / N) with the sums over the global batch, and each
// rank's weight/bias gradients are its own rows' sums, i.e. the gradient of J = sum over ranks of their
// losses (the convention of all_gather.h; the gradient average then divides by the world size), as
// torch.nn.SyncBatchNorm. Measured by bench/bench_sync_batch_norm (forward + backward of a ResNet-18, 64
// images): 0.92x LibTorch's BatchNorm with LibTorch 2.11 (1.07x with 1.13; the same in autograd ops: 1.58x).
#pragma once

#include <memory>

#include "flatclr/dist/process_group.h"
#include "flatclr/models/batch_norm.h"

namespace flatclr::dist {

class SyncBatchNorm : public models::BatchNormSync {
 public:
  explicit SyncBatchNorm(std::shared_ptr<ProcessGroup> group) : group_(std::move(group)) {}
  // x: [n_r, C, *] (n_r may differ between ranks) -> [n_r, C, *]
  at::Tensor forward(const at::Tensor& x, const models::BatchNormState& state) override;

 private:
  std::shared_ptr<ProcessGroup> group_;
};

}  // namespace flatclr::dist
