// The log-K mechanism, measured: how much of a contrastive loss's gradient survives float32 arithmetic as the
// positive's probability p+ goes to 1 (the regime a small batch reaches once the encoder separates its
// few negatives).
//
// Controlled batches: 2N views in D = 3N dimensions, z_i = sqrt(c) e_{i mod N} + sqrt(1 - c) e_{N + i}, so
// that every row's positive (i +- N) is at cosine c and its 2N - 2 negatives at cosine 0. Every row then has
//   p+ = e^{c/tau} / (e^{c/tau} + 2N - 2),   and the temperature that sets a given p+ is
//   tau = c / log(p+ (2N - 2) / (1 - p+)).
// The logit gap is set directly through tau; nothing is trained.
//
// InfoNCE's gradient is (1 - p+) times FlatNCE's, row by row (losses/flat_nce.h). InfoNCE computes it as
// softmax - one-hot, where the positive's entry p+ - 1 cancels in float32 once 1 - p+ nears float32's epsilon
// (6e-8): its gradient vanishes and is then mostly rounding error. FlatNCE's gradient, exp(v - sg(v)) with
// v = log sum_neg e^{(s_neg - s_pos)/tau}, involves no such difference and keeps its size and its accuracy.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "flatclr/losses/method.h"

namespace flatclr::losses {

// The controlled batch above: [2N, 3N] of `dtype`.
at::Tensor controlled_views(int64_t n, double cosine, at::ScalarType dtype);

// The temperature at which every row of controlled_views(n, cosine) has positive probability p_pos, in
// (1 / (2N - 1), 1).
double temperature_for(double p_pos, int64_t n, double cosine);

struct GradientPrecision {
  double p_pos = 0;        // as set
  double temperature = 0;  // that sets it
  double grad_norm = 0;    // ||dL/dz||, computed in float64 (the reference)
  double grad_norm32 = 0;  // the same computed in float32
  double rel_error32 = 0;  // ||g32 - g64|| / ||g64||: above ~1 the float32 gradient is rounding noise
};

// The gradient of `method`'s loss with respect to the views, in float64 and float32, at positive probability
// p_pos (N = n images, positives at cosine `cosine`).
GradientPrecision gradient_precision(Method method, double p_pos, int64_t n, double cosine = 0.5);

}  // namespace flatclr::losses
