// Each diagnosis rule on synthetic run histories: it fires on the pattern it is for, with the numbers in its
// text, and stays quiet on a healthy run. One test also reads a run folder written to disk.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "flatclr/report/diagnosis.h"
#include "flatclr/report/run_history.h"
#include "flatclr/report/study_cells.h"

using namespace flatclr::report;
namespace fs = std::filesystem;

namespace {

// A healthy 4-epoch run: 8 intervals, the loss falling, nothing saturated, ranks spread.
RunHistory healthy(const std::string& clr = "simclr") {
  RunHistory h;
  h.run_dir = "results/cifar10/16_SimCLR/x";
  h.config = {{"clr", clr},          {"batch_size", 16}, {"model", "res18"},       {"epochs", 4},
              {"effective_lr", 0.3}, {"workers", 4},     {"faster_version", false}};
  for (int i = 0; i < 8; ++i) {
    h.intervals.push_back({{"epoch", i / 2 + 1},
                           {"global_step", 10 * (i + 1)},
                           {"info_nce", 3.0 - 0.2 * i},
                           {"mi_estimate", 0.4 + 0.2 * i},
                           {"log_k", std::log(31.0)},
                           {"saturated", 0.05},
                           {"p_pos_mean", 0.3},
                           {"ess", 0.6},
                           {"top1", 0.4},
                           {"grad_norm", 1.0 + 0.1 * i},
                           {"data_wait_share", 0.05},
                           {"effective_rank_z", 20.0},
                           {"z_dim", 128.0},
                           {"rank_max_z", 32.0},
                           {"z_dim_std", 0.07},
                           {"z_dim_std_spread", 0.0884}});
  }
  for (int e = 1; e <= 4; ++e) h.epochs.push_back({{"epoch", e}, {"loss", 3.0 - 0.4 * e}});
  return h;
}

// A copy: the findings are often a temporary.
std::optional<Finding> find(const std::vector<Finding>& fs, const std::string& rule) {
  for (const auto& f : fs)
    if (f.rule == rule) return f;
  return std::nullopt;
}

bool mentions(const std::optional<Finding>& f, const std::string& s) {
  return f && f->text.find(s) != std::string::npos;
}

}  // namespace

TEST(Diagnosis, HealthyRunHasNoProblem) {
  auto fs = diagnose(healthy());
  for (const auto& f : fs) EXPECT_EQ(f.severity, "info") << f.rule << ": " << f.text;
  ASSERT_TRUE(find(fs, "healthy"));
  EXPECT_TRUE(mentions(find(fs, "status"), "finished: 4/4 epochs"));
  EXPECT_TRUE(
      mentions(find(fs, "summary"), "effective rank z 20.0 of at most 32 (batch rows vs 128 dimensions)"));
}

TEST(Diagnosis, SaturationSimclrPointsToFlatclr) {
  auto h = healthy();
  for (size_t i = 0; i < h.intervals.size(); ++i) h.intervals[i]["saturated"] = i < 6 ? 0.1 : 0.96;
  auto fs = diagnose(h);
  auto f = find(fs, "saturation");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "problem");
  EXPECT_TRUE(mentions(f, "vanished on 96% of rows after epoch 3")) << f->text;
  EXPECT_TRUE(mentions(f, "`clr`=flatclr"));
  EXPECT_FALSE(find(fs, "healthy"));
}

TEST(Diagnosis, SaturationUnderFlatclrIsInformation) {
  auto h = healthy("flatclr");
  for (auto& r : h.intervals) r["saturated"] = 0.8;
  auto f = find(diagnose(h), "saturation");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "info");
  EXPECT_TRUE(mentions(f, "80% of rows")) << f->text;
  EXPECT_TRUE(mentions(f, "from epoch 1")) << f->text;
}

TEST(Diagnosis, SaturationBelowHalfIsQuiet) {
  auto h = healthy();
  for (auto& r : h.intervals) r["saturated"] = 0.45;
  EXPECT_FALSE(find(diagnose(h), "saturation"));
}

