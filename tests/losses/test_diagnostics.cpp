// The step diagnostics against naive float64 loops written here from their definitions, and closed forms on
// hand-made batches (identical embeddings; orthonormal pairs; known singular values).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "flatclr/losses/diagnostics.h"
#include "flatclr/losses/similarity.h"

using namespace flatclr::losses;

namespace {

double val(const at::Tensor& t) { return t.item<double>(); }

struct Naive {
  double info_nce = 0, v_mean = 0, p_mean = 0, p_min = 1, saturated = 0, grad_ratio = 0, ess = 0, pos = 0,
         neg = 0, align = 0, unif = 0;
};

// Straight from the definitions in diagnostics.h, one row at a time, in double.
Naive naive(const at::Tensor& s_in, double tau) {
  auto s = s_in.to(at::kDouble).contiguous();
  auto a = s.accessor<double, 2>();
  const int64_t m = s.size(0), n = m / 2;
  Naive r;
  int64_t neg_count = 0;
  for (int64_t i = 0; i < m; ++i) {
    const int64_t p = (i + n) % m;
    double xi = 0, z = 0;
    for (int64_t j = 0; j < m; ++j) {
      if (j == i || j == p) continue;
      xi += std::exp((a[i][j] - a[i][p]) / tau);
      z += std::exp(a[i][j] / tau);
      r.neg += a[i][j];
      ++neg_count;
    }
    double sum_w2 = 0;
    for (int64_t j = 0; j < m; ++j) {
      if (j == i || j == p) continue;
      const double w = std::exp(a[i][j] / tau) / z;
      sum_w2 += w * w;
    }
    const double v = std::log(xi), pp = 1.0 / (1.0 + xi);
    r.info_nce += std::log(1 + xi) / m;
    r.v_mean += v / m;
    r.p_mean += pp / m;
    r.p_min = std::min(r.p_min, pp);
    r.saturated += (pp > 0.99 ? 1.0 : 0.0) / m;
    r.grad_ratio += (1 - pp) / m;
    r.ess += (1.0 / sum_w2) / (m - 2) / m;
    r.pos += a[i][p] / m;
  }
  r.neg /= neg_count;
  for (int64_t i = 0; i < n; ++i) r.align += (2 - 2 * a[i][i + n]) / n;
  for (int64_t view = 0; view < 2; ++view) {
    double sum = 0;
    int64_t pairs = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) {
        sum += std::exp(-2 * (2 - 2 * a[view * n + i][view * n + j]));
        ++pairs;
      }
    r.unif += 0.5 * std::log(sum / pairs);
  }
  return r;
}

void expect_matches(const BatchDiagnostics& d, const Naive& r, double tol) {
  EXPECT_NEAR(val(d.info_nce), r.info_nce, tol);
  EXPECT_NEAR(val(d.v_mean), r.v_mean, tol);
  EXPECT_NEAR(val(d.p_pos_mean), r.p_mean, tol);
  EXPECT_NEAR(val(d.p_pos_min), r.p_min, tol);
  EXPECT_NEAR(val(d.saturated), r.saturated, tol);
  EXPECT_NEAR(val(d.grad_ratio), r.grad_ratio, tol);
  EXPECT_NEAR(val(d.ess), r.ess, tol);
  EXPECT_NEAR(val(d.pos_sim), r.pos, tol);
  EXPECT_NEAR(val(d.neg_sim), r.neg, tol);
  EXPECT_NEAR(val(d.alignment), r.align, tol);
  EXPECT_NEAR(val(d.uniformity), r.unif, tol);
}

}  // namespace

