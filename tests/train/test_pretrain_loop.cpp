// The pretraining loop in-process, on a small synthetic image folder that the test writes (two classes of
// 16x16 PNGs; no CIFAR files needed): the observers are called in order (start, every interval, every epoch,
// end) with the loop's statistics, a caller's observer comes before the standard sinks (its kNN value is
// logged), the run folder gets its records and checkpoints, and a second call resumed from the epoch-1
// checkpoint ends with the weights of the uninterrupted run. The loop alone, without sinks, writes nothing.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "../test_paths.h"
#include "flatclr/core/error.h"
#include "flatclr/io/checkpoint.h"
#include "flatclr/train/observer.h"
#include "flatclr/train/pretrain.h"
#include "synthetic_folder.h"

using namespace flatclr;
namespace fs = std::filesystem;

namespace {

fs::path write_synthetic_folder() { return flatclr::testing::write_synthetic_folder("flatclr_loop"); }

struct Recorder : train::PretrainObserver {
  std::vector<std::string> calls;
  size_t train_images = 0;
  int64_t intervals = 0, last_interval_step = 0;
  void on_start(const train::PretrainConfig&, const train::RunStart& start) override {
    calls.push_back("start");
    train_images = start.train_set->indices.size();
    EXPECT_EQ(start.steps_per_epoch, 6);
  }
  void on_interval(const train::Interval& interval) override {
    ++intervals;
    EXPECT_GT(interval.global_step, last_interval_step);
    last_interval_step = interval.global_step;
    EXPECT_FALSE(interval.record->empty());
  }
  void on_epoch_end(train::EpochEnd& end) override {
    calls.push_back("epoch " + std::to_string(end.stats.epoch));
    EXPECT_TRUE(end.model->is_training());
    EXPECT_EQ(end.global_step, end.stats.epoch * 6);
    end.stats.knn_top1 = 0.5;  // an observer's measurement, which the sinks then log
    end.stats.knn_top5 = 1.0;
  }
  void on_end(const train::PretrainResult& result) override {
    calls.push_back("end " + std::to_string(result.epochs.size()));
  }
};

train::PretrainConfig small_config(const fs::path& root) {
  train::PretrainConfig c;
  c.data.root = root.string();
  c.data.dataset_name = "synthetic";
  c.data.download = false;
  c.faster_version = true;
  c.model.arch = models::Arch::kRes10;
  c.model.width_multiplier = 0.125;
  c.batch_size = 8;
  c.epochs = 2;
  c.warmup_epochs = 1;
  c.lr = 0.3;
  c.save_every_n_epochs = 1;
  c.save_dir = (root / "results").string();
  c.log_every_n_steps = 4;  // intervals end at steps 4 and 6 of each epoch
  c.run.progress = core::ProgressMode::kNone;
  c.tensorboard = false;
  c.plots = false;
  c.run.threads = 2;
  // Pinned: `auto` would time fp32 against bf16 at every set-up, and two set-ups of one comparison could pick
  // different precisions on a busy machine.
  c.precision = core::Precision::kFp32;
  c.validate();
  c.resolve();
  return c;
}

}  // namespace

