// report/pca_plot: the 2-D PCA against a closed form (data built on known orthogonal directions with known
// variances), and the files of the picture.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "flatclr/report/pca_plot.h"

namespace fs = std::filesystem;
using flatclr::report::pca_2d;

TEST(PcaPlot, RecoversKnownComponentsAndVarianceShares) {
  // x = mu + a u + b v + c w with orthonormal u, v, w and centred, uncorrelated a, b, c of variances 9 > 4 >
  // 1: the components are u and v, the coordinates a and b (up to sign), the shares 9/14 and 4/14.
  torch::manual_seed(3);
  const int64_t n = 8, d = 5;
  auto q = std::get<0>(torch::linalg_qr(torch::randn({d, 3}, torch::kDouble)));  // orthonormal columns
  // Exactly uncorrelated, centred coefficients: columns of a scaled orthogonal matrix.
  auto basis = std::get<0>(torch::linalg_qr(torch::randn({n, 4}, torch::kDouble)));
  auto ones = torch::ones({n, 1}, torch::kDouble) / std::sqrt(static_cast<double>(n));
  auto h = std::get<0>(torch::linalg_qr(torch::cat({ones, basis.narrow(1, 0, 3)}, 1))).narrow(1, 1, 3);
  const double scale = std::sqrt(static_cast<double>(n - 1));
  auto coef = h * torch::tensor({3.0, 2.0, 1.0}, torch::kDouble) * scale;  // variances 9, 4, 1
  auto x = (coef.matmul(q.t()) + torch::arange(d, torch::kDouble)).to(torch::kFloat);
  const auto pca = pca_2d(x);
  for (int j = 0; j < 2; ++j) {
    auto got = pca.coords.select(1, j), want = coef.select(1, j);
    const double sign = (got * want).sum().item<double>() > 0 ? 1.0 : -1.0;
    EXPECT_LT((got - sign * want).abs().max().item<double>(), 1e-5) << "component " << j;
  }
  EXPECT_NEAR(pca.explained[0].item<double>(), 9.0 / 14, 1e-6);
  EXPECT_NEAR(pca.explained[1].item<double>(), 4.0 / 14, 1e-6);
}

TEST(PcaPlot, WritesTheDataAndScriptAndDrawsWhenGnuplotIsThere) {
  const auto dir = fs::temp_directory_path() / ("flatclr_pca_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  torch::manual_seed(1);
  const auto x = torch::randn({30, 6});
  const auto y = torch::arange(30, torch::kLong).remainder(3);
  const std::string prefix = (dir / "emb").string();
  auto r = flatclr::report::write_pca_plot(x, y, {"cat", "dog's", "eel"}, prefix, "a \"title\"\nline 2", "");
  EXPECT_FALSE(r.drawn);
  EXPECT_NE(r.notice.find("gnuplot is not installed"), std::string::npos) << r.notice;
  std::ifstream tsv(prefix + "_pca.tsv");
  int lines = 0;
  for (std::string line; std::getline(tsv, line);) ++lines;
  EXPECT_EQ(lines, 31);  // a header and one line per row
  const std::string gnuplot = flatclr::report::find_gnuplot();
  if (gnuplot.empty()) GTEST_SKIP() << "gnuplot is not installed";
  r = flatclr::report::write_pca_plot(x, y, {"cat", "dog's", "eel"}, prefix, "a \"title\"\nline 2", gnuplot);
  ASSERT_TRUE(r.drawn) << r.notice;
  std::ifstream png(prefix + "_pca.png", std::ios::binary);
  char magic[4] = {};
  png.read(magic, 4);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
  fs::remove_all(dir);
}