TEST(Diagnostics, MatchNaiveFloat64OnRandomBatches) {
  for (int64_t n : {2, 5, 16}) {
    for (double tau : {0.1, 0.5}) {
      torch::manual_seed(100 + n);
      auto z = torch::randn({2 * n, 7}, torch::kDouble);
      z.narrow(0, n, n).copy_(z.narrow(0, 0, n) + 0.3 * torch::randn({n, 7}, torch::kDouble));
      auto s = cosine_similarity_matrix(z);
      auto d = batch_diagnostics(s, tau);
      auto r = naive(s, tau);
      SCOPED_TRACE("n=" + std::to_string(n) + " tau=" + std::to_string(tau));
      expect_matches(d, r, 1e-10);
      EXPECT_NEAR(val(d.mi_estimate), std::log(2.0 * n - 1) - r.info_nce, 1e-10);
    }
  }
}

TEST(Diagnostics, SaturatedRowsCountedAtTheThreshold) {
  // Pairs nearly identical and negatives far apart at a low temperature: most rows saturate.
  const int64_t n = 6;
  torch::manual_seed(3);
  auto base = torch::eye(n, torch::kDouble);
  auto z = torch::cat({base, base + 0.05 * torch::randn({n, n}, torch::kDouble)});
  auto s = cosine_similarity_matrix(z);
  auto d = batch_diagnostics(s, 0.05);
  auto r = naive(s, 0.05);
  expect_matches(d, r, 1e-10);
  EXPECT_GT(r.saturated, 0.5);  // the hand-made batch does exercise the threshold
}

TEST(Diagnostics, IdenticalEmbeddingsClosedForm) {
  // Every similarity is 1: v = log(2N-2), p+ = 1/(2N-1), uniform negative weights, no information.
  const int64_t n = 4;
  auto s = torch::ones({2 * n, 2 * n}, torch::kDouble);
  auto d = batch_diagnostics(s, 0.1);
  EXPECT_NEAR(val(d.info_nce), std::log(2.0 * n - 1), 1e-12);
  EXPECT_NEAR(val(d.mi_estimate), 0.0, 1e-12);
  EXPECT_NEAR(val(d.v_mean), std::log(2.0 * n - 2), 1e-12);
  EXPECT_NEAR(val(d.p_pos_mean), 1.0 / (2 * n - 1), 1e-12);
  EXPECT_NEAR(val(d.grad_ratio), 1 - 1.0 / (2 * n - 1), 1e-12);
  EXPECT_NEAR(val(d.ess), 1.0, 1e-12);
  EXPECT_NEAR(val(d.pos_sim), 1.0, 1e-12);
  EXPECT_NEAR(val(d.neg_sim), 1.0, 1e-12);
  EXPECT_NEAR(val(d.alignment), 0.0, 1e-12);
  EXPECT_NEAR(val(d.uniformity), 0.0, 1e-12);
  EXPECT_EQ(val(d.saturated), 0.0);
}

TEST(Diagnostics, OrthonormalPairsClosedForm) {
  // z_i = z_{i+N} = e_i: s+ = 1, negatives 0. v = log(2N-2) - 1/tau, within-view distances^2 = 2.
  const int64_t n = 5;
  const double tau = 0.2;
  auto e = torch::eye(n, torch::kDouble);
  auto s = cosine_similarity_matrix(torch::cat({e, e}));
  auto d = batch_diagnostics(s, tau);
  const double v = std::log(2.0 * n - 2) - 1 / tau, p = 1 / (1 + std::exp(v));
  EXPECT_NEAR(val(d.v_mean), v, 1e-12);
  EXPECT_NEAR(val(d.p_pos_mean), p, 1e-12);
  EXPECT_NEAR(val(d.p_pos_min), p, 1e-12);
  EXPECT_NEAR(val(d.info_nce), std::log1p(std::exp(v)), 1e-12);
  EXPECT_NEAR(val(d.mi_estimate), std::log(2.0 * n - 1) - std::log1p(std::exp(v)), 1e-12);
  EXPECT_NEAR(val(d.ess), 1.0, 1e-12);
  EXPECT_NEAR(val(d.pos_sim), 1.0, 1e-12);
  EXPECT_NEAR(val(d.neg_sim), 0.0, 1e-12);
  EXPECT_NEAR(val(d.alignment), 0.0, 1e-12);
  EXPECT_NEAR(val(d.uniformity), -4.0, 1e-12);
  EXPECT_EQ(val(d.saturated), p > 0.99 ? 1.0 : 0.0);
}

