#include "flatclr/eval/knn.h"

#include <torch/torch.h>

#include <algorithm>
#include <functional>

#include "flatclr/core/error.h"

namespace flatclr::eval {
namespace {

namespace F = torch::nn::functional;

// Validated, L2-normalised inputs shared by knn_scores and knn_evaluate.
struct KnnBank {
  at::Tensor train;   // [N, D] normalised, floating
  at::Tensor labels;  // [N] int64
  at::Tensor test;    // [M, D] normalised, same dtype as train
  int64_t k = 0;      // clamped to N
};

at::Tensor normalized(const at::Tensor& x) {
  // Reduced-precision features are compared in float32; float32/float64 keep their dtype.
  const auto dtype =
      at::isFloatingType(x.scalar_type()) && x.element_size() >= 4 ? x.scalar_type() : at::kFloat;
  return F::normalize(x.to(dtype), F::NormalizeFuncOptions().p(2).dim(1).eps(1e-12));
}

KnnBank make_bank(const at::Tensor& train_features, const at::Tensor& train_labels,
                  const at::Tensor& test_features, int64_t num_classes, int64_t k, double temperature,
                  int64_t chunk) {
  if (k < 1) fail("knn: k must be >= 1, got ", k);
  if (!(temperature > 0)) fail("knn: temperature must be > 0, got ", temperature);
  if (chunk < 1) fail("knn: chunk must be >= 1, got ", chunk);
  if (num_classes < 1) fail("knn: num_classes must be >= 1, got ", num_classes);
  if (train_features.dim() != 2 || train_features.size(0) < 1) {
    fail("knn: train features must be [N, D] with N >= 1, got shape ", train_features.sizes());
  }
  if (test_features.dim() != 2 || test_features.size(1) != train_features.size(1)) {
    fail("knn: test features must be [M, ", train_features.size(1), "] like the train features, got shape ",
         test_features.sizes());
  }
  if (train_labels.dim() != 1 || train_labels.size(0) != train_features.size(0)) {
    fail("knn: train labels must be [", train_features.size(0), "], got shape ", train_labels.sizes());
  }
  if (!at::isIntegralType(train_labels.scalar_type(), /*includeBool=*/false)) {
    fail("knn: train labels must be integers, got ", train_labels.scalar_type());
  }
  if (test_features.device() != train_features.device() || train_labels.device() != train_features.device()) {
    fail("knn: train features (", train_features.device(), "), train labels (", train_labels.device(),
         ") and test features (", test_features.device(), ") must be on one device");
  }
  KnnBank bank;
  bank.labels = train_labels.to(at::kLong);
  const int64_t lo = bank.labels.min().item<int64_t>(), hi = bank.labels.max().item<int64_t>();
  if (lo < 0 || hi >= num_classes) {
    fail("knn: train labels must lie in [0, ", num_classes, "), got labels in [", lo, ", ", hi, "]");
  }
  bank.train = normalized(train_features);
  bank.test = normalized(test_features).to(bank.train.scalar_type());
  bank.k = std::min(k, train_features.size(0));
  return bank;
}

// Calls visit(begin, scores [rows, C] float64) for consecutive chunks of test rows.
void for_each_chunk(const KnnBank& bank, int64_t num_classes, double temperature, int64_t chunk,
                    const std::function<void(int64_t, const at::Tensor&)>& visit) {
  torch::NoGradGuard no_grad;
  const int64_t m = bank.test.size(0);
  const auto train_t = bank.train.t();
  for (int64_t begin = 0; begin < m; begin += chunk) {
    const int64_t end = std::min(m, begin + chunk);
    const auto sim = bank.test.slice(0, begin, end).mm(train_t);  // [rows, N]
    auto [top_sim, top_idx] = sim.topk(bank.k, /*dim=*/1);        // [rows, k]
    const auto weights = top_sim.to(at::kDouble).div(temperature).exp();
    const auto neighbour_labels = bank.labels.take(top_idx);  // [rows, k]
    auto scores = torch::zeros({end - begin, num_classes}, weights.options());
    scores.scatter_add_(1, neighbour_labels, weights);
    visit(begin, scores);
  }
}

}  // namespace

at::Tensor knn_scores(const at::Tensor& train_features, const at::Tensor& train_labels,
                      const at::Tensor& test_features, int64_t num_classes, int64_t k, double temperature,
                      int64_t chunk) {
  const auto bank =
      make_bank(train_features, train_labels, test_features, num_classes, k, temperature, chunk);
  auto out = torch::zeros({bank.test.size(0), num_classes}, bank.train.options().dtype(at::kDouble));
  for_each_chunk(bank, num_classes, temperature, chunk, [&](int64_t begin, const at::Tensor& scores) {
    out.slice(0, begin, begin + scores.size(0)).copy_(scores);
  });
  return out;
}

TopKCounts knn_evaluate(const at::Tensor& train_features, const at::Tensor& train_labels,
                        const at::Tensor& test_features, const at::Tensor& test_labels, int64_t num_classes,
                        int64_t k, double temperature, int64_t chunk) {
  const auto bank =
      make_bank(train_features, train_labels, test_features, num_classes, k, temperature, chunk);
  if (test_labels.dim() != 1 || test_labels.size(0) != test_features.size(0)) {
    fail("knn: test labels must be [", test_features.size(0), "], got shape ", test_labels.sizes());
  }
  TopKCounts counts;
  for_each_chunk(bank, num_classes, temperature, chunk, [&](int64_t begin, const at::Tensor& scores) {
    counts.add(topk_counts(scores, test_labels.slice(0, begin, begin + scores.size(0))));
  });
  return counts;
}

}  // namespace flatclr::eval
