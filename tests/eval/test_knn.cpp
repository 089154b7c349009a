// Weighted cosine kNN against a brute-force float64 reference (double loops and a sort), closed forms
// (self-retrieval, separated clusters), chunking, k > N, and input errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "flatclr/core/error.h"
#include "flatclr/eval/knn.h"

using flatclr::eval::knn_evaluate;
using flatclr::eval::knn_scores;
using flatclr::eval::topk_counts;

namespace {

// Straight from the definition: normalise, sort the train rows by similarity, sum exp(s / T) per class
// over the first min(k, N).
std::vector<std::vector<double>> brute_force(const at::Tensor& train, const at::Tensor& labels,
                                             const at::Tensor& test, int64_t classes, int64_t k, double t) {
  auto unit_rows = [](const at::Tensor& x_in) {
    const auto x = x_in.to(at::kDouble).contiguous();
    const auto a = x.accessor<double, 2>();
    std::vector<std::vector<double>> rows(x.size(0), std::vector<double>(x.size(1)));
    for (int64_t i = 0; i < x.size(0); ++i) {
      double norm = 0;
      for (int64_t j = 0; j < x.size(1); ++j) norm += a[i][j] * a[i][j];
      norm = std::max(std::sqrt(norm), 1e-12);
      for (int64_t j = 0; j < x.size(1); ++j) rows[i][j] = a[i][j] / norm;
    }
    return rows;
  };
  const auto tr = unit_rows(train), te = unit_rows(test);
  const auto y = labels.to(at::kLong).contiguous();
  const auto ya = y.accessor<int64_t, 1>();
  const int64_t n = static_cast<int64_t>(tr.size()), kk = std::min(k, n);
  std::vector<std::vector<double>> out(te.size(), std::vector<double>(classes, 0.0));
  for (size_t q = 0; q < te.size(); ++q) {
    std::vector<double> sim(n);
    for (int64_t i = 0; i < n; ++i)
      sim[i] = std::inner_product(te[q].begin(), te[q].end(), tr[i].begin(), 0.0);
    std::vector<int64_t> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return sim[a] > sim[b]; });
    for (int64_t r = 0; r < kk; ++r) out[q][ya[idx[r]]] += std::exp(sim[idx[r]] / t);
  }
  return out;
}

// Largest |got - want| / max(|want|, floor) over all entries.
double max_rel_diff(const at::Tensor& got_in, const std::vector<std::vector<double>>& want, double floor) {
  const auto got = got_in.cpu().to(at::kDouble).contiguous();
  const auto a = got.accessor<double, 2>();
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    for (size_t c = 0; c < want[i].size(); ++c) {
      worst = std::max(worst, std::abs(a[i][c] - want[i][c]) / std::max(std::abs(want[i][c]), floor));
    }
  }
  return worst;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const flatclr::UserError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(KnnScores, MatchesBruteForceFloat64Reference) {
  torch::manual_seed(11);
  const int64_t n = 60, m = 23, d = 8, classes = 5;
  auto train = torch::randn({n, d}) * torch::rand({n, 1}) * 3;  // norms differ: normalisation matters
  auto labels = torch::randint(0, classes, {n}, at::kLong);
  auto test = torch::randn({m, d});
  for (int64_t k : {1, 7, 20, 60, 200}) {  // 200 > N: clamped to N
    for (double t : {0.05, 0.1, 0.5}) {
      for (int64_t chunk : {1, 5, 1024}) {
        const auto want = brute_force(train, labels, test, classes, k, t);
        const auto got = knn_scores(train, labels, test, classes, k, t, chunk);
        ASSERT_EQ(got.sizes(), (std::vector<int64_t>{m, classes}));
        EXPECT_EQ(got.scalar_type(), at::kDouble);
        // float32 similarities: |d exp(s/T)| / exp(s/T) = |ds| / T <= ~1e-7 / 0.05.
        const double diff = max_rel_diff(got, want, 1e-3);
        EXPECT_LT(diff, 2e-5) << "k " << k << " T " << t << " chunk " << chunk << ": max rel diff " << diff;
      }
    }
  }
}

TEST(KnnScores, Float64FeaturesAreComputedInFloat64) {
  torch::manual_seed(12);
  auto train = torch::randn({40, 6}, at::kDouble), test = torch::randn({9, 6}, at::kDouble);
  auto labels = torch::randint(0, 3, {40}, at::kLong);
  const auto want = brute_force(train, labels, test, 3, 10, 0.07);
  const double diff = max_rel_diff(knn_scores(train, labels, test, 3, 10, 0.07, 4), want, 1e-3);
  EXPECT_LT(diff, 1e-12) << "max rel diff " << diff;
}

