#include "flatclr/losses/diagnostics.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "flatclr/core/error.h"
#include "flatclr/losses/similarity.h"

namespace flatclr::losses {

namespace {
const char* const kNames[kNumBatchDiagnostics] = {"info_nce",  "mi_estimate", "v_mean",     "p_pos_mean",
                                                  "p_pos_min", "saturated",   "grad_ratio", "ess",
                                                  "pos_sim",   "neg_sim",     "alignment",  "uniformity"};

// u: [N, N] cosine similarities within one view -> log mean_{i<j} exp(-2 ||u_i - u_j||^2), where
// ||u - v||^2 = 2 - 2 s for unit vectors. The exponent lies in [-8, 0], so no log-sum-exp shift is needed.
at::Tensor uniformity_within(const at::Tensor& s) {
  const int64_t n = s.size(0);
  return torch::log(torch::triu(torch::exp(-4 * (1 - s)), 1).sum() / static_cast<double>(n * (n - 1) / 2));
}
}  // namespace

const char* const* batch_diagnostic_names() { return kNames; }

double log_k(int64_t batch_size) { return std::log(static_cast<double>(2 * batch_size - 1)); }

BatchDiagnostics batch_diagnostics(const at::Tensor& similarity, double temperature) {
  FLATCLR_CHECK(temperature > 0, "temperature ", temperature);
  FLATCLR_CHECK(similarity.dim() == 2 && similarity.size(0) == similarity.size(1) &&
                    similarity.size(0) >= 4 && similarity.size(0) % 2 == 0,
                "similarity must be [2N, 2N] with N >= 2, got ", similarity.sizes());
  torch::NoGradGuard no_grad;
  auto s = similarity.detach().to(at::kDouble);
  const int64_t two_n = s.size(0), n = two_n / 2;
  BatchDiagnostics d;
  auto v = log_xi(s, temperature);      // [2N]
  auto p_pos = torch::sigmoid(-v);      // 1 / (1 + xi)
  auto s_pos = positive_similarity(s);  // [2N]
  auto neg_mask = non_negative_mask(two_n, s.device()).logical_not();
  d.info_nce = torch::nn::functional::softplus(v).mean();
  d.mi_estimate = log_k(n) - d.info_nce;
  d.v_mean = v.mean();
  d.p_pos_mean = p_pos.mean();
  d.p_pos_min = p_pos.min();
  d.saturated = (p_pos > 0.99).to(at::kDouble).mean();
  d.grad_ratio = (1 - p_pos).mean();
  // Negative weights w_ij = softmax over neg(i) of s_ij / tau; ESS_i = 1 / sum w^2.
  auto logits =
      (s / temperature).masked_fill(neg_mask.logical_not(), -std::numeric_limits<double>::infinity());
  auto w = torch::softmax(logits, 1);
  d.ess = (1.0 / (w * w).sum(1)).mean() / static_cast<double>(two_n - 2);
  d.pos_sim = s_pos.mean();
  // Every entry but the diagonal and the positives: 2N (2N - 2) of them.
  d.neg_sim = (s.sum() - s.diagonal().sum() - s_pos.sum()) / static_cast<double>(two_n * (two_n - 2));
  d.alignment = (2 - 2 * s_pos.narrow(0, 0, n)).mean();
  d.uniformity = 0.5 * (uniformity_within(s.narrow(0, 0, n).narrow(1, 0, n)) +
                        uniformity_within(s.narrow(0, n, n).narrow(1, n, n)));
  return d;
}

at::Tensor batch_diagnostics_vector(const BatchDiagnostics& d) {
  return torch::stack({d.info_nce, d.mi_estimate, d.v_mean, d.p_pos_mean, d.p_pos_min, d.saturated,
                       d.grad_ratio, d.ess, d.pos_sim, d.neg_sim, d.alignment, d.uniformity});
}

double effective_rank(const at::Tensor& x) {
  FLATCLR_CHECK(x.dim() == 2 && x.size(0) > 0 && x.size(1) > 0, "x must be [B, D], got ", x.sizes());
  torch::NoGradGuard no_grad;
  auto xd = x.detach().to(at::kDouble).cpu();
  if (!torch::isfinite(xd).all().item<bool>()) return std::nan("");
  auto sv = at::linalg_svdvals(xd);
  const double total = sv.sum().item<double>();
  if (!(total > 0)) return 0.0;  // all-zero embeddings: no rank at all
  auto p = sv / total;
  auto plogp = torch::where(p > 0, p * torch::log(p), torch::zeros_like(p));
  return std::exp(-plogp.sum().item<double>());
}

double normalized_dim_std(const at::Tensor& x) {
  FLATCLR_CHECK(x.dim() == 2 && x.size(0) > 1, "x must be [B, D] with B > 1, got ", x.sizes());
  torch::NoGradGuard no_grad;
  if (!torch::isfinite(x).all().item<bool>()) return std::nan("");
  auto xn = torch::nn::functional::normalize(x.detach().to(at::kDouble),
                                             torch::nn::functional::NormalizeFuncOptions().dim(1).eps(1e-12));
  return xn.std(0, /*unbiased=*/false).mean().item<double>();
}

}  // namespace flatclr::losses
