// The studies' cells: the copy built into the binary equals the committed JSON files, the parser names the
// file and field of a bad one, and the distance and the closest cell follow their stated formula.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "flatclr/report/study_cells.h"

using namespace flatclr::report;
using flatclr::losses::Method;

namespace {

std::string read(const std::string& relative) {
  std::ifstream in(std::string(FLATCLR_SOURCE_DIR) + "/" + relative);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(StudyCells, TheBuiltInCellsAreTheCommittedFiles) {
  auto logk = parse_study_cells(read("docs/results/logk-study.json"), "logk");
  auto sat = parse_study_cells(read("docs/results/saturation-study.json"), "saturation");
  const auto& built = study_cells();
  ASSERT_EQ(built.size(), logk.size() + sat.size()) << "rebuild: CMake embeds the files at configure time";
  ASSERT_EQ(logk.size(), 5u);  // batch 8 to 128
  for (size_t i = 0; i < built.size(); ++i) {
    const StudyCell& want = i < logk.size() ? logk[i] : sat[i - logk.size()];
    const StudyCell& got = built[i];
    EXPECT_EQ(got.regime, want.regime);
    EXPECT_EQ(got.batch_size, want.batch_size);
    EXPECT_EQ(got.temperature, want.temperature);
    EXPECT_EQ(got.color_jitter, want.color_jitter);
    EXPECT_EQ(got.crop_min_scale, want.crop_min_scale);
    // A study still running has cells with one method, or with too few pairs for a difference: the same parts
    // must be present on both sides.
    ASSERT_EQ(bool(got.simclr), bool(want.simclr)) << got.regime;
    ASSERT_EQ(bool(got.flatclr), bool(want.flatclr)) << got.regime;
    ASSERT_EQ(bool(got.knn), bool(want.knn)) << got.regime;
    if (got.simclr) EXPECT_EQ(got.simclr->p_pos_max, want.simclr->p_pos_max);
    if (got.flatclr) EXPECT_EQ(got.flatclr->knn, want.flatclr->knn);
    if (got.knn) EXPECT_EQ(got.knn->mean, want.knn->mean);
  }
  // The small-batch study is complete: every cell holds both methods and their difference.
  for (const StudyCell& c : logk) ASSERT_TRUE(c.simclr && c.flatclr && c.knn && c.linear) << c.regime;
  // What the page's table says of batch 8 (docs/results/logk-study.md), as the cells hold it.
  EXPECT_EQ(logk[0].regime, "batch 8");
  EXPECT_NEAR(logk[0].simclr->p_pos_max, 0.4933, 1e-9);     // "(max 0.493)" in the table
  EXPECT_NEAR(logk[0].flatclr->saturated, 0.097998, 1e-9);  // 9.7998% in the file, 9.8 in the table
  EXPECT_NEAR(logk[0].knn->mean, 39.11 - 37.15, 1e-6);
  EXPECT_FALSE(logk[0].knn->paired);
}

TEST(StudyCells, ABadFileNamesItselfAndTheField) {
  try {
    parse_study_cells("{not json", "x.json");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("x.json: not JSON"), std::string::npos) << e.what();
  }
  try {
    parse_study_cells(R"([{"setting": {"temperature": 0.1, "batch_size": 8}, "methods": {}}])", "y.json");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "y.json, cell 0, setting: a cell without 'epochs'");
  }
  try {
    parse_study_cells(R"([{"setting": {"temperature": 0.1, "batch_size": 8, "epochs": 1},
                           "methods": {"simclr": {"seeds": 2, "knn": "high"}}}])",
                      "z.json");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "z.json, cell 0, methods.simclr: 'knn' is not a number");
  }
}

TEST(StudyCells, TheAugmentationOfACellIsReadWhereItsSettingGivesIt) {
  const auto cells = parse_study_cells(R"([
      {"setting": {"temperature": 0.05, "batch_size": 16, "epochs": 15, "color_jitter": 0.0,
                   "crop_min_scale": 0.9}, "methods": {}},
      {"setting": {"temperature": 0.1, "batch_size": 8, "epochs": 15}, "methods": {}}])",
                                       "a.json");
  ASSERT_EQ(cells.size(), 2u);
  ASSERT_TRUE(cells[0].color_jitter && cells[0].crop_min_scale);
  EXPECT_EQ(*cells[0].color_jitter, 0.0);
  EXPECT_EQ(*cells[0].crop_min_scale, 0.9);
  EXPECT_FALSE(cells[1].color_jitter || cells[1].crop_min_scale);  // the dataset's jitter, the paper's crop
  try {
    parse_study_cells(
        R"([{"setting": {"temperature": 0.1, "batch_size": 8, "epochs": 1, "crop_min_scale": "x"},
                           "methods": {}}])",
        "b.json");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "b.json, cell 0, setting: 'crop_min_scale' is not a number");
  }
}

TEST(StudyCells, DistanceAndClosestCell) {
  StudyCell a;
  a.batch_size = 16, a.temperature = 0.1, a.regime = "a";
  a.simclr = CellResult{2, 40, 0, 37, 0, 0.3, 0.35, 0.0};
  a.knn = CellDifference{};
  RunPoint run;
  run.method = Method::kSimCLR, run.batch_size = 64, run.temperature = 0.05, run.p_pos = 0.5,
  run.saturated = 0.1;
  // |log2 4| + |log2 0.5| + 4 * 0.2 + 4 * 0.1
  EXPECT_NEAR(cell_distance(a, run), 2 + 1 + 0.8 + 0.4, 1e-12);
  run.batch_size = 0, run.temperature = 0;  // unknown: not compared
  EXPECT_NEAR(cell_distance(a, run), 1.2, 1e-12);
  run.method = Method::kFlatCLR;  // no FlatCLR results in the cell
  EXPECT_TRUE(std::isinf(cell_distance(a, run)));
  EXPECT_EQ(closest_cell({a}, run), nullptr);
  StudyCell b = a;
  b.regime = "b", b.batch_size = 64;
  StudyCell c = b;
  c.regime = "c", c.knn.reset();  // no difference measured: never chosen
  run.method = Method::kSimCLR, run.batch_size = 64, run.temperature = 0.1;
  std::vector<StudyCell> all{a, b, c};
  ASSERT_NE(closest_cell(all, run), nullptr);
  EXPECT_EQ(closest_cell(all, run)->regime, "b");
}