TEST(KnnScores, KAtLeastNSumsOverEveryTrainSample) {
  // k >= N: every train sample votes, so score_c = sum over the whole class c of exp(s / T).
  torch::manual_seed(13);
  auto train = torch::randn({12, 4}), test = torch::randn({3, 4});
  auto labels = torch::tensor({0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 0}, at::kLong);
  const auto a = knn_scores(train, labels, test, 4, 12, 0.2);
  const auto b = knn_scores(train, labels, test, 4, 1000, 0.2);
  EXPECT_TRUE(torch::equal(a, b));
  const auto sims = torch::nn::functional::normalize(test.to(at::kDouble),
                                                     torch::nn::functional::NormalizeFuncOptions().dim(1))
                        .mm(torch::nn::functional::normalize(
                                train.to(at::kDouble), torch::nn::functional::NormalizeFuncOptions().dim(1))
                                .t());
  const auto onehot = torch::nn::functional::one_hot(labels, 4).to(at::kDouble);  // [N, 4]
  const auto want = sims.div(0.2).exp().mm(onehot);
  EXPECT_LT((a - want).abs().max().item<double>() / want.abs().max().item<double>(), 1e-6);
  EXPECT_EQ(a.select(1, 3).abs().max().item<double>(), 0.0) << "a class without train samples scores 0";
}

TEST(KnnScores, SelfRetrievalWithKOneIsClosedForm) {
  // Test = train and k = 1: each row's nearest neighbour is itself (similarity 1), so its own class
  // scores exp(1 / T) and every other class 0.
  torch::manual_seed(14);
  auto x = torch::randn({30, 16});
  auto labels = torch::randint(0, 6, {30}, at::kLong);
  const double t = 0.1;
  const auto s = knn_scores(x, labels, x, 6, 1, t, 7);
  const auto want = torch::nn::functional::one_hot(labels, 6).to(at::kDouble) * std::exp(1.0 / t);
  // float32 similarity of a unit row with itself: 1 within a few ulp; d exp(s/T) / exp(s/T) = ds / T.
  EXPECT_LT((s - want).abs().max().item<double>(), 1e-5 * std::exp(1.0 / t));
}

TEST(KnnEvaluate, SeparatedClustersGiveFullAccuracy) {
  // Two classes on opposite sides of the sphere: every neighbour of a test point has its class as long
  // as k <= the class size.
  torch::manual_seed(15);
  const int64_t per_class = 50, d = 32;
  auto dir = torch::randn({1, d});
  auto train =
      torch::cat({dir + 0.1 * torch::randn({per_class, d}), -dir + 0.1 * torch::randn({per_class, d})});
  auto train_y = torch::cat({torch::zeros({per_class}, at::kLong), torch::ones({per_class}, at::kLong)});
  auto test = torch::cat({dir + 0.1 * torch::randn({20, d}), -dir + 0.1 * torch::randn({20, d})});
  auto test_y = torch::cat({torch::zeros({20}, at::kLong), torch::ones({20}, at::kLong)});
  const auto counts = knn_evaluate(train, train_y, test, test_y, 2, 50, 0.1, 16);
  EXPECT_EQ(counts.total, 40);
  EXPECT_EQ(counts.top1, 40);
  EXPECT_EQ(counts.top5, 40);
  // With k = N = 100 and T large, the two classes' scores nearly tie but the own class still wins.
  EXPECT_EQ(knn_evaluate(train, train_y, test, test_y, 2, 100, 10.0).top1, 40);
}

TEST(KnnEvaluate, AgreesWithTopKCountsOfTheScores) {
  torch::manual_seed(16);
  auto train = torch::randn({80, 10}), test = torch::randn({37, 10});
  auto train_y = torch::randint(0, 12, {80}, at::kLong), test_y = torch::randint(0, 12, {37}, at::kLong);
  const auto from_scores = topk_counts(knn_scores(train, train_y, test, 12, 15, 0.1), test_y);
  const auto counts = knn_evaluate(train, train_y, test, test_y, 12, 15, 0.1, 6);
  EXPECT_EQ(counts.top1, from_scores.top1);
  EXPECT_EQ(counts.top5, from_scores.top5);
  EXPECT_EQ(counts.total, 37);
  EXPECT_GT(counts.top5, counts.top1);
}

TEST(KnnScores, EmptyTestSetGivesNoRows) {
  auto s = knn_scores(torch::randn({5, 3}), torch::zeros({5}, at::kLong), torch::zeros({0, 3}), 2);
  EXPECT_EQ(s.sizes(), (std::vector<int64_t>{0, 2}));
}

