#include "flatclr/losses/info_nce.h"

#include <torch/torch.h>

#include <limits>

#include "flatclr/core/error.h"
#include "flatclr/losses/similarity.h"

namespace flatclr::losses {

at::Tensor info_nce_rows(const at::Tensor& s, double temperature) {
  const int64_t two_n = s.size(0);
  auto logits = s / temperature;
  // Drop self-similarity only: the log-sum-exp then runs over the positive and the 2N-2 negatives.
  auto self = torch::eye(two_n, torch::TensorOptions().dtype(at::kBool).device(s.device()));
  auto masked = logits.masked_fill(self, -std::numeric_limits<double>::infinity());
  return torch::logsumexp(masked, 1) - positive_similarity(logits);
}

ContrastiveOutput info_nce_loss(const at::Tensor& z, double temperature) {
  FLATCLR_CHECK(temperature > 0, "temperature ", temperature);
  ContrastiveOutput out;
  auto s = cosine_similarity_matrix(z);
  out.loss = info_nce_rows(s, temperature).mean();
  out.info_nce = out.loss.detach();
  out.similarity = s.detach();
  out.log_xi = log_xi(out.similarity, temperature);
  return out;
}

}  // namespace flatclr::losses
