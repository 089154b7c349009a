#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "flatclr/core/error.h"
#include "flatclr/data/subset.h"

namespace {

using flatclr::data::stratified_subset;

// Unbalanced labels: class c has 50 + 37 * c examples (c = 0..4), interleaved by a fixed permutation.
at::Tensor unbalanced_labels() {
  std::vector<int64_t> v;
  for (int64_t c = 0; c < 5; ++c) v.insert(v.end(), 50 + 37 * c, c);
  for (size_t i = 0; i < v.size(); ++i) std::swap(v[i], v[(i * 7919) % v.size()]);
  return torch::tensor(v, torch::kLong);
}

std::vector<int64_t> class_counts(const at::Tensor& labels, const std::vector<int64_t>& idx, int64_t k) {
  std::vector<int64_t> counts(k, 0);
  for (int64_t i : idx) ++counts[labels[i].item<int64_t>()];
  return counts;
}

TEST(StratifiedSubset, KeepsRoundedFractionOfEveryClass) {
  const at::Tensor labels = unbalanced_labels();
  for (double fraction : {0.01, 0.1, 0.25, 0.5, 0.9}) {
    const auto idx = stratified_subset(labels, 5, fraction, 7);
    const auto counts = class_counts(labels, idx, 5);
    for (int64_t c = 0; c < 5; ++c) {
      const int64_t expected = std::max<int64_t>(1, std::llround(fraction * (50 + 37 * c)));
      EXPECT_EQ(counts[c], expected) << "fraction " << fraction << " class " << c << " of " << 50 + 37 * c;
    }
  }
}

TEST(StratifiedSubset, SortedWithoutDuplicatesAndInRange) {
  const at::Tensor labels = unbalanced_labels();
  const auto idx = stratified_subset(labels, 5, 0.3, 11);
  ASSERT_FALSE(idx.empty());
  EXPECT_TRUE(std::is_sorted(idx.begin(), idx.end()));
  EXPECT_EQ(std::set<int64_t>(idx.begin(), idx.end()).size(), idx.size());
  EXPECT_GE(idx.front(), 0);
  EXPECT_LT(idx.back(), labels.numel());
}

TEST(StratifiedSubset, DeterministicBySeedAndSeedMatters) {
  const at::Tensor labels = unbalanced_labels();
  const auto a = stratified_subset(labels, 5, 0.2, 123);
  const auto b = stratified_subset(labels, 5, 0.2, 123);
  const auto c = stratified_subset(labels, 5, 0.2, 124);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a.size(), c.size());
  // Not simply the first examples of each class.
  const auto first = stratified_subset(labels, 5, 0.2, 0);
  const auto wanted = class_counts(labels, first, 5);
  std::vector<int64_t> seen(5, 0), prefix;
  for (int64_t i = 0; i < labels.numel(); ++i) {
    const int64_t c = labels[i].item<int64_t>();
    if (seen[c]++ < wanted[c]) prefix.push_back(i);
  }
  EXPECT_NE(first, prefix);
}

TEST(StratifiedSubset, EveryElementCanBeChosen) {
  // 200 draws of 1 out of 4 per class: each of the 4 must appear (probability of a miss ~ 4 * 0.75^200).
  const at::Tensor labels = torch::tensor(std::vector<int64_t>{0, 0, 0, 0, 1, 1, 1, 1}, torch::kLong);
  std::set<int64_t> hit;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const auto idx = stratified_subset(labels, 2, 0.25, seed);
    ASSERT_EQ(idx.size(), 2u);
    EXPECT_LT(idx[0], 4);
    EXPECT_GE(idx[1], 4);
    hit.insert(idx.begin(), idx.end());
  }
  EXPECT_EQ(hit.size(), 8u);
}

TEST(StratifiedSubset, FractionOneReturnsAll) {
  const at::Tensor labels = unbalanced_labels();
  const auto idx = stratified_subset(labels, 5, 1.0, 5);
  ASSERT_EQ(static_cast<int64_t>(idx.size()), labels.numel());
  for (size_t i = 0; i < idx.size(); ++i) EXPECT_EQ(idx[i], static_cast<int64_t>(i));
}

TEST(StratifiedSubset, AtLeastOnePerPresentClassNoneForAbsentClass) {
  // Class 2 of 4 is absent; a tiny fraction still keeps one of each present class.
  const at::Tensor labels = torch::tensor(std::vector<int64_t>{0, 1, 1, 3, 3, 3, 0, 1}, torch::kLong);
  const auto idx = stratified_subset(labels, 4, 1e-6, 1);
  EXPECT_EQ(class_counts(labels, idx, 4), (std::vector<int64_t>{1, 1, 0, 1}));
}

TEST(StratifiedSubset, InvalidInputsAreUserErrors) {
  const at::Tensor labels = unbalanced_labels();
  for (double bad : {0.0, -0.1, 1.0000001, 2.0, std::nan("")}) {
    EXPECT_THROW(stratified_subset(labels, 5, bad, 0), flatclr::UserError) << bad;
  }
  try {
    stratified_subset(labels, 5, 1.5, 0);
    FAIL() << "no error";
  } catch (const flatclr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("1.5"), std::string::npos) << e.what();
  }
  EXPECT_THROW(stratified_subset(labels, 4, 0.5, 0), flatclr::UserError);  // label 4 out of range
  EXPECT_THROW(stratified_subset(torch::tensor({-1, 0}, torch::kLong), 2, 0.5, 0), flatclr::UserError);
  EXPECT_THROW(stratified_subset(labels.to(torch::kFloat), 5, 0.5, 0), flatclr::UserError);
  EXPECT_THROW(stratified_subset(labels.view({-1, 1}), 5, 0.5, 0), flatclr::UserError);
}

}  // namespace
