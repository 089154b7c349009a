#include "flatclr/losses/flat_nce.h"

#include <torch/torch.h>

#include "flatclr/core/error.h"
#include "flatclr/losses/similarity.h"

namespace flatclr::losses {

ContrastiveOutput flat_nce_loss(const at::Tensor& z, double temperature) {
  FLATCLR_CHECK(temperature > 0, "temperature ", temperature);
  ContrastiveOutput out;
  auto s = cosine_similarity_matrix(z);
  auto v = log_xi(s, temperature);  // [2N], attached
  auto v_const = v.detach();
  // log(1 + xi) = softplus(v): the InfoNCE value, without cancellation when xi is tiny.
  out.info_nce = torch::nn::functional::softplus(v_const).mean();
  out.loss = torch::exp(v - v_const).mean() - 1 + out.info_nce;
  out.log_xi = v;
  out.similarity = s.detach();
  return out;
}

}  // namespace flatclr::losses
