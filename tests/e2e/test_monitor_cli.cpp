// End to end: the monitoring of a pretraining run on the real CIFAR-10 slice. The TensorBoard event files are
// decoded by TensorBoard's own reader (scripts/tb_read.py), the plots are real PNG files, the diagnosis is
// written and `flatclr diagnose` reads the folder; a run that diverges stops naming the step (or skips, when
// asked).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "e2e_util.h"

using namespace flatclr::e2e;

namespace {

std::vector<fs::path> event_files(const fs::path& run) {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(run))
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0 && e.path().extension() != ".json")
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// TensorBoard's own reader (scripts/tb_read.py) over the given event files of one run folder.
nlohmann::json run_reader(const std::vector<fs::path>& files) {
  const std::string out = files.at(0).string() + ".json";
  std::string cmd = flatclr::testing::python() + " " + flatclr::testing::source_path("scripts/tb_read.py");
  for (const auto& f : files) cmd += " '" + f.string() + "'";
  cmd += " > '" + out + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

nlohmann::json read_events(const fs::path& file) { return run_reader({file})["files"][0]; }

// What TensorBoard's scalar dashboard shows for the run folder of `files`: {tag: [[step, value], ...]}.
nlohmann::json read_dashboard(const std::vector<fs::path>& files) {
  auto j = run_reader(files)["dashboard"];
  EXPECT_EQ(j.size(), 1u) << j.dump();
  return j.begin().value();
}

// Batch 16 on 1% of CIFAR-10 (500 images): 31 steps per epoch.
std::string batch16(const std::string& clr, const fs::path& save) {
  return small_run(clr, save) +
         " --batch_size=16 --data_fraction=0.01 --log_every_n_steps=5 --diag_rank_every=2";
}

}  // namespace

TEST(EndToEndMonitor, SimclrBatch16EventsPlotsDiagnosisAndResume) {
  if (!have_data()) GTEST_SKIP() << "no CIFAR-10 binaries under " << data_dir();
  auto save = fresh_dir("monitor_simclr");
  auto r = run_cli(batch16("simclr", save));
  ASSERT_EQ(r.code, 0) << r.output;
  auto run = only_run_folder(save, "16_SimCLR");
  EXPECT_NE(r.output.find("diagnosis of " + run.string()), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(run / "diagnosis.txt"));

  // steps.jsonl: one record per interval (7 per epoch: steps 5..30 and 31).
  auto steps = read_jsonl(run / "steps.jsonl");
  ASSERT_EQ(steps.size(), 14u);
  EXPECT_EQ(steps[0]["global_step"], 5);
  EXPECT_EQ(steps[6]["global_step"], 31);
  EXPECT_NEAR(steps[0]["log_k"].get<double>(), std::log(31.0), 1e-9);
  EXPECT_TRUE(steps[0].contains("effective_rank_z"));  // intervals 0, 2, 4...
  EXPECT_FALSE(steps[1].contains("effective_rank_z"));
  for (const auto& s : steps) {
    EXPECT_GE(s["p_pos_mean"].get<double>(), 0.0);
    EXPECT_LE(s["p_pos_mean"].get<double>(), 1.0);
    EXPECT_GT(s["grad_norm"].get<double>(), 0.0);
    EXPECT_GT(s["images_per_s"].get<double>(), 0.0);
    EXPECT_LT(s["mi_estimate"].get<double>(), s["log_k"].get<double>());
  }

  // The independent reader decodes the event file: grouped tags, the same values as steps.jsonl.
  auto files = event_files(run);
  ASSERT_EQ(files.size(), 1u);
  auto ev = read_events(files[0]);
  EXPECT_EQ(ev["file_version"], "brain.Event:2");
  EXPECT_FALSE(ev["truncated_tail"].get<bool>());
  std::set<std::string> tags;
  std::map<int64_t, double> info_nce;
  for (const auto& s : ev["scalars"]) {
    tags.insert(s["tag"].get<std::string>());
    if (s["tag"] == "loss/info_nce") info_nce[s["step"].get<int64_t>()] = s["value"].get<double>();
  }
  for (const char* t : {"loss/info_nce",
                        "loss/mi_estimate",
                        "loss/log_k",
                        "loss/top1",
                        "diag/p_pos_mean",
                        "diag/p_pos_min",
                        "diag/saturated",
                        "diag/grad_ratio",
                        "diag/ess",
                        "diag/pos_sim",
                        "diag/neg_sim",
                        "diag/alignment",
                        "diag/uniformity",
                        "diag/grad_norm",
                        "diag/lr",
                        "diag/effective_rank_h",
                        "diag/effective_rank_z",
                        "diag/z_dim_std",
                        "perf/images_per_s",
                        "perf/data_wait_share"})
    EXPECT_EQ(tags.count(t), 1u) << t;
  ASSERT_EQ(info_nce.size(), steps.size());
  for (const auto& s : steps)
    EXPECT_NEAR(info_nce[s["global_step"].get<int64_t>()], s["info_nce"].get<double>(), 1e-5);

  // Plots (when gnuplot is there) and the diagnose command.
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    for (auto png : {"loss.png", "accuracy.png", "saturation.png", "mi.png", "rank.png"})
      EXPECT_GT(fs::file_size(run / "plots" / png), 2000u) << png;
  }
  auto d = run_cli("diagnose " + run.string());
  ASSERT_EQ(d.code, 0) << d.output;
  EXPECT_NE(d.output.find("finished: 2/2 epochs"), std::string::npos) << d.output;
  EXPECT_NE(d.output.find("recently: InfoNCE"), std::string::npos) << d.output;

  // Resume from epoch 1: a second event file starts with a session START at step 32 (TensorBoard then drops
  // the first file's later steps), and steps.jsonl still has each interval once.
  auto resumed = run_cli(batch16("simclr", save) + " --log_dir=" + run.string() +
                         " --train_from=checkpoint_0001.pth.tar");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  files = event_files(run);
  ASSERT_EQ(files.size(), 2u);
  bool found = false;
  for (const auto& f : files) {
    auto e = read_events(f);
    if (!e["session_starts"].empty()) {
      EXPECT_EQ(e["session_starts"][0], 32);  // the first step after the checkpoint
      found = true;
    }
  }
  EXPECT_TRUE(found);
  auto steps2 = read_jsonl(run / "steps.jsonl");
  ASSERT_EQ(steps2.size(), 14u);
  for (size_t i = 1; i < steps2.size(); ++i)
    EXPECT_GT(steps2[i]["global_step"].get<int>(), steps2[i - 1]["global_step"].get<int>());
  // TensorBoard's dashboard over both files shows each step once, with the values of steps.jsonl: the first
  // file's epoch-2 points were purged by the session START of the resumed run.
  auto shown = read_dashboard(files)["loss/info_nce"];
  ASSERT_EQ(shown.size(), steps2.size()) << shown.dump();
  for (size_t i = 0; i < steps2.size(); ++i) {
    EXPECT_EQ(shown[i][0].get<int64_t>(), steps2[i]["global_step"].get<int64_t>());
    EXPECT_NEAR(shown[i][1].get<double>(), steps2[i]["info_nce"].get<double>(), 1e-5);
  }
}

