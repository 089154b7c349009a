// InfoNCE and FlatNCE against a naive float64 reference, closed forms and finite differences.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "flatclr/losses/flat_nce.h"
#include "flatclr/losses/info_nce.h"
#include "flatclr/losses/pair_accuracy.h"

using namespace flatclr::losses;

namespace {

// Naive double loops straight from the loss definitions: returns per-row InfoNCE l_i and v_i.
struct NaiveRows {
  std::vector<double> infonce, v;
};
NaiveRows naive(const at::Tensor& z_in, double tau) {
  auto z = z_in.to(at::kDouble).contiguous();
  const int64_t m = z.size(0), d = z.size(1), n = m / 2;
  auto a = z.accessor<double, 2>();
  std::vector<std::vector<double>> zn(m, std::vector<double>(d));
  for (int64_t i = 0; i < m; ++i) {
    double norm = 0;
    for (int64_t k = 0; k < d; ++k) norm += a[i][k] * a[i][k];
    norm = std::max(std::sqrt(norm), 1e-12);
    for (int64_t k = 0; k < d; ++k) zn[i][k] = a[i][k] / norm;
  }
  auto sim = [&](int64_t i, int64_t j) {
    double s = 0;
    for (int64_t k = 0; k < d; ++k) s += zn[i][k] * zn[j][k];
    return s;
  };
  NaiveRows r;
  for (int64_t i = 0; i < m; ++i) {
    const int64_t p = (i + n) % m;
    const double sp = sim(i, p);
    // cross-entropy over [positive, negatives...] with target 0
    double denom = std::exp(sp / tau), xi = 0;
    for (int64_t j = 0; j < m; ++j) {
      if (j == i || j == p) continue;
      denom += std::exp(sim(i, j) / tau);
      xi += std::exp((sim(i, j) - sp) / tau);
    }
    r.infonce.push_back(-sp / tau + std::log(denom));
    r.v.push_back(std::log(xi));
  }
  return r;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / v.size();
}

at::Tensor random_z(int64_t n, int64_t d, uint64_t seed, at::ScalarType dt = at::kDouble) {
  torch::manual_seed(seed);
  return torch::randn({2 * n, d}, torch::TensorOptions().dtype(dt));
}

}  // namespace

TEST(InfoNce, MatchesNaiveFloat64Reference) {
  for (double tau : {0.1, 0.5, 1.0}) {
    auto z = random_z(5, 7, 1);
    auto ref = naive(z, tau);
    auto out = info_nce_loss(z, tau);
    EXPECT_NEAR(out.loss.item<double>(), mean(ref.infonce), 1e-12) << "tau " << tau;
    EXPECT_NEAR(out.info_nce.item<double>(), mean(ref.infonce), 1e-12);
    for (size_t i = 0; i < ref.v.size(); ++i) EXPECT_NEAR(out.log_xi[i].item<double>(), ref.v[i], 1e-10);
  }
}

TEST(InfoNce, Float32AgreesWithFloat64) {
  auto z = random_z(16, 32, 2);
  auto ref = naive(z, 0.1);
  auto out = info_nce_loss(z.to(at::kFloat), 0.1);
  EXPECT_EQ(out.loss.scalar_type(), at::kFloat);
  EXPECT_NEAR(out.loss.item<double>(), mean(ref.infonce), 1e-5);
}

TEST(InfoNce, IdenticalEmbeddingsGiveLogTwoNMinusOne) {
  for (int64_t n : {2, 3, 8}) {
    auto z = torch::ones({2 * n, 4}, torch::kDouble);
    auto out = info_nce_loss(z, 0.1);
    EXPECT_NEAR(out.loss.item<double>(), std::log(2.0 * n - 1), 1e-12);
    // v_i = log(2N - 2): every negative sits exactly at the positive's similarity.
    EXPECT_NEAR(out.log_xi[0].item<double>(), std::log(2.0 * n - 2), 1e-12);
  }
}

