// Synchronised BatchNorm (SimCLR's "global BN"; torch.nn.SyncBatchNorm's semantics): in training mode the
// statistics are those of the union of every rank's batch, so the output equals plain BatchNorm on the
// concatenated global batch, and so do the running statistics (momentum update with the unbiased
// variance over the global count).
//
// Per channel, each rank computes its count n_r, mean m_r and sum of squared deviations M2_r; these [3, C]
// stats are all-gathered with gradient (all_gather.h) and combined with Chan et al.'s parallel formula
// (numerically stable, one collective per layer): N = sum n_r, mean = sum n_r m_r / N,
// var = (sum M2_r + sum n_r (m_r - mean)^2) / N. The normalisation is then written in differentiable torch
// ops, so the backward pass (through the gathered statistics) is autograd's, with the group convention of
// all_gather.h (the gradient of J = sum over ranks of their losses).
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
