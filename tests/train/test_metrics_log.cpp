#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "flatclr/core/error.h"
#include "flatclr/train/metrics_log.h"
#include "flatclr/train/run_dir.h"

namespace fs = std::filesystem;
using namespace flatclr::train;

TEST(MetricsLog, AppendAndTruncateAfterEpochDropsLaterAndCutLines) {
  auto dir = fs::temp_directory_path() / ("flatclr_metrics_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  MetricsLog log((dir / "metrics.jsonl").string());
  for (int e = 1; e <= 4; ++e) log.append({{"epoch", e}, {"loss", 1.0 / e}});
  std::ofstream(log.path(), std::ios::app) << "{\"epoch\": 5, \"lo";  // a line cut by a crash
  log.truncate_after_epoch(2);
  std::ifstream in(log.path());
  std::string line;
  std::vector<int> epochs;
  while (std::getline(in, line)) epochs.push_back(nlohmann::json::parse(line)["epoch"].get<int>());
  EXPECT_EQ(epochs, (std::vector<int>{1, 2}));
  fs::remove_all(dir);
}

TEST(MetricsLog, TruncateAfterStepKeepsRecordsWithoutTheKey) {
  auto dir = fs::temp_directory_path() / ("flatclr_steps_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  MetricsLog log((dir / "steps.jsonl").string());
  for (int s = 10; s <= 40; s += 10) log.append({{"global_step", s}, {"info_nce", 1.0 / s}});
  log.append({{"event", "note"}});
  log.truncate_after("global_step", 20);
  std::ifstream in(log.path());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(lines[1])["global_step"], 20);
  EXPECT_EQ(nlohmann::json::parse(lines[2])["event"], "note");
  fs::remove_all(dir);
}

TEST(RunDir, LayoutAndUniqueness) {
  auto root = fs::temp_directory_path() / ("flatclr_runs_" + std::to_string(::getpid()));
  fs::remove_all(root);
  auto a = create_run_dir(root.string(), "cifar10", 512, "FlatCLR");
  auto b = create_run_dir(root.string(), "cifar10", 512, "FlatCLR");
  EXPECT_NE(a, b);
  EXPECT_TRUE(fs::is_directory(a) && fs::is_directory(b));
  EXPECT_EQ(fs::path(a).parent_path(), root / "cifar10" / "512_FlatCLR");
  EXPECT_TRUE(
      std::regex_match(fs::path(a).filename().string(), std::regex(R"(\d\d-\d\d-\d{4}-\d\d-\d\d-\d\d)")));
  // Resume resolution: file name inside log_dir; missing folder or file names the flag.
  std::ofstream(fs::path(a) / "checkpoint_0002.pth.tar") << "x";
  EXPECT_EQ(resolve_resume_checkpoint(a, "checkpoint_0002.pth.tar"),
            (fs::path(a) / "checkpoint_0002.pth.tar").string());
  try {
    resolve_resume_checkpoint(a, "checkpoint_0004.pth.tar");
    FAIL();
  } catch (const flatclr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("`train_from`"), std::string::npos);
  }
  try {
    resolve_resume_checkpoint((root / "nope").string(), "checkpoint_0002.pth.tar");
    FAIL();
  } catch (const flatclr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("`log_dir`"), std::string::npos);
  }
  fs::remove_all(root);
}
