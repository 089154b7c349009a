// Top-1 / top-5 counts against a float64 rank reference, closed-form cases, per-sample (not per-batch)
// averaging over uneven batches, fewer than 5 classes, and input errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "flatclr/core/error.h"
#include "flatclr/eval/accuracy.h"

using flatclr::eval::topk_counts;
using flatclr::eval::TopKCounts;

namespace {

// Rank of the label = number of classes with a strictly larger score (random scores: no ties).
TopKCounts naive_counts(const at::Tensor& scores, const at::Tensor& labels) {
  const auto s = scores.to(at::kDouble).contiguous();
  const auto a = s.accessor<double, 2>();
  const auto y = labels.accessor<int64_t, 1>();
  TopKCounts c;
  for (int64_t i = 0; i < s.size(0); ++i) {
    int64_t rank = 0;
    for (int64_t j = 0; j < s.size(1); ++j) rank += a[i][j] > a[i][y[i]];
    c.top1 += rank == 0;
    c.top5 += rank < 5;
    ++c.total;
  }
  return c;
}

std::string error_of(const at::Tensor& scores, const at::Tensor& labels) {
  try {
    topk_counts(scores, labels);
  } catch (const flatclr::UserError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(TopKCounts, ClosedFormRanks) {
  // Label ranks 0, 4, 4, 5 and 1 among 6 classes: top-1 hits 1, top-5 hits 4 (rank 5 misses).
  auto scores = torch::tensor({{9., 1., 2., 3., 4., 5.},
                               {1., 2., 9., 8., 7., 3.},
                               {6., 5., 4., 3., 2., 1.},
                               {6., 5., 4., 3., 2., 1.},
                               {0., 1., 2., 3., 4., 5.}},
                              at::kFloat);
  auto labels = torch::tensor({0, 1, 4, 5, 4}, at::kLong);
  const auto c = topk_counts(scores, labels);
  EXPECT_EQ(c.top1, 1);
  EXPECT_EQ(c.top5, 4);
  EXPECT_EQ(c.total, 5);
  EXPECT_DOUBLE_EQ(c.top1_rate(), 0.2);
  EXPECT_DOUBLE_EQ(c.top5_rate(), 0.8);
}

TEST(TopKCounts, MatchesRankReferenceOnRandomScores) {
  torch::manual_seed(3);
  for (int64_t classes : {1, 2, 5, 6, 10, 100}) {
    auto scores = torch::randn({257, classes}, at::kFloat);
    auto labels = torch::randint(0, classes, {257}, at::kLong);
    const auto got = topk_counts(scores, labels), want = naive_counts(scores, labels);
    EXPECT_EQ(got.top1, want.top1) << classes << " classes";
    EXPECT_EQ(got.top5, want.top5) << classes << " classes";
    EXPECT_EQ(got.total, 257);
    if (classes <= 5) EXPECT_EQ(got.top5, got.total) << "fewer than 6 classes: top-5 = top-C, always right";
    if (classes == 100) {
      EXPECT_GT(got.top5, got.top1) << "the test must exercise the top-5 path";
      EXPECT_LT(got.top5, got.total);
    }
  }
  // float64 and int32 labels go through the same path.
  auto scores = torch::randn({50, 8}, at::kDouble);
  auto labels = torch::randint(0, 8, {50}, at::kInt);
  const auto got = topk_counts(scores, labels), want = naive_counts(scores, labels.to(at::kLong));
  EXPECT_EQ(got.top1, want.top1);
  EXPECT_EQ(got.top5, want.top5);
}

TEST(TopKCounts, CountsPerSampleAcrossUnevenBatches) {
  // Batch A: 4 samples, 1 right; batch B: 1 sample, right. Per sample: 2/5 = 0.4; the reference's
  // per-batch mean would be (0.25 + 1) / 2 = 0.625.
  auto scores = torch::tensor({{1., 0.}, {1., 0.}, {1., 0.}, {1., 0.}, {0., 1.}}, at::kFloat);
  auto labels = torch::tensor({0, 1, 1, 1, 1}, at::kLong);
  TopKCounts sum;
  sum.add(topk_counts(scores.slice(0, 0, 4), labels.slice(0, 0, 4)));
  sum.add(topk_counts(scores.slice(0, 4, 5), labels.slice(0, 4, 5)));
  EXPECT_EQ(sum.top1, 2);
  EXPECT_EQ(sum.total, 5);
  EXPECT_DOUBLE_EQ(sum.top1_rate(), 0.4);
  const auto whole = topk_counts(scores, labels);
  EXPECT_EQ(whole.top1, sum.top1);
  EXPECT_EQ(whole.top5, sum.top5);
  EXPECT_EQ(whole.total, sum.total);

  // Random split sizes add up to the whole, too.
  torch::manual_seed(5);
  auto s = torch::randn({100, 12}), y = torch::randint(0, 12, {100}, at::kLong);
  TopKCounts parts;
  for (auto [b, e] : std::vector<std::pair<int64_t, int64_t>>{{0, 37}, {37, 38}, {38, 99}, {99, 100}}) {
    parts.add(topk_counts(s.slice(0, b, e), y.slice(0, b, e)));
  }
  const auto all = topk_counts(s, y);
  EXPECT_EQ(parts.top1, all.top1);
  EXPECT_EQ(parts.top5, all.top5);
  EXPECT_EQ(parts.total, 100);
}

TEST(TopKCounts, EmptyInputCountsNothing) {
  const auto c = topk_counts(torch::zeros({0, 10}), torch::zeros({0}, at::kLong));
  EXPECT_EQ(c.total, 0);
  EXPECT_EQ(c.top1_rate(), 0.0);
  EXPECT_EQ(c.top5_rate(), 0.0);
  EXPECT_EQ(TopKCounts{}.top1_rate(), 0.0);
}

TEST(TopKCounts, RejectsBadInput) {
  const auto s = torch::zeros({3, 4});
  EXPECT_NE(error_of(s, torch::tensor({0, 1, 4}, at::kLong)).find("[0, 4)"), std::string::npos);
  EXPECT_NE(error_of(s, torch::tensor({0, -1, 2}, at::kLong)).find("-1"), std::string::npos);
  EXPECT_NE(error_of(s, torch::tensor({0, 1}, at::kLong)).find("labels must be [N]"), std::string::npos);
  EXPECT_NE(error_of(torch::zeros({3}), torch::tensor({0, 1, 2}, at::kLong)).find("[N, C]"),
            std::string::npos);
  EXPECT_NE(error_of(s, torch::tensor({0., 1., 2.})).find("integers"), std::string::npos);
  EXPECT_EQ(error_of(s, torch::tensor({0, 1, 3}, at::kLong)), "no error");
}
