// What a contrastive loss returns (pure data, no state).
#pragma once

#include <ATen/ATen.h>

namespace flatclr::losses {

struct ContrastiveOutput {
  at::Tensor loss;        // scalar to backpropagate (FlatNCE: value 0 + detached InfoNCE; see flat_nce.h)
  at::Tensor info_nce;    // scalar, detached: the InfoNCE value, logged for both losses
  at::Tensor log_xi;      // [2N] v_i = log sum_{j in neg(i)} exp((s_ij - s_i+)/tau)  (attached for FlatNCE)
  at::Tensor similarity;  // [2N, 2N] detached cosine similarities, float32 or wider
};

}  // namespace flatclr::losses