// The run against the studies' cells (report/study_cells.h): three made-up cells, one per kind of advice.
std::vector<StudyCell> cells() {
  StudyCell calm;  // as the small-batch study's batch-16 cell: the methods tied
  calm.study = "logk", calm.page = "docs/results/logk-study.md", calm.regime = "batch 16";
  calm.temperature = 0.1, calm.batch_size = 16, calm.epochs = 15, calm.images = 5000;
  calm.simclr = CellResult{2, 39.94, 0.09, 36.23, 0.15, 0.308, 0.358, 0.0};
  calm.flatclr = CellResult{2, 39.51, 0.23, 35.97, 0.54, 0.398, 0.447, 0.006};
  calm.knn = CellDifference{-0.43, -2.46, 0, false, false};
  calm.linear = CellDifference{-0.26, -0.66, 0, false, false};
  StudyCell cold;  // SimCLR saturated, FlatCLR ahead beyond the spread
  cold.study = "saturation", cold.page = "docs/results/saturation-study.md", cold.regime = "cold";
  cold.temperature = 0.05, cold.batch_size = 16, cold.epochs = 15, cold.images = 1000;
  cold.color_jitter = 0.0, cold.crop_min_scale = 0.9;
  cold.simclr = CellResult{3, 30.0, 0.4, 28.0, 0.5, 0.97, 0.995, 0.6};
  cold.flatclr = CellResult{3, 32.5, 0.3, 30.0, 0.4, 0.98, 0.996, 0.7};
  cold.knn = CellDifference{2.5, 6.1, 3, true, true};
  StudyCell behind = cold;  // FlatCLR behind beyond the spread
  behind.regime = "long", behind.temperature = 0.1, behind.batch_size = 8, behind.epochs = 150;
  behind.simclr->p_pos = 0.9, behind.simclr->saturated = 0.3;
  behind.flatclr->p_pos = 0.93, behind.flatclr->saturated = 0.4;
  behind.knn = CellDifference{-1.8, -5.0, 3, true, true};
  return {calm, cold, behind};
}

RunHistory with(const std::string& clr, double p_pos, double saturated, int64_t batch, double tau) {
  auto h = healthy(clr);
  h.config["batch_size"] = batch;
  h.config["temperature"] = tau;
  for (auto& r : h.intervals) r["p_pos_mean"] = p_pos, r["saturated"] = saturated;
  return h;
}

TEST(Diagnosis, RegimeNamesTheClosestCellAndItsMeasuredTie) {
  auto f = find(diagnose(with("simclr", 0.3, 0.05, 16, 0.1), cells()), "regime");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "info");
  EXPECT_TRUE(mentions(f, "p+ averages 0.300 recently (saturated rows 5%; batch 16, tau 0.1)")) << f->text;
  EXPECT_TRUE(mentions(f,
                       "Closest measured cell: batch 16 of docs/results/logk-study.md (SimCLR at batch 16, "
                       "tau 0.1, 5000 images, 15 epochs, 2 seeds: p+ 0.308, saturated rows 0%)"))
      << f->text;
  EXPECT_TRUE(mentions(f,
                       "kNN -0.43 points (two-sample t over 2 and 2 seeds, t = -2.46: within the seeds' "
                       "spread) and linear -0.26 points"))
      << f->text;
  EXPECT_TRUE(mentions(f, "switching to `clr`=flatclr is not expected to help here")) << f->text;
  f = find(diagnose(with("flatclr", 0.4, 0.0, 16, 0.1), cells()), "regime");
  ASSERT_TRUE(f);
  EXPECT_TRUE(mentions(f, "(FlatCLR at batch 16")) << f->text;
  EXPECT_TRUE(mentions(f, "SimCLR would be expected to do as well here")) << f->text;
}

