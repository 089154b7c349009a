// The pairwise quantities shared by the contrastive losses.
// A batch of N images gives 2N views stacked as [view 1 of all N ; view 2 of all N]; the positive of row i
// is p(i) = (i + N) mod 2N and its negatives are every j not in {i, p(i)} (2N - 2 of them).
#pragma once

#include <ATen/ATen.h>

namespace flatclr::losses {

// z: [2N, D] -> S: [2N, 2N] cosine similarities of the L2-normalised rows (eps 1e-12), computed in
// float32 when z is a lower precision (loss arithmetic stays in fp32 or wider under mixed precision).
at::Tensor cosine_similarity_matrix(const at::Tensor& z);

// [2N] int64: p(i) = (i + N) mod 2N.
at::Tensor positive_index(int64_t two_n, const at::TensorOptions& options);

// S: [2N, 2N] -> [2N] s_{i,p(i)}
at::Tensor positive_similarity(const at::Tensor& similarity);

// [2N, 2N] bool, true on the diagonal and at (i, p(i)): the entries that are not negatives.
at::Tensor non_negative_mask(int64_t two_n, const at::Device& device);

// S: [2N, 2N] -> v: [2N], v_i = logsumexp_{j in neg(i)} (s_ij - s_{i,p(i)}) / tau = log xi_i.
at::Tensor log_xi(const at::Tensor& similarity, double temperature);

}  // namespace flatclr::losses
