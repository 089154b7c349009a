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
  // Compared, not written with index_put_(..., true): on CUDA that host scalar becomes a CPU tensor copied to
  // the device with a stream sync, which a CUDA graph capture does not allow.
  const auto opts = torch::TensorOptions().device(device).dtype(at::kLong);
  const auto cols = torch::arange(two_n, opts).unsqueeze(0);        // [1, 2N]
  const auto rows = torch::arange(two_n, opts).unsqueeze(1);        // [2N, 1]
  const auto positives = positive_index(two_n, opts).unsqueeze(1);  // [2N, 1]
  return cols.eq(rows).logical_or(cols.eq(positives));              // [2N, 2N]
}

at::Tensor log_xi(const at::Tensor& s, double temperature) {
  const int64_t two_n = s.size(0);
  auto d = (s - positive_similarity(s).unsqueeze(1)) / temperature;
  d = d.masked_fill(non_negative_mask(two_n, s.device()), -std::numeric_limits<double>::infinity());
  return torch::logsumexp(d, 1);
}

}  // namespace flatclr::losses