TEST(Diagnosis, RegimeInASaturatedCellWhereFlatclrWonAdvisesIt) {
  auto f = find(diagnose(with("simclr", 0.96, 0.55, 16, 0.05), cells()), "regime");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "warning");
  EXPECT_TRUE(mentions(f,
                       "Closest measured cell: cold of docs/results/saturation-study.md (SimCLR at batch 16, "
                       "tau 0.05, 1000 images, 15 epochs, colour jitter 0, crop scale >= 0.9, 3 seeds: p+ "
                       "0.970, saturated rows 60%)"))
      << f->text;
  EXPECT_TRUE(mentions(f, "kNN +2.50 points (paired over 3 seeds, t = 6.10: beyond the seeds' spread)"))
      << f->text;
  EXPECT_TRUE(mentions(f, "FlatCLR did better there, consider `clr`=flatclr")) << f->text;
  EXPECT_TRUE(find(diagnose(with("simclr", 0.96, 0.55, 16, 0.05), cells()), "saturation"));  // both speak
  f = find(diagnose(with("flatclr", 0.97, 0.6, 16, 0.05), cells()), "regime");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "info");
  EXPECT_TRUE(mentions(f, ": FlatCLR did better there")) << f->text;
  EXPECT_FALSE(mentions(f, "consider")) << f->text;
}

TEST(Diagnosis, AKnnDifferenceTheLinearProbeDoesNotConfirmIsReportedAsKnnOnly) {
  auto measured = cells();
  // cold with a linear difference within the spread, as the saturation study's saturating-1 cell
  measured[1].linear = CellDifference{-0.03, -0.05, 3, true, false};
  auto f = find(diagnose(with("simclr", 0.96, 0.55, 16, 0.05), measured), "regime");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "info");
  EXPECT_TRUE(mentions(f, "linear -0.03 points (paired over 3 seeds, t = -0.05: within the seeds' spread)"))
      << f->text;
  EXPECT_TRUE(mentions(f,
                       ": FlatCLR did better there in kNN only (the linear probe showed no such difference); "
                       "`clr`=flatclr may help a little"))
      << f->text;
  EXPECT_FALSE(mentions(f, "consider")) << f->text;
  // a linear difference beyond the spread the same way confirms it: the firm advice
  measured[1].linear = CellDifference{1.2, 5.0, 3, true, true};
  f = find(diagnose(with("simclr", 0.96, 0.55, 16, 0.05), measured), "regime");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "warning");
  EXPECT_TRUE(mentions(f, "FlatCLR did better there, consider `clr`=flatclr")) << f->text;
  // FlatCLR behind in kNN, the linear probe not agreeing: no firm advice to switch back
  measured[2].linear = CellDifference{0.4, 0.5, 3, true, false};
  f = find(diagnose(with("flatclr", 0.93, 0.4, 8, 0.1), measured), "regime");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "info");
  EXPECT_TRUE(mentions(f,
                       ": SimCLR did better there in kNN only (the linear probe showed no such difference); "
                       "`clr`=simclr may help a little"))
      << f->text;
}

TEST(Diagnosis, RegimeInACellWhereFlatclrLostAdvisesSimclr) {
  auto f = find(diagnose(with("flatclr", 0.93, 0.4, 8, 0.1), cells()), "regime");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "warning");
  EXPECT_TRUE(mentions(f, "Closest measured cell: long of")) << f->text;
  EXPECT_TRUE(mentions(f, "kNN -1.80 points")) << f->text;
  EXPECT_TRUE(mentions(f, "SimCLR did better there, consider `clr`=simclr")) << f->text;
  f = find(diagnose(with("simclr", 0.9, 0.3, 8, 0.1), cells()), "regime");
  ASSERT_TRUE(f);
  EXPECT_TRUE(mentions(f, ": SimCLR did better there")) << f->text;
}

