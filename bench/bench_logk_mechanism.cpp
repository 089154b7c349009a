// The log-K mechanism, measured (losses/gradient_precision.h): on controlled batches whose positive
// probability p+ is set directly (through the temperature) from 0.5 to 1 - 1e-7, the norm of the gradient of
// InfoNCE and of FlatNCE with respect to the views, computed in float64, and the relative error of the same
// gradient computed in float32. Prints a table and the p+ from which InfoNCE's float32 gradient is mostly
// rounding error (relative error >= 0.5) while FlatNCE's is not.
//   build/bench_logk_mechanism [--batch N (images, default 16)] [--cosine C (positives' cosine, default 0.5)]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "flatclr/losses/gradient_precision.h"

int main(int argc, char** argv) {
  using flatclr::losses::Method;
  int64_t n = 16;
  double cosine = 0.5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--batch")) n = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--cosine")) cosine = std::atof(argv[i + 1]);
  }
  std::printf(
      "log-K mechanism: batch %lld (2N = %lld views, %lld negatives per row), positives at cosine %.2f\n",
      static_cast<long long>(n), static_cast<long long>(2 * n), static_cast<long long>(2 * n - 2), cosine);
  std::printf("%-12s %8s | %12s %12s | %12s %12s | %12s\n", "1 - p+", "tau", "InfoNCE |g|", "fp32 rel err",
              "FlatNCE |g|", "fp32 rel err", "|g| ratio");
  double drowned_at = -1;
  for (double q : {0.5, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 3e-6, 1e-6, 3e-7, 1e-7}) {
    const double p = 1 - q;
    const auto info = flatclr::losses::gradient_precision(Method::kSimCLR, p, n, cosine);
    const auto flat = flatclr::losses::gradient_precision(Method::kFlatCLR, p, n, cosine);
    std::printf("%-12.1e %8.4f | %12.4e %12.2e | %12.4e %12.2e | %12.4e\n", q, info.temperature,
                info.grad_norm, info.rel_error32, flat.grad_norm, flat.rel_error32,
                info.grad_norm / flat.grad_norm);
    if (drowned_at < 0 && info.rel_error32 >= 0.5 && flat.rel_error32 < 1e-3) drowned_at = q;
  }
  if (drowned_at > 0) {
    std::printf(
        "InfoNCE's float32 gradient is mostly rounding error from 1 - p+ = %.1e on; FlatNCE's stays "
        "accurate\n",
        drowned_at);
  } else {
    std::printf("InfoNCE's float32 gradient kept its accuracy over this range\n");
  }
  return 0;
}