TEST(KnnScores, RejectsBadInput) {
  auto train = torch::randn({5, 3}), test = torch::randn({2, 3});
  auto y = torch::tensor({0, 1, 0, 1, 1}, at::kLong);
  EXPECT_NE(error_of([&] { knn_scores(train, y, test, 2, 0); }).find("k must be >= 1"), std::string::npos);
  EXPECT_NE(error_of([&] { knn_scores(train, y, test, 2, 5, 0.0); }).find("temperature"), std::string::npos);
  EXPECT_NE(error_of([&] { knn_scores(train, y, test, 2, 5, 0.1, 0); }).find("chunk"), std::string::npos);
  EXPECT_NE(error_of([&] {
              knn_scores(train, y, torch::randn({2, 4}), 2);
            }).find("[M, 3]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { knn_scores(train, y.slice(0, 0, 4), test, 2); }).find("train labels must be [5]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { knn_scores(train, y, test, 1); }).find("[0, 1)"), std::string::npos);
  EXPECT_NE(error_of([&] {
              knn_scores(torch::zeros({0, 3}), torch::zeros({0}, at::kLong), test, 2);
            }).find("N >= 1"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { knn_evaluate(train, y, test, torch::tensor({0}, at::kLong), 2); }).find("test labels"),
      std::string::npos);
  EXPECT_EQ(error_of([&] { knn_scores(train, y, test, 2); }), "no error");
}

TEST(KnnBank, FilledBatchByBatchAndQueriedInBatchesEqualsTheWholeComputation) {
  // As a streamed evaluation builds it: rows normalised in place as each batch of features arrives, then
  // the test features scored batch by batch.
  torch::manual_seed(23);
  const auto train = torch::randn({50, 6}) * 3, test = torch::randn({31, 6});
  const auto y = torch::randint(0, 4, {50}, at::kLong), yt = torch::randint(0, 4, {31}, at::kLong);
  auto bank = torch::empty({50, 6});
  for (int64_t b = 0; b < 50; b += 16) {
    auto slot = bank.slice(0, b, std::min<int64_t>(50, b + 16));
    slot.copy_(train.slice(0, b, std::min<int64_t>(50, b + 16)));
    flatclr::eval::KnnBank::normalize_rows_(slot);
  }
  const flatclr::eval::KnnBank knn(bank, y, 4, 7, 0.1, /*normalized=*/true);
  EXPECT_EQ(knn.size(), 50);
  flatclr::eval::TopKCounts streamed;
  for (int64_t b = 0; b < 31; b += 8) {
    const int64_t e = std::min<int64_t>(31, b + 8);
    streamed.add(knn.evaluate(test.slice(0, b, e), yt.slice(0, b, e), /*chunk=*/3));
  }
  const auto whole = knn_evaluate(train, y, test, yt, 4, 7, 0.1);
  EXPECT_EQ(streamed.top1, whole.top1);
  EXPECT_EQ(streamed.top5, whole.top5);
  EXPECT_EQ(streamed.total, 31);
  const auto ref = brute_force(train, y, test, 4, 7, 0.1);
  const auto scores = knn.scores(test, 5);
  double worst = 0;
  for (int64_t i = 0; i < 31; ++i)
    for (int64_t c = 0; c < 4; ++c)
      worst = std::max(worst, std::abs(scores[i][c].item<double>() - ref[i][c]));
  EXPECT_LT(worst, 2e-5 * 7 * std::exp(10.0)) << "max |difference| from the float64 reference";
}

TEST(KnnScores, CudaMatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(17);
  auto train = torch::randn({500, 32}), test = torch::randn({70, 32});
  auto y = torch::randint(0, 10, {500}, at::kLong), ty = torch::randint(0, 10, {70}, at::kLong);
  const auto cpu = knn_scores(train, y, test, 10, 50, 0.1, 16);
  const auto gpu = knn_scores(train.cuda(), y.cuda(), test.cuda(), 10, 50, 0.1, 16);
  EXPECT_TRUE(gpu.is_cuda());
  EXPECT_LT((gpu.cpu() - cpu).abs().max().item<double>() / cpu.abs().max().item<double>(), 1e-5);
  const auto c = knn_evaluate(train.cuda(), y.cuda(), test.cuda(), ty.cuda(), 10, 50, 0.1, 16);
  const auto h = knn_evaluate(train, y, test, ty, 10, 50, 0.1, 16);
  EXPECT_EQ(c.top1, h.top1);
  EXPECT_EQ(c.top5, h.top5);
}
