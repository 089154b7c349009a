// Training diagnostics of a contrastive step, computed from what the loss already produced (the [2N, 2N]
// cosine similarity matrix) plus the embeddings: no extra forward pass. Pure functions, no state, no logging
// (the trainer averages them over a logging interval). Definitions (the losses' own quantities, Wang & Isola
// 2020, Garrido et al. 2023 "RankMe"):
//   K = 2N - 1 candidates per row; log K is the ceiling of the InfoNCE mutual-information estimate
//     I_NCE = log K - InfoNCE (the "log-K curse": I_NCE can never exceed log K);
//   v_i = log xi_i = logsumexp_{j in neg(i)} (s_ij - s_i+)/tau;  p+_i = 1/(1 + xi_i) = sigmoid(-v_i), the
//     softmax probability of the positive. InfoNCE's gradient of row i is (1 - p+_i) times FlatNCE's, so rows
//     with p+ > 0.99 have all but lost their InfoNCE gradient ("saturated");
//   w_ij = exp(s_ij/tau) / sum_{k in neg(i)} exp(s_ik/tau), the weights FlatNCE gives the negatives of row i;
//     ESS_i = 1 / sum_j w_ij^2, reported as the mean of ESS_i / (2N - 2) in (0, 1] (1: uniform weights,
//     ~1/(2N-2): one hard negative takes all the weight);
//   alignment = mean over the N positive pairs of ||u - v||^2 = 2 - 2 s_i+ (alpha = 2);
//   uniformity = log mean_{i<j} exp(-2 ||u_i - u_j||^2) within each view, averaged over the two views;
//   effective rank = exp(entropy of sigma_k / sum sigma), sigma the singular values of the [B, D] embeddings;
//   per-dimension std of the L2-normalised embeddings, averaged over dimensions (1/sqrt(D) when spread,
//     -> 0 when collapsing).
#pragma once

#include <ATen/ATen.h>

namespace flatclr::losses {

// Every field a 0-dim float64 tensor on the device of the input, detached.
struct BatchDiagnostics {
  at::Tensor info_nce;     // mean_i softplus(v_i)
  at::Tensor mi_estimate;  // log(2N-1) - info_nce
  at::Tensor v_mean;       // mean_i v_i
  at::Tensor p_pos_mean;   // mean_i p+_i
  at::Tensor p_pos_min;    // min_i p+_i
  at::Tensor saturated;    // share of rows with p+_i > 0.99
  at::Tensor grad_ratio;   // mean_i (1 - p+_i): InfoNCE / FlatNCE gradient ratio
  at::Tensor ess;          // mean_i ESS_i / (2N - 2)
  at::Tensor pos_sim;      // mean_i s_i+
  at::Tensor neg_sim;      // mean over rows and negatives of s_ij
  at::Tensor alignment;    // mean over pairs of 2 - 2 s_i+
  at::Tensor uniformity;   // see above
};

// The names of the BatchDiagnostics fields in the order of batch_diagnostics_vector().
const char* const* batch_diagnostic_names();
constexpr int kNumBatchDiagnostics = 12;

// similarity: [2N, 2N] cosine similarities (rows i and i+N are the two views of one image); tau > 0.
BatchDiagnostics batch_diagnostics(const at::Tensor& similarity, double temperature);
// The same values stacked: [kNumBatchDiagnostics] float64, in batch_diagnostic_names() order.
at::Tensor batch_diagnostics_vector(const BatchDiagnostics& d);

// log(2N - 1) for a batch of N images.
double log_k(int64_t batch_size);

// x: [B, D] -> exp(entropy of the normalised singular values) as a double, in [1, min(B, D)]; NaN when x
// holds a NaN or Inf.
double effective_rank(const at::Tensor& x);
// x: [B, D] -> mean over the D dimensions of the (population) std over B of the L2-normalised rows (NaN when
// x is not finite).
double normalized_dim_std(const at::Tensor& x);

}  // namespace flatclr::losses