TEST(PretrainLoop, ObserversSeeEveryEpochAndResumingEndsWhereTheRunEnds) {
  const fs::path root = write_synthetic_folder();
  Recorder rec;
  const auto result = train::pretrain(small_config(root), {&rec});
  EXPECT_EQ(rec.calls, (std::vector<std::string>{"start", "epoch 1", "epoch 2", "end 2"}));
  EXPECT_EQ(rec.train_images, 48u);
  EXPECT_EQ(rec.intervals, 4);
  ASSERT_EQ(result.epochs.size(), 2u);
  for (const auto& s : result.epochs) {
    EXPECT_TRUE(std::isfinite(s.loss));
    EXPECT_GT(s.loss, 0.0);
    EXPECT_EQ(s.knn_top1, 0.5);
  }
  const fs::path run(result.run_dir);
  std::ifstream metrics(run / "metrics.jsonl");
  std::string line;
  int64_t metric_lines = 0;
  while (std::getline(metrics, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["knn_top1"].get<double>(), 0.5) << line;  // the caller's observer ran before the sink
    ++metric_lines;
  }
  EXPECT_EQ(metric_lines, 2);
  EXPECT_TRUE(fs::exists(run / "config.json"));
  EXPECT_TRUE(fs::exists(run / "steps.jsonl"));
  EXPECT_TRUE(fs::exists(run / "checkpoint_0001.pth.tar"));
  ASSERT_EQ(result.last_checkpoint, (run / "checkpoint_0002.pth.tar").string());
  const auto straight = io::load_checkpoint(result.last_checkpoint);
  EXPECT_EQ(straight.global_step, 12);  // 48 images / batch 8 = 6 steps per epoch

  // Resume from epoch 1 in-process: epoch 2 again, same weights as the uninterrupted run.
  fs::rename(run / "checkpoint_0002.pth.tar", root / "straight.pth.tar");
  auto c = small_config(root);
  c.log_dir = run.string();
  c.train_from = "checkpoint_0001.pth.tar";
  Recorder rec2;
  const auto resumed = train::pretrain(c, {&rec2});
  EXPECT_EQ(rec2.calls, (std::vector<std::string>{"start", "epoch 2", "end 1"}));
  const auto again = io::load_checkpoint(resumed.last_checkpoint);
  EXPECT_EQ(again.global_step, 12);
  double max_diff = 0;
  for (const auto& e : straight.model_state_dict) {
    const auto other = again.model_state_dict.at(e.key());
    max_diff = std::max(max_diff,
                        (e.value().to(torch::kDouble) - other.to(torch::kDouble)).abs().max().item<double>());
  }
  EXPECT_LE(max_diff, 1e-6);
  fs::remove_all(root);
}

namespace {
double max_weight_diff(const io::Checkpoint& a, const io::Checkpoint& b) {
  double max_diff = 0;
  for (const auto& e : a.model_state_dict) {
    const auto other = b.model_state_dict.at(e.key());
    max_diff = std::max(max_diff,
                        (e.value().to(torch::kDouble) - other.to(torch::kDouble)).abs().max().item<double>());
  }
  return max_diff;
}
}  // namespace

// save_every_n_steps: a checkpoint inside the epochs too (the newest only, none once the last epoch's is
// written). A run given just its folder (log_dir, as a restarted job gets its own) resumes the newest
// complete checkpoint by itself, from inside an epoch, to the weights of the uninterrupted run; a finished
// run or another run's folder is an error.
TEST(PretrainLoop, StepCheckpointsResumeInsideAnEpochByThemselves) {
  const fs::path root = write_synthetic_folder();
  auto c = small_config(root);
  c.save_every_n_steps = 4;  // 6 steps per epoch: steps 4 and 8 (12 is the last epoch's checkpoint)
  c.log_dir = (root / "straight").string();  // not there yet: the run starts in it
  const auto result = train::pretrain(c, {});
  EXPECT_EQ(result.run_dir, c.log_dir);
  EXPECT_TRUE(fs::exists(root / "straight" / "checkpoint_0001.pth.tar"));
  EXPECT_FALSE(fs::exists(root / "straight" / "checkpoint_step_00000008.pth.tar"))
      << "the last epoch's replaces it";
  const auto straight = io::load_checkpoint(result.last_checkpoint);

  // The same run dies during step 10.
  struct DieAtStep10 : train::PretrainObserver {
    void on_step_end(train::StepEnd& e) override {
      if (e.global_step == 10) throw std::runtime_error("killed");
    }
  } die;
  const fs::path run = root / "the_run";
  c.log_dir = run.string();
  EXPECT_THROW(train::pretrain(c, {&die}), std::runtime_error);
  EXPECT_FALSE(fs::exists(run / "checkpoint_step_00000004.pth.tar"))
      << "only the newest step checkpoint stays";
  const auto at8 = io::load_checkpoint((run / "checkpoint_step_00000008.pth.tar").string());
  EXPECT_EQ(at8.global_step, 8);
  EXPECT_EQ(at8.epoch, 1);  // epochs completed before it

  // Restarted with the same flags: the newest complete checkpoint is step 8's (a newer file that does not
  // load, a damaged or foreign one, is passed over); epoch 2 from its third step on.
  { std::ofstream(run / "checkpoint_step_00000010.pth.tar") << "not a checkpoint"; }
  Recorder rec;
  const auto resumed = train::pretrain(c, {&rec});
  EXPECT_EQ(rec.calls, (std::vector<std::string>{"start", "epoch 2", "end 1"}));
  const auto again = io::load_checkpoint(resumed.last_checkpoint);
  EXPECT_EQ(again.global_step, 12);
  EXPECT_LE(max_weight_diff(straight, again), 1e-6);

  // A finished run is not trained again by accident.
  try {
    train::pretrain(c, {});
    ADD_FAILURE() << "resumed a finished run";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("holds a finished run"), std::string::npos) << e.what();
  }
  // Another configuration in the same folder is another run: an error naming the field.
  fs::remove(run / "checkpoint_0002.pth.tar");
  auto other = c;
  other.lr = 0.5;
  other.resolve();
  try {
    train::pretrain(other, {});
    ADD_FAILURE() << "continued another run";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("holds another run: `lr`=0.5 now, 0.3 in "), std::string::npos)
        << e.what();
  }
  fs::remove_all(root);
}

