// Plots of a synthetic run folder: the data files hold the logged values, gnuplot (when installed) draws real
// PNG files, and without gnuplot the result says so in one line and draws nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "flatclr/report/plots.h"

using namespace flatclr::report;
namespace fs = std::filesystem;

namespace {
RunHistory synthetic(const fs::path& dir, bool with_rank) {
  RunHistory h;
  h.run_dir = dir.string();
  h.config = {{"clr", "simclr"}, {"batch_size", 16}};
  for (int i = 0; i < 6; ++i) {
    nlohmann::json r = {{"epoch", i / 3 + 1},    {"global_step", 5 * (i + 1)}, {"info_nce", 3.0 - 0.3 * i},
                        {"top1", 0.1 * i},       {"top5", 0.15 * i},           {"p_pos_mean", 0.1 * i},
                        {"saturated", 0.05 * i}, {"grad_ratio", 1 - 0.1 * i},  {"mi_estimate", 0.4 + 0.3 * i},
                        {"log_k", 3.434}};
    if (with_rank && i % 3 == 0) {
      r["effective_rank_h"] = 50.0 - i;
      r["effective_rank_z"] = 20.0 - i;
    }
    h.intervals.push_back(r);
  }
  h.epochs = {{{"epoch", 1}, {"global_step", 15}, {"loss", 2.7}, {"knn_top1", 0.3}},
              {{"epoch", 2}, {"global_step", 30}, {"loss", 1.9}, {"knn_top1", 0.33}}};
  return h;
}
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST(Plots, GnuplotDrawsEveryPlot) {
  const std::string gnuplot = find_gnuplot();
  if (gnuplot.empty()) GTEST_SKIP() << "gnuplot not installed (scripts/setup.sh --test installs gnuplot-nox)";
  auto dir = fs::temp_directory_path() / ("flatclr_plots_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto r = write_plots(synthetic(dir, true), gnuplot);
  ASSERT_TRUE(r.drawn) << r.notice;
  ASSERT_EQ(r.images.size(), 5u);
  for (const auto& png : r.images) {
    const auto bytes = slurp(png);
    ASSERT_GT(bytes.size(), 2000u) << png;
    EXPECT_EQ(bytes.substr(1, 3), "PNG") << png;
  }
  // The data file holds the logged values, NaN where an interval has none.
  const auto tsv = slurp(dir / "plots" / "intervals.tsv");
  EXPECT_NE(tsv.find("# step\tepoch\tinfo_nce"), std::string::npos);
  EXPECT_NE(tsv.find("10\t1\t2.7\t"), std::string::npos) << tsv;
  EXPECT_NE(tsv.find("NaN"), std::string::npos);
  EXPECT_NE(slurp(dir / "plots" / "epochs.tsv").find("2\t30\t1.9\t0.33"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Plots, WithoutGnuplotNothingIsDrawnAndTheNoticeSaysSo) {
  auto dir = fs::temp_directory_path() / ("flatclr_plots_none_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto r = write_plots(synthetic(dir, false), "");
  EXPECT_FALSE(r.drawn);
  EXPECT_TRUE(r.images.empty());
  EXPECT_NE(r.notice.find("gnuplot is not installed"), std::string::npos) << r.notice;
  EXPECT_TRUE(fs::exists(dir / "plots" / "plots.gp"));
  EXPECT_EQ(slurp(dir / "plots" / "plots.gp").find("rank.png"), std::string::npos);  // no rank logged
  fs::remove_all(dir);
}

TEST(Plots, FindGnuplotHonoursPath) {
  const char* old = std::getenv("PATH");
  const std::string saved = old ? old : "";
  setenv("PATH", "/nonexistent", 1);
  EXPECT_EQ(find_gnuplot(), "");
  setenv("PATH", saved.c_str(), 1);
}