TEST(Diagnostics, OneHardNegativeGivesEssOfOneOverK) {
  // Row weights concentrated on one negative: ESS -> 1 / (2N - 2) of the maximum.
  const int64_t n = 3, m = 2 * n;
  auto s = torch::full({m, m}, -1.0, torch::kDouble);
  for (int64_t i = 0; i < m; ++i) {
    s[i][i] = 1;
    s[i][(i + n) % m] = 0.9;
    s[i][(i + 1) % m == (i + n) % m ? (i + 2) % m : (i + 1) % m] = 0.95;
  }
  auto d = batch_diagnostics(s, 0.01);
  EXPECT_NEAR(val(d.ess), 1.0 / (m - 2), 1e-6);
  expect_matches(d, naive(s, 0.01), 1e-10);
}

TEST(Diagnostics, VectorFollowsTheNames) {
  torch::manual_seed(5);
  auto s = cosine_similarity_matrix(torch::randn({8, 3}, torch::kDouble));
  auto d = batch_diagnostics(s, 0.1);
  auto v = batch_diagnostics_vector(d);
  ASSERT_EQ(v.numel(), kNumBatchDiagnostics);
  EXPECT_STREQ(batch_diagnostic_names()[0], "info_nce");
  EXPECT_STREQ(batch_diagnostic_names()[7], "ess");
  EXPECT_DOUBLE_EQ(v[7].item<double>(), val(d.ess));
  EXPECT_STREQ(batch_diagnostic_names()[kNumBatchDiagnostics - 1], "uniformity");
  EXPECT_DOUBLE_EQ(v[kNumBatchDiagnostics - 1].item<double>(), val(d.uniformity));
}

TEST(Diagnostics, EffectiveRankClosedForms) {
  // Singular values 3 and 1: p = (0.75, 0.25).
  auto x = torch::zeros({4, 3}, torch::kDouble);
  x[0][0] = 3;
  x[1][1] = 1;
  const double h = -(0.75 * std::log(0.75) + 0.25 * std::log(0.25));
  EXPECT_NEAR(effective_rank(x), std::exp(h), 1e-12);
  // Rank one (collapse) gives 1; an orthogonal [D, D] matrix gives D.
  EXPECT_NEAR(effective_rank(torch::ones({6, 4}, torch::kDouble)), 1.0, 1e-9);
  EXPECT_NEAR(effective_rank(torch::eye(5, torch::kDouble) * 2), 5.0, 1e-9);
  // A rotation does not change it.
  torch::manual_seed(9);
  auto q = std::get<0>(at::linalg_qr(torch::randn({3, 3}, torch::kDouble)));
  EXPECT_NEAR(effective_rank(x.matmul(q)), std::exp(h), 1e-9);
  EXPECT_EQ(effective_rank(torch::zeros({3, 3})), 0.0);
  auto bad = torch::ones({3, 3}, torch::kDouble);
  bad[1][1] = std::nan("");
  EXPECT_TRUE(std::isnan(effective_rank(bad)));
  EXPECT_TRUE(std::isnan(normalized_dim_std(bad)));
}

TEST(Diagnostics, NormalizedDimStdClosedForms) {
  // Rows +-e1 (any length): dimension 1 has std 1, dimension 2 std 0.
  auto x = torch::tensor({{2.0, 0.0}, {-5.0, 0.0}, {1.0, 0.0}, {-1.0, 0.0}}, torch::kDouble);
  EXPECT_NEAR(normalized_dim_std(x), 0.5, 1e-12);
  // Collapse: every row the same direction.
  EXPECT_NEAR(normalized_dim_std(torch::ones({5, 4}, torch::kDouble) * torch::arange(1, 6).unsqueeze(1)), 0.0,
              1e-12);
}