TEST(EndToEndMonitor, DivergingRunStopsNamingTheStep) {
  if (!have_data()) GTEST_SKIP() << "no CIFAR-10 binaries under " << data_dir();
  auto save = fresh_dir("monitor_nan");
  // Plain SGD at lr 1e30 overflows the activations within a few steps.
  auto r = run_cli(batch16("simclr", save) +
                   " --optimizer=sgd --lr=1e30 --learning_rate_scaling=none "
                   "--scheduler=constant --epochs=1");
  ASSERT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("became nan at step"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("last good checkpoint: none"), std::string::npos) << r.output;
  auto run = only_run_folder(save, "16_SimCLR");
  auto d = run_cli("diagnose " + run.string());
  ASSERT_EQ(d.code, 0) << d.output;
  EXPECT_NE(d.output.find("[problem] the "), std::string::npos) << d.output;
  EXPECT_NE(d.output.find("and the run stopped"), std::string::npos) << d.output;
}

TEST(EndToEndMonitor, DivergingRunSkipsStepsWhenAsked) {
  if (!have_data()) GTEST_SKIP() << "no CIFAR-10 binaries under " << data_dir();
  auto save = fresh_dir("monitor_skip");
  auto r = run_cli(batch16("simclr", save) +
                   " --optimizer=sgd --lr=1e30 --learning_rate_scaling=none "
                   "--scheduler=constant --epochs=1 --on_nonfinite=skip");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("skipped: its"), std::string::npos) << r.output;
  auto run = only_run_folder(save, "16_SimCLR");
  auto epochs = read_jsonl(run / "metrics.jsonl");
  ASSERT_EQ(epochs.size(), 1u);
  EXPECT_GT(epochs[0]["skipped_steps"].get<int>(), 0);
  EXPECT_NE(run_cli("diagnose " + run.string()).output.find("were skipped"), std::string::npos);
}

TEST(EndToEndMonitor, DiagnoseNeedsARunFolder) {
  auto r = run_cli("diagnose /nonexistent/run");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/run is not a folder"), std::string::npos) << r.output;
  auto usage = run_cli("diagnose");
  EXPECT_EQ(usage.code, 2) << usage.output;
  auto plot = run_cli("plot /nonexistent/run");
  EXPECT_EQ(plot.code, 1) << plot.output;
}