TEST(FlatNce, ValueIsInfoNceAndFlatTermIsExactlyZero) {
  for (auto dt : {at::kFloat, at::kDouble}) {
    auto z = random_z(6, 5, 3, dt).requires_grad_(true);
    auto flat = flat_nce_loss(z, 0.2);
    auto info = info_nce_loss(z.detach(), 0.2);
    auto ref = naive(z.detach(), 0.2);
    const double tol = dt == at::kFloat ? 1e-5 : 1e-12;
    EXPECT_NEAR(flat.info_nce.item<double>(), mean(ref.infonce), tol);
    EXPECT_NEAR(flat.loss.item<double>(), info.loss.item<double>(), tol);
    // exp(v - sg(v)) is exactly 1 per row, so the backpropagated term is exactly 0.
    auto flat_term = torch::exp(flat.log_xi - flat.log_xi.detach());
    EXPECT_TRUE(torch::equal(flat_term, torch::ones_like(flat_term)));
    EXPECT_EQ((flat.loss - flat.info_nce).item<double>(), 0.0);
    EXPECT_FALSE(flat.info_nce.requires_grad());
  }
}

TEST(FlatNce, GradientIsMeanGradientOfLogXi) {
  // FlatNCE backpropagates mean_i grad v_i: compare with autograd of the naive-formula v in float64.
  auto z = random_z(4, 6, 4).requires_grad_(true);
  auto flat = flat_nce_loss(z, 0.3);
  auto g_flat = torch::autograd::grad({flat.loss}, {z})[0];

  auto z2 = z.detach().clone().requires_grad_(true);
  auto zn = z2 / z2.norm(2, 1, true);
  auto s = torch::mm(zn, zn.t());
  const int64_t m = s.size(0), n = m / 2;
  std::vector<at::Tensor> vs;
  for (int64_t i = 0; i < m; ++i) {
    const int64_t p = (i + n) % m;
    std::vector<at::Tensor> terms;
    for (int64_t j = 0; j < m; ++j) {
      if (j != i && j != p) terms.push_back((s[i][j] - s[i][p]) / 0.3);
    }
    vs.push_back(torch::logsumexp(torch::stack(terms), 0));
  }
  auto g_ref = torch::autograd::grad({torch::stack(vs).mean()}, {z2})[0];
  EXPECT_LT((g_flat - g_ref).abs().max().item<double>(), 1e-12);
}

TEST(FlatNce, InfoNceRowGradientIsSigmoidVTimesFlatNceRowGradient) {
  // Closed form: grad l_i = sigmoid(v_i) * grad v_i, with l_i from info_nce_loss's path (CE over
  // [positive, negatives]) and v_i from flat_nce_loss's path: two different code paths.
  auto z = random_z(5, 8, 5).requires_grad_(true);
  const double tau = 0.1;
  auto flat = flat_nce_loss(z, tau);
  // Per-row InfoNCE via the loss's own row function on the same z.
  auto s = torch::mm(z / z.norm(2, 1, true), (z / z.norm(2, 1, true)).t());
  auto rows = info_nce_rows(s, tau);
  for (int64_t i = 0; i < z.size(0); ++i) {
    auto g_info = torch::autograd::grad({rows[i]}, {z}, {}, /*retain_graph=*/true)[0];
    auto g_flat = torch::autograd::grad({flat.log_xi[i]}, {z}, {}, /*retain_graph=*/true)[0];
    const double sig = 1.0 / (1.0 + std::exp(-flat.log_xi[i].item<double>()));
    EXPECT_LT((g_info - sig * g_flat).abs().max().item<double>(), 1e-10) << "row " << i;
  }
}