TEST(PretrainLoop, TheLoopAloneTrainsAndWritesNothing) {
  const fs::path root = write_synthetic_folder();
  const auto c = small_config(root);
  auto setup = train::setup_pretraining(c);
  const fs::path run(setup->start.run_dir);
  const auto before = setup->model->parameters()[0].clone();
  Recorder rec;
  const auto result = train::run_pretraining(c, *setup, {&rec});
  EXPECT_EQ(rec.calls, (std::vector<std::string>{"start", "epoch 1", "epoch 2", "end 2"}));
  EXPECT_TRUE(result.last_checkpoint.empty());
  EXPECT_GT((setup->model->parameters()[0] - before).abs().max().item<double>(), 0.0) << "it trained";
  EXPECT_TRUE(fs::is_directory(run));
  EXPECT_TRUE(fs::is_empty(run)) << "records and checkpoints are the sinks' job";
  fs::remove_all(root);
}

namespace {
struct NonfiniteRecorder : train::PretrainObserver {
  std::vector<int64_t> steps;
  std::vector<double> skipped_per_interval;
  void on_nonfinite(const train::NonfiniteStep& s) override { steps.push_back(s.global_step); }
  void on_interval(const train::Interval& interval) override {
    for (const auto& [k, v] : *interval.record)
      if (k == "skipped_steps") skipped_per_interval.push_back(v);
  }
};
}  // namespace

// The loop with the sync-free step (a GPU's; here forced on the CPU): the same losses and weights as with the
// guarded step, and, when the run blows up (a learning rate of 1e6 with on_nonfinite=skip), the same steps
// reported non-finite, from the flags it reads once per logging interval.
TEST(PretrainLoop, TheSyncFreeStepTrainsAndReportsLikeTheGuardedStep) {
  const fs::path root = write_synthetic_folder();
  for (const double lr : {0.3, 1e6}) {
    auto c = small_config(root);
    c.lr = lr;
    c.on_nonfinite = train::OnNonfinite::kSkip;
    c.resolve();
    std::vector<train::PretrainResult> results;
    std::vector<NonfiniteRecorder> recorders(2);
    std::vector<at::Tensor> weights;
    for (const bool sync_free : {false, true}) {
      auto setup = train::setup_pretraining(c);
      setup->sync_free_step = sync_free;
      results.push_back(train::run_pretraining(c, *setup, {&recorders[sync_free ? 1 : 0]}));
      std::vector<at::Tensor> flat;
      for (const auto& p : setup->model->parameters()) flat.push_back(p.detach().flatten());
      weights.push_back(torch::cat(flat));
    }
    ASSERT_EQ(results[0].epochs.size(), 2u);
    for (size_t e = 0; e < 2; ++e) {
      const auto &g = results[0].epochs[e], &f = results[1].epochs[e];
      EXPECT_EQ(g.skipped_steps, f.skipped_steps) << "lr " << lr << " epoch " << e;
      if (std::isfinite(g.loss)) EXPECT_NEAR(g.loss, f.loss, 1e-9) << "lr " << lr;
    }
    EXPECT_EQ(recorders[0].steps, recorders[1].steps) << "lr " << lr;
    EXPECT_EQ(recorders[0].skipped_per_interval, recorders[1].skipped_per_interval) << "lr " << lr;
    EXPECT_TRUE(torch::equal(weights[0], weights[1])) << "lr " << lr;
    if (lr > 1) {
      EXPECT_GT(results[0].skipped_steps, 0) << "the blow-up this case is for did not happen";
    } else {
      EXPECT_EQ(results[0].skipped_steps, 0);
    }
  }
  fs::remove_all(root);
}
