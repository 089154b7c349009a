#include "flatclr/eval/accuracy.h"

#include <torch/torch.h>

#include <algorithm>

#include "flatclr/core/error.h"

namespace flatclr::eval {

void TopKCounts::add(const TopKCounts& other) {
  top1 += other.top1;
  top5 += other.top5;
  total += other.total;
}

double TopKCounts::top1_rate() const {
  return total > 0 ? static_cast<double>(top1) / static_cast<double>(total) : 0.0;
}

double TopKCounts::top5_rate() const {
  return total > 0 ? static_cast<double>(top5) / static_cast<double>(total) : 0.0;
}

TopKCounts topk_counts(const at::Tensor& scores, const at::Tensor& labels) {
  if (scores.dim() != 2) fail("accuracy: scores must be [N, C], got shape ", scores.sizes());
  if (labels.dim() != 1 || labels.size(0) != scores.size(0)) {
    fail("accuracy: labels must be [N] with N = ", scores.size(0), " (the rows of scores), got shape ",
         labels.sizes());
  }
  if (!at::isIntegralType(labels.scalar_type(), /*includeBool=*/false)) {
    fail("accuracy: labels must be integers, got ", labels.scalar_type());
  }
  const int64_t n = scores.size(0), c = scores.size(1);
  if (c < 1) fail("accuracy: scores have no class column");
  TopKCounts counts;
  counts.total = n;
  if (n == 0) return counts;
  const auto y = labels.to(scores.device(), at::kLong);
  // One host transfer for the range check and both counts.
  const auto top = std::get<1>(scores.topk(std::min<int64_t>(5, c), /*dim=*/1));  // [N, k], best first
  const auto hit = top.eq(y.unsqueeze(1));
  const auto stats = torch::stack({y.min(), y.max(), hit.select(1, 0).sum(), hit.any(1).sum()}).cpu();
  const auto a = stats.accessor<int64_t, 1>();
  if (a[0] < 0 || a[1] >= c) {
    fail("accuracy: labels must lie in [0, ", c, ") for ", c, " classes, got labels in [", a[0], ", ", a[1],
         "]");
  }
  counts.top1 = a[2];
  counts.top5 = a[3];
  return counts;
}

}  // namespace flatclr::eval
