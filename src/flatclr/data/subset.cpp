#include "flatclr/data/subset.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "flatclr/core/error.h"
#include "flatclr/core/rng.h"

namespace flatclr::data {

namespace {
constexpr uint64_t kSubsetStream = 0x5375627365744C62ull;  // keeps these draws apart from other uses of seed
}

std::vector<int64_t> stratified_subset(const at::Tensor& labels, int64_t num_classes, double fraction,
                                       uint64_t seed) {
  if (!(fraction > 0.0 && fraction <= 1.0)) {
    fail("label fraction ", fraction, " is out of range: expected a value in (0, 1], e.g. 0.01 or 0.1");
  }
  if (num_classes < 1) fail("stratified_subset: num_classes must be at least 1, got ", num_classes);
  if (labels.dim() != 1 || at::isFloatingType(labels.scalar_type()) || labels.scalar_type() == at::kBool) {
    fail("stratified_subset: labels must be a 1-D integer tensor, got ", labels.sizes(), " ",
         labels.scalar_type());
  }
  const at::Tensor l = labels.to(at::kCPU, at::kLong).contiguous();
  const int64_t* data = l.data_ptr<int64_t>();
  const int64_t n = l.numel();

  std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(num_classes));
  for (int64_t i = 0; i < n; ++i) {
    if (data[i] < 0 || data[i] >= num_classes) {
      fail("stratified_subset: label ", data[i], " at index ", i, " is outside 0..", num_classes - 1);
    }
    by_class[static_cast<size_t>(data[i])].push_back(i);
  }

  std::vector<int64_t> chosen;
  for (int64_t c = 0; c < num_classes; ++c) {
    auto& idx = by_class[static_cast<size_t>(c)];
    const auto count = static_cast<int64_t>(idx.size());
    if (count == 0) continue;
    const int64_t keep =
        std::min(count, std::max<int64_t>(1, std::llround(fraction * static_cast<double>(count))));
    // Forward Fisher-Yates, stopped after `keep` steps: idx[0..keep) is a uniform random subset.
    core::Rng rng(core::hash_key({kSubsetStream, seed, static_cast<uint64_t>(c)}));
    for (int64_t i = 0; i < keep; ++i) {
      const auto j = i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(count - i)));
      std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(j)]);
    }
    chosen.insert(chosen.end(), idx.begin(), idx.begin() + keep);
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

}  // namespace flatclr::data
