#include "flatclr/losses/gradient_precision.h"

#include <torch/torch.h>

#include <cmath>

#include "flatclr/core/error.h"

namespace flatclr::losses {

at::Tensor controlled_views(int64_t n, double cosine, at::ScalarType dtype) {
  FLATCLR_CHECK(n >= 2 && cosine > 0 && cosine < 1, "controlled_views: n ", n, ", cosine ", cosine);
  auto z = torch::zeros({2 * n, 3 * n}, torch::kDouble);
  for (int64_t i = 0; i < 2 * n; ++i) {
    z[i][i % n] = std::sqrt(cosine);
    z[i][n + i] = std::sqrt(1 - cosine);
  }
  return z.to(dtype);
}

double temperature_for(double p_pos, int64_t n, double cosine) {
  const double negatives = static_cast<double>(2 * n - 2);
  FLATCLR_CHECK(p_pos > 1 / (negatives + 1) && p_pos < 1, "temperature_for: p+ ", p_pos, " with ", negatives,
                " negatives");
  // log(p (2N-2) / (1-p)), with 1 - p taken as given (p close to 1 loses it in 1 - p otherwise)
  return cosine / (std::log(p_pos) + std::log(negatives) - std::log1p(-p_pos));
}

namespace {

at::Tensor gradient(Method method, const at::Tensor& z0, double temperature) {
  auto z = z0.clone().set_requires_grad(true);
  method_info(method).loss(z, temperature).loss.backward();
  return z.grad().to(torch::kDouble);
}

}  // namespace

GradientPrecision gradient_precision(Method method, double p_pos, int64_t n, double cosine) {
  GradientPrecision r;
  r.p_pos = p_pos;
  r.temperature = temperature_for(p_pos, n, cosine);
  const auto g64 = gradient(method, controlled_views(n, cosine, torch::kDouble), r.temperature);
  const auto g32 = gradient(method, controlled_views(n, cosine, torch::kFloat), r.temperature);
  r.grad_norm = g64.norm().item<double>();
  r.grad_norm32 = g32.norm().item<double>();
  r.rel_error32 = r.grad_norm > 0 ? (g32 - g64).norm().item<double>() / r.grad_norm : 0.0;
  return r;
}

}  // namespace flatclr::losses