TEST(Diagnosis, RegimeBeyondEveryCellFollowsTheMechanism) {
  const std::vector<StudyCell> calm_only{cells()[0]};
  auto h = with("simclr", 0.95, 0.2, 16, 0.1);
  auto f = find(diagnose(h, calm_only), "regime");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "warning");  // less than 10% of the gradient left
  EXPECT_TRUE(
      mentions(f,
               "beyond every cell of the studies (the highest p+ any SimCLR run reached there: 0.358, "
               "batch 16 of docs/results/logk-study.md)"))
      << f->text;
  EXPECT_TRUE(mentions(f, "1 - p+ = 5% of its InfoNCE gradient")) << f->text;
  EXPECT_TRUE(mentions(f, "`clr`=flatclr")) << f->text;
  for (auto& r : h.intervals) r["p_pos_mean"] = 0.8;
  f = find(diagnose(h, calm_only), "regime");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "info");
  // Within a logging interval's noise (0.05) of the highest p+ measured: still the cell.
  for (auto& r : h.intervals) r["p_pos_mean"] = 0.40;
  EXPECT_TRUE(mentions(find(diagnose(h, calm_only), "regime"), "Closest measured cell"));
  h.config["clr"] = "flatclr";
  for (auto& r : h.intervals) r["p_pos_mean"] = 0.8;
  f = find(diagnose(h, calm_only), "regime");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "info");
  EXPECT_TRUE(mentions(f, "FlatNCE's does not shrink with p+")) << f->text;
  // Saturated and beyond every cell: the saturation finding speaks, not this one.
  for (auto& r : h.intervals) r["saturated"] = 0.9;
  EXPECT_FALSE(find(diagnose(h, calm_only), "regime"));
  // No cell at all: the mechanism, and why.
  f = find(diagnose(with("simclr", 0.3, 0.0, 16, 0.1), {}), "regime");
  ASSERT_TRUE(f);
  EXPECT_TRUE(mentions(f, "no study cell holds SimCLR runs to compare with")) << f->text;
}

// The built-in cells: a healthy batch-16 SimCLR run is closest to the small-batch study's batch-16 cell.
TEST(Diagnosis, RegimeFromTheBuiltInCells) {
  auto f = find(diagnose(with("simclr", 0.3, 0.0, 16, 0.1)), "regime");
  ASSERT_TRUE(f);
  EXPECT_TRUE(mentions(f, "Closest measured cell: batch 16 of docs/results/logk-study.md")) << f->text;
}

TEST(Diagnosis, LogKCeiling) {
  auto h = healthy();
  for (auto& r : h.intervals) r["mi_estimate"] = 0.95 * std::log(31.0);
  auto f = find(diagnose(h), "log_k");
  ASSERT_TRUE(f);
  EXPECT_TRUE(mentions(f, "95% of its ceiling log(2N-1) = 3.43 at batch 16")) << f->text;
}

TEST(Diagnosis, CollapseByEffectiveRank) {
  auto h = healthy();
  h.intervals.back()["effective_rank_z"] = 1.9;
  auto f = find(diagnose(h), "collapse");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "problem");
  EXPECT_TRUE(mentions(f, "embeddings collapsing: effective rank 1.9 of at most 32")) << f->text;
}

TEST(Diagnosis, RankHalvingIsAWarning) {
  auto h = healthy();
  h.intervals.back()["effective_rank_z"] = 9.0;  // from 20
  auto f = find(diagnose(h), "collapse");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "warning");
  EXPECT_TRUE(mentions(f, "fell from 20.0 to 9.0")) << f->text;
}

TEST(Diagnosis, CollapseByDimensionStd) {
  auto h = healthy();
  for (auto& r : h.intervals) r.erase("effective_rank_z");
  h.intervals.back()["z_dim_std"] = 0.01;
  auto f = find(diagnose(h), "collapse");
  ASSERT_TRUE(f);
  EXPECT_TRUE(mentions(f, "0.0100")) << f->text;
}

TEST(Diagnosis, DataLoadingBottleneck) {
  auto h = healthy();
  for (auto& r : h.intervals) r["data_wait_share"] = 0.4;
  auto f = find(diagnose(h), "data");
  ASSERT_TRUE(f);
  EXPECT_TRUE(mentions(f,
                       "data loading takes 40% of step time: raise `workers` (now 4) or use "
                       "`faster_version`=True"))
      << f->text;
  h.config["faster_version"] = true;
  EXPECT_TRUE(mentions(find(diagnose(h), "data"), "`threads`"));
}

TEST(Diagnosis, NonFiniteStopNamesStepAndCheckpoint) {
  auto h = healthy();
  h.events.push_back({{"event", "nonfinite"},
                      {"what", "loss"},
                      {"value", "nan"},
                      {"global_step", 812},
                      {"epoch", 3},
                      {"action", "stop"},
                      {"last_checkpoint", "checkpoint_0002.pth.tar"}});
  auto f = find(diagnose(h), "nonfinite");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "problem");
  EXPECT_TRUE(mentions(f, "the loss became nan at step 812 (epoch 3)")) << f->text;
  EXPECT_TRUE(mentions(f, "checkpoint_0002.pth.tar"));
}

