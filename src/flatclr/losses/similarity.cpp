#include "flatclr/losses/similarity.h"

#include <torch/torch.h>

#include <limits>

#include "flatclr/core/error.h"

namespace flatclr::losses {

at::Tensor cosine_similarity_matrix(const at::Tensor& z) {
  FLATCLR_CHECK(z.dim() == 2 && z.size(0) % 2 == 0 && z.size(0) >= 4, "z must be [2N, D] with N >= 2, got ",
                z.sizes());
  auto zf = z.scalar_type() == at::kDouble ? z : z.to(at::kFloat);
  auto zn =
      torch::nn::functional::normalize(zf, torch::nn::functional::NormalizeFuncOptions().dim(1).eps(1e-12));
  return torch::mm(zn, zn.t());
}

at::Tensor positive_index(int64_t two_n, const at::TensorOptions& options) {
  return (torch::arange(two_n, options.dtype(at::kLong)) + two_n / 2).remainder(two_n);
}

at::Tensor positive_similarity(const at::Tensor& s) {
  const auto pos = positive_index(s.size(0), s.options());
  return s.gather(1, pos.unsqueeze(1)).squeeze(1);
}

at::Tensor non_negative_mask(int64_t two_n, const at::Device& device) {
  auto opts = torch::TensorOptions().device(device);
  auto rows = torch::arange(two_n, opts.dtype(at::kLong));
  auto mask = torch::eye(two_n, opts.dtype(at::kBool));
  mask.index_put_({rows, positive_index(two_n, opts)}, true);
  return mask;
}

at::Tensor log_xi(const at::Tensor& s, double temperature) {
  const int64_t two_n = s.size(0);
  auto d = (s - positive_similarity(s).unsqueeze(1)) / temperature;
  d = d.masked_fill(non_negative_mask(two_n, s.device()), -std::numeric_limits<double>::infinity());
  return torch::logsumexp(d, 1);
}

}  // namespace flatclr::losses
