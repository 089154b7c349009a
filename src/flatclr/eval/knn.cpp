#include "flatclr/eval/knn.h"

#include <torch/torch.h>

#include <algorithm>
#include <functional>

#include "flatclr/core/error.h"

namespace flatclr::eval {
namespace {

namespace F = torch::nn::functional;

constexpr double kNormEps = 1e-12;

// Reduced-precision features are compared in float32; float32/float64 keep their dtype.
at::ScalarType compare_type(const at::Tensor& x) {
  return at::isFloatingType(x.scalar_type()) && x.element_size() >= 4 ? x.scalar_type() : at::kFloat;
}

void check_common(int64_t k, double temperature, int64_t num_classes) {
  if (k < 1) fail("knn: k must be >= 1, got ", k);
  if (!(temperature > 0)) fail("knn: temperature must be > 0, got ", temperature);
  if (num_classes < 1) fail("knn: num_classes must be >= 1, got ", num_classes);
}

}  // namespace

void KnnBank::normalize_rows_(at::Tensor& x) {
  FLATCLR_CHECK(x.dim() == 2 && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble),
                "KnnBank::normalize_rows_: [n, D] float32/64, got ", x.sizes(), " ", x.scalar_type());
  x.div_(x.norm(2, 1, /*keepdim=*/true).clamp_min(kNormEps).expand_as(x));
}

KnnBank::KnnBank(const at::Tensor& train_features, const at::Tensor& train_labels, int64_t num_classes,
                 int64_t k, double temperature, bool normalized)
    : num_classes_(num_classes), temperature_(temperature) {
  check_common(k, temperature, num_classes);
  if (train_features.dim() != 2 || train_features.size(0) < 1) {
    fail("knn: train features must be [N, D] with N >= 1, got shape ", train_features.sizes());
  }
  if (train_labels.dim() != 1 || train_labels.size(0) != train_features.size(0)) {
    fail("knn: train labels must be [", train_features.size(0), "], got shape ", train_labels.sizes());
  }
  if (!at::isIntegralType(train_labels.scalar_type(), /*includeBool=*/false)) {
    fail("knn: train labels must be integers, got ", train_labels.scalar_type());
  }
  if (train_labels.device() != train_features.device()) {
    fail("knn: train features (", train_features.device(), ") and train labels (", train_labels.device(),
         ") must be on one device");
  }
  labels_ = train_labels.to(at::kLong);
  const int64_t lo = labels_.min().item<int64_t>(), hi = labels_.max().item<int64_t>();
  if (lo < 0 || hi >= num_classes) {
    fail("knn: train labels must lie in [0, ", num_classes, "), got labels in [", lo, ", ", hi, "]");
  }
  if (normalized) {
    FLATCLR_CHECK(compare_type(train_features) == train_features.scalar_type(),
                  "KnnBank: a normalised bank must be float32/64");
    train_ = train_features;
  } else {
    train_ = F::normalize(train_features.to(compare_type(train_features)),
                          F::NormalizeFuncOptions().p(2).dim(1).eps(kNormEps));
  }
  k_ = std::min(k, train_features.size(0));
}

at::Tensor KnnBank::scores(const at::Tensor& test_features, int64_t chunk) const {
  if (chunk < 1) fail("knn: chunk must be >= 1, got ", chunk);
  if (test_features.dim() != 2 || test_features.size(1) != train_.size(1)) {
    fail("knn: test features must be [M, ", train_.size(1), "] like the train features, got shape ",
         test_features.sizes());
  }
  if (test_features.device() != train_.device()) {
    fail("knn: test features (", test_features.device(), ") must be on the bank's device (", train_.device(),
         ")");
  }
  torch::NoGradGuard no_grad;
  const auto test = F::normalize(test_features.to(compare_type(test_features)),
                                 F::NormalizeFuncOptions().p(2).dim(1).eps(kNormEps))
                        .to(train_.scalar_type());
  const int64_t n = train_.size(0), m = test.size(0);
  const int64_t rows = std::max<int64_t>(1, std::min(chunk, kKnnChunkBytes / (n * train_.element_size())));
  auto out = torch::empty({m, num_classes_}, train_.options().dtype(at::kDouble));
  const auto train_t = train_.t();
  for (int64_t begin = 0; begin < m; begin += rows) {
    const int64_t end = std::min(m, begin + rows);
    const auto sim = test.slice(0, begin, end).mm(train_t);  // [rows, N]
    auto [top_sim, top_idx] = sim.topk(k_, /*dim=*/1);       // [rows, k]
    const auto weights = top_sim.to(at::kDouble).div(temperature_).exp();
    const auto neighbour_labels = labels_.take(top_idx);  // [rows, k]
    out.slice(0, begin, end).zero_().scatter_add_(1, neighbour_labels, weights);
  }
  return out;
}

TopKCounts KnnBank::evaluate(const at::Tensor& test_features, const at::Tensor& test_labels,
                             int64_t chunk) const {
  if (test_labels.dim() != 1 || test_labels.size(0) != test_features.size(0)) {
    fail("knn: test labels must be [", test_features.size(0), "], got shape ", test_labels.sizes());
  }
  TopKCounts counts;
  const int64_t m = test_features.size(0);
  // Chunks of queries here too, so that the [M, C] scores are never held at once.
  for (int64_t begin = 0; begin < m; begin += std::max<int64_t>(chunk, 1)) {
    const int64_t end = std::min(m, begin + std::max<int64_t>(chunk, 1));
    counts.add(topk_counts(scores(test_features.slice(0, begin, end), chunk),
                           test_labels.slice(0, begin, end).to(train_.device())));
  }
  return counts;
}

at::Tensor knn_scores(const at::Tensor& train_features, const at::Tensor& train_labels,
                      const at::Tensor& test_features, int64_t num_classes, int64_t k, double temperature,
                      int64_t chunk) {
  check_common(k, temperature, num_classes);
  if (chunk < 1) fail("knn: chunk must be >= 1, got ", chunk);
  return KnnBank(train_features, train_labels, num_classes, k, temperature).scores(test_features, chunk);
}

TopKCounts knn_evaluate(const at::Tensor& train_features, const at::Tensor& train_labels,
                        const at::Tensor& test_features, const at::Tensor& test_labels, int64_t num_classes,
                        int64_t k, double temperature, int64_t chunk) {
  check_common(k, temperature, num_classes);
  if (chunk < 1) fail("knn: chunk must be >= 1, got ", chunk);
  return KnnBank(train_features, train_labels, num_classes, k, temperature)
      .evaluate(test_features, test_labels, chunk);
}

}  // namespace flatclr::eval