TEST(Diagnosis, NonFiniteSkipsAreCounted) {
  auto h = healthy();
  for (int i = 0; i < 3; ++i)
    h.events.push_back({{"event", "nonfinite"}, {"what", "gradient"}, {"value", "inf"}, {"action", "skip"}});
  auto f = find(diagnose(h), "nonfinite");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "warning");
  EXPECT_TRUE(mentions(f, "3 step(s) were skipped")) << f->text;
}

TEST(Diagnosis, LossNotDecreasing) {
  auto h = healthy();
  for (auto& r : h.intervals) r["info_nce"] = 3.4;
  auto f = find(diagnose(h), "no_progress");
  ASSERT_TRUE(f);
  EXPECT_TRUE(mentions(f, "has not decreased (3.4000 at step 10, 3.4000 recently)")) << f->text;
}

TEST(Diagnosis, GradientGrowth) {
  auto h = healthy();
  h.intervals.back()["grad_norm"] = 25.0;
  h.intervals[6]["grad_norm"] = 25.0;
  auto f = find(diagnose(h), "grad_growth");
  ASSERT_TRUE(f);
  EXPECT_TRUE(mentions(f, "grew 25x")) << f->text;
}

TEST(Diagnosis, KnnDropAndTrend) {
  auto h = healthy();
  h.epochs[1]["knn_top1"] = 0.35;
  h.epochs[3]["knn_top1"] = 0.30;
  auto f = find(diagnose(h), "knn");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->severity, "warning");
  EXPECT_TRUE(mentions(f, "fell from 35.00% (epoch 2) to 30.00% (epoch 4)")) << f->text;
  h.epochs[3]["knn_top1"] = 0.36;
  f = find(diagnose(h), "knn");
  EXPECT_EQ(f->severity, "info");
}

TEST(Diagnosis, RunInProgressAndEmpty) {
  auto h = healthy();
  h.epochs.resize(2);
  EXPECT_TRUE(mentions(find(diagnose(h), "status"), "2/4 epochs done"));
  h.intervals.clear();
  auto fs = diagnose(h);
  EXPECT_TRUE(std::any_of(fs.begin(), fs.end(), [](const Finding& f) {
    return f.text.find("no step has been logged yet") != std::string::npos;
  }));
}

TEST(RunHistory, ReadsARunFolderAndSkipsCutLines) {
  auto dir = fs::temp_directory_path() / ("flatclr_history_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"clr": "simclr", "batch_size": 16, "epochs": 1})";
  std::ofstream(dir / "metrics.jsonl") << R"({"epoch": 1, "loss": 2.5})"
                                       << "\n";
  std::ofstream(dir / "steps.jsonl") << R"({"epoch": 1, "global_step": 10, "saturated": 0.9})"
                                     << "\n"
                                     << R"({"event": "nonfinite", "global_step": 12})"
                                     << "\n"
                                     << R"({"epoch": 1, "global_st)";
  std::ofstream(dir / "checkpoint_0001.pth.tar") << "x";
  auto h = read_run_history(dir.string());
  EXPECT_EQ(h.config_value<int64_t>("batch_size", 0), 16);
  EXPECT_EQ(h.epochs.size(), 1u);
  ASSERT_EQ(h.intervals.size(), 1u);
  EXPECT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.checkpoints, (std::vector<std::string>{"checkpoint_0001.pth.tar"}));
  EXPECT_EQ(h.series("saturated").value, (std::vector<double>{0.9}));
  fs::remove_all(dir);
}