TEST(Losses, GradientsMatchFiniteDifferences) {
  auto z = random_z(3, 4, 6);
  const double tau = 0.25, h = 1e-6;
  for (int which = 0; which < 2; ++which) {
    auto f = [&](const at::Tensor& x) {
      return which == 0 ? info_nce_loss(x, tau).loss : flat_nce_loss(x, tau).loss;
    };
    // FlatNCE's value is flat (it is InfoNCE detached), so its finite-difference target is mean_i v_i.
    auto value = [&](const at::Tensor& x) {
      return which == 0 ? info_nce_loss(x, tau).loss.item<double>()
                        : info_nce_loss(x, tau).log_xi.mean().item<double>();
    };
    auto zz = z.clone().requires_grad_(true);
    auto g = torch::autograd::grad({f(zz)}, {zz})[0];
    double max_err = 0;
    for (int64_t i = 0; i < z.size(0); ++i) {
      for (int64_t k = 0; k < z.size(1); ++k) {
        auto zp = z.clone(), zm = z.clone();
        zp[i][k] += h;
        zm[i][k] -= h;
        const double fd = (value(zp) - value(zm)) / (2 * h);
        max_err = std::max(max_err, std::abs(fd - g[i][k].item<double>()));
      }
    }
    EXPECT_LT(max_err, 1e-7) << (which == 0 ? "InfoNCE" : "FlatNCE") << " max |fd - autograd| = " << max_err;
  }
}

TEST(Losses, FlatNceKeepsGradientWhereInfoNceVanishes) {
  // Positives far closer than negatives: xi -> 0, InfoNCE gradient ~ xi * FlatNCE gradient.
  torch::manual_seed(7);
  auto base = torch::randn({4, 16}, torch::kDouble);
  auto z = torch::cat({base, base + 1e-3 * torch::randn({4, 16}, torch::kDouble)}).requires_grad_(true);
  auto gi = torch::autograd::grad({info_nce_loss(z, 0.05).loss}, {z})[0].norm().item<double>();
  auto gf = torch::autograd::grad({flat_nce_loss(z, 0.05).loss}, {z})[0].norm().item<double>();
  EXPECT_GT(gf, 1e3 * gi) << "InfoNCE grad " << gi << " FlatNCE grad " << gf;
  EXPECT_GT(gf, 1e-3);
}

TEST(PairAccuracy, CountsPositiveRank) {
  // 2N = 4 rows, hand-made similarities.
  auto s = torch::tensor({{1.0, 0.1, 0.9, 0.2},    // row 0: positive is 2 -> rank 0
                          {0.1, 1.0, 0.5, 0.3},    // row 1: positive is 3 (0.3) < 0.5 -> rank 1
                          {0.9, 0.5, 1.0, 0.95},   // row 2: positive is 0 (0.9) < 0.95 -> rank 1
                          {0.2, 0.3, 0.95, 1.0}},  // row 3: positive is 1 (0.3) < 0.95 -> rank 1
                         torch::kDouble);
  auto acc = positive_pair_accuracy(s);
  EXPECT_NEAR(acc.top1.item<double>(), 0.25, 1e-7);
  EXPECT_NEAR(acc.top5.item<double>(), 1.0, 1e-7);
}

TEST(PairAccuracy, Top5OnLargerBatch) {
  // Rank of each positive computed independently by sorting.
  auto z = random_z(10, 3, 8);
  auto out = info_nce_loss(z, 0.1);
  auto s = out.similarity;
  int top1 = 0, top5 = 0;
  for (int64_t i = 0; i < 20; ++i) {
    const int64_t p = (i + 10) % 20;
    int rank = 0;
    for (int64_t j = 0; j < 20; ++j) {
      if (j != i && j != p && s[i][j].item<double>() >= s[i][p].item<double>()) ++rank;
    }
    top1 += rank < 1;
    top5 += rank < 5;
  }
  auto acc = positive_pair_accuracy(s);
  EXPECT_NEAR(acc.top1.item<double>(), top1 / 20.0, 1e-7);
  EXPECT_NEAR(acc.top5.item<double>(), top5 / 20.0, 1e-7);
}