TEST(RunHistory, NotARunFolderIsAClearError) {
  auto dir = fs::temp_directory_path() / ("flatclr_history_empty_" + std::to_string(getpid()));
  fs::create_directories(dir);
  try {
    read_run_history(dir.string());
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("not a flatclr run folder"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_run_history((dir / "missing").string()), std::exception);
  fs::remove_all(dir);
}

// Regression (fuzz_run_history): a steps.jsonl record with "global_step": 1e300 made the diagnosis convert an
// out-of-range double to int64 (undefined behaviour, reported by UBSan). Integer fields are now read through
// report::int_value, which clamps, and non-finite or non-numeric values fall back.
TEST(Diagnosis, OutOfRangeNumbersInARunFolderAreReadSafely) {
  using flatclr::report::int_value;
  const auto j = nlohmann::json::parse(
      R"({"big": 1e300, "small": -1e300, "int": 42, "float": 7.9, "text": "x", "huge": 18446744073709551615})");
  EXPECT_EQ(int_value(j, "big", -1), INT64_MAX);
  EXPECT_EQ(int_value(j, "small", -1), INT64_MIN);
  EXPECT_EQ(int_value(j, "int", -1), 42);
  EXPECT_EQ(int_value(j, "float", -1), 7);
  EXPECT_EQ(int_value(j, "text", -1), -1);
  EXPECT_EQ(int_value(j, "missing", -1), -1);
  EXPECT_EQ(int_value(j, "huge", -1), INT64_MAX);
  EXPECT_EQ(int_value(nlohmann::json::array(), "big", -1), -1);
  flatclr::report::RunHistory run;
  run.config = nlohmann::json::parse(R"({"epochs": 1e300, "batch_size": -1e300, "clr": "simclr"})");
  run.epochs.push_back(nlohmann::json::parse(R"({"epoch": 1e300, "loss": 1.0})"));
  run.intervals.push_back(
      nlohmann::json::parse(R"({"epoch": 1e300, "global_step": 1e300, "saturated": 0.9})"));
  EXPECT_NO_THROW(flatclr::report::format_diagnosis(run, flatclr::report::diagnose(run)));
}

// Found by fuzz_run_history: a field of the wrong type ({"event": 5}, {"epoch": "x"}) made nlohmann's value()
// throw type_error, which is not a UserError, out of `flatclr diagnose`. Such fields are now read as absent.
TEST(Diagnosis, WrongTypedFieldsInARunFolderAreReadAsAbsent) {
  using flatclr::report::number_value;
  using flatclr::report::string_value;
  const auto j = nlohmann::json::parse(R"({"n": 2.5, "i": 3, "s": "x", "b": true, "o": {}})");
  EXPECT_EQ(number_value(j, "n", -1), 2.5);
  EXPECT_EQ(number_value(j, "i", -1), 3.0);
  EXPECT_EQ(number_value(j, "s", -1), -1);
  EXPECT_EQ(number_value(j, "b", -1), -1);
  EXPECT_EQ(number_value(nlohmann::json(7), "n", -1), -1);
  EXPECT_EQ(string_value(j, "s", "d"), "x");
  EXPECT_EQ(string_value(j, "n", "d"), "d");
  EXPECT_EQ(string_value(j, "o", "d"), "d");
  EXPECT_EQ(string_value(j, "missing", "d"), "d");

  flatclr::report::RunHistory run;
  run.config = nlohmann::json::parse(R"({"epochs": "ten", "batch_size": [], "clr": 5, "effective_lr": "x"})");
  run.epochs.push_back(nlohmann::json::parse(R"({"epoch": "one", "knn_top1": "high"})"));
  run.epochs.push_back(nlohmann::json::parse(R"({"epoch": 2, "knn_top1": 0.5})"));
  for (int i = 0; i < 4; ++i) {
    run.intervals.push_back(nlohmann::json::parse(
        R"({"epoch": "e", "global_step": {"a": 1}, "saturated": 0.9, "grad_norm": 1.0, "info_nce": 1.0})"));
  }
  run.events.push_back(nlohmann::json::parse(R"({"event": 5})"));
  run.events.push_back(nlohmann::json::parse(
      R"({"event": "nonfinite", "what": 1, "value": null, "action": [], "last_checkpoint": 2, "epoch": "x"})"));
  std::string text;
  ASSERT_NO_THROW(text = flatclr::report::format_diagnosis(run, flatclr::report::diagnose(run)));
  EXPECT_NE(text.find("the loss became NaN"), std::string::npos) << text;  // the defaults stand in
  EXPECT_NE(text.find("last good checkpoint: none"), std::string::npos) << text;
  const auto series = run.series("saturated");
  ASSERT_EQ(series.value.size(), 4u);
  EXPECT_EQ(series.step[0], 0.0);
  EXPECT_EQ(series.epoch[0], 0.0);
}
