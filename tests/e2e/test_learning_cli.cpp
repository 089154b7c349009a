// Pretraining learns: on real CIFAR-10, an encoder pretrained for a few minutes beats, in kNN accuracy, both
// the same architecture's random initialisation and the same run when it learns nothing, by margins outside
// the seed-to-seed spread.
//
// The nothing-learned control is the same run at a learning rate of 1e-9: everything else happens as in the
// real run, so BatchNorm's running statistics are re-estimated over training-mode forward passes of the same
// augmented images, but the updates (the loss's gradient and the weight decay, both scaled by the learning
// rate) leave the weights as initialised: below float32's resolution of each weight, except for the
// zero-initialised biases, which move by about 1e-9. Whatever kNN accuracy re-estimated statistics alone
// give, the control has. It runs one epoch: with fixed weights the running statistics are an exponential
// average (momentum 0.1) over 78 steps, in which the initial statistics keep a weight of 0.9^78 = 3e-4, so
// more epochs would change nothing.
//
// Against the random init, measured (three seeds, this protocol, 2 threads):
//   pretrained kNN top-1 37.34 / 39.42 / 37.71 %   (mean 38.2, sd 1.1)
//   random init         22.48 / 24.45 / 26.31 %   (mean 24.4, sd 1.9)
//   gap                 14.9 / 15.0 / 11.4 points (mean 13.7, sd 2.0)
// A difference of two independent draws spreads by sqrt(1.1^2 + 1.9^2) = 2.2 points. The test asks for 6: an
// encoder that learned nothing (gap 0 +- 2.2) fails it at 2.7 standard deviations, and a learning one passes
// unless its gap falls 3.5 standard deviations below the measured mean.
// Against the control: measured at one seed only (seed 2: pretrained 38.92 %, control 21.78 %, random init
// 24.45 %; re-estimated statistics alone score below the random init there). The margin is provisionally the
// same 6 points, which keeps its meaning if the control spreads as the random init does.
// scripts/learning_margins.sh runs these tests for several seeds (FLATCLR_LEARNING_SEED) and prints the mean
// and spread of each score and gap: run it and set kControlMargin (and the SimCLR test's) from its output.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "e2e_util.h"

using namespace flatclr::e2e;

namespace {

// The seed of pretraining and evaluation; scripts/learning_margins.sh sets others.
int seed() {
  const char* s = std::getenv("FLATCLR_LEARNING_SEED");
  return s && *s ? std::atoi(s) : 2;
}

// 5,000 images (a class-stratified 10%), ResNet-18 at 1/8 width, batch 64: 78 steps per epoch. The learning
// rate is the small-batch study's (0.075 with square-root scaling).
std::string pretrain_flags(const std::string& clr, bool batched, int epochs, const std::string& lr,
                           const fs::path& save) {
  return "--dataset_name=cifar10 --precision=fp32 --clr=" + clr +
         " --faster_version=" + (batched ? "True" : "False") + " --data=" + data_dir() +
         " --download=False --model=res18 --width_multiplier=0.125 --batch_size=64 --epochs=" +
         std::to_string(epochs) + " --warmup_epochs=" + (epochs > 1 ? "1" : "0") +
         " --data_fraction=0.1 --lr=" + lr +
         " --learning_rate_scaling=sqrt --save_every_n_epochs=" + std::to_string(epochs) +
         " --progress=none --seed=" + std::to_string(seed()) +
         " --tensorboard=False --plots=False --save_dir=" + save.string();
}

// kNN (k=200, T=0.1) top-1 in %, with the 5,000 training images as the memory bank, on the full 10,000-image
// test split, of the run's newest checkpoint (or, with `random_init`, of its architecture randomly
// initialised).
double knn_top1(const fs::path& run, bool random_init = false) {
  auto r = run_cli("--train_mode=eval --transfer_mode=knn --checkpoint_dir=" + run.string() +
                   " --data=" + data_dir() + " --download=False --data_fraction=0.1 --progress=none --seed=" +
                   std::to_string(seed()) + (random_init ? " --eval_random_init=True" : ""));
  EXPECT_EQ(r.code, 0) << r.output;
  const auto results = read_jsonl(run / "eval_results.jsonl");
  if (results.empty()) return 0;
  EXPECT_EQ(results.back()["test_images"], 10000);
  EXPECT_EQ(results.back()["checkpoint"].get<std::string>().find("random init") == 0, random_init);
  return 100 * results.back()["best_top1"].get<double>();
}

// Epochs of the control: 1, or more when scripts/learning_margins.sh asks (to show they change nothing).
int control_epochs() {
  const char* s = std::getenv("FLATCLR_LEARNING_CONTROL_EPOCHS");
  return s && *s ? std::atoi(s) : 1;
}

struct Scores {
  double pretrained = 0, control = 0, random_init = 0;
};

// Pretrains `epochs` epochs and the control; the kNN scores of both and of the random init.
Scores learning_scores(const std::string& name, const std::string& clr, bool batched, int epochs) {
  const std::string sub = std::string("64_") + (clr == "simclr" ? "SimCLR" : "FlatCLR");
  Scores s;
  auto save = fresh_dir("learning_" + name);
  auto r = run_cli(pretrain_flags(clr, batched, epochs, "0.075", save));
  EXPECT_EQ(r.code, 0) << r.output;
  const auto run = only_run_folder(save, sub);
  s.pretrained = knn_top1(run);
  s.random_init = knn_top1(run, /*random_init=*/true);
  auto control_save = fresh_dir("learning_" + name + "_control");
  r = run_cli(pretrain_flags(clr, batched, control_epochs(), "1e-9", control_save));
  EXPECT_EQ(r.code, 0) << r.output;
  s.control = knn_top1(only_run_folder(control_save, sub));
  std::printf(
      "learning | %s | seed %d | kNN top-1 pretrained %.2f %% | control %.2f %% | gap %.2f points | random "
      "init %.2f %% | gap %.2f points\n",
      name.c_str(), seed(), s.pretrained, s.control, s.pretrained - s.control, s.random_init,
      s.pretrained - s.random_init);
  return s;
}

// The margins (points of kNN top-1): see the top of this file.
constexpr double kRandomInitMargin = 6.0;
constexpr double kControlMargin = 6.0;  // provisional: one seed measured

void expect_learned(const Scores& s) {
  EXPECT_GE(s.pretrained - s.random_init, kRandomInitMargin)
      << "pretrained " << s.pretrained << " %, random init " << s.random_init
      << " %: pretraining did not learn";
  EXPECT_GE(s.pretrained - s.control, kControlMargin)
      << "pretrained " << s.pretrained << " %, the same run at lr 1e-9 " << s.control
      << " %: no more than re-estimated BatchNorm statistics give";
}

}  // namespace

TEST(EndToEndLearning, FlatClrBatchedBeatsRandomInitAndTheNothingLearnedControl) {
  if (!have_data()) GTEST_SKIP() << "no CIFAR-10 binaries under " << data_dir();
  // 8 epochs of 78 steps, about 95 s on 2 cores; the control runs one (an eighth of that).
  expect_learned(learning_scores("flatclr_batched", "flatclr", true, 8));
}

// SimCLR with the per-image pipeline, the same protocol. Disabled until scripts/learning_margins.sh has
// measured its time and spread (--gtest_also_run_disabled_tests runs it): its margins above are the FlatCLR
// run's.
TEST(EndToEndLearning, DISABLED_SimClrPerImageBeatsRandomInitAndTheNothingLearnedControl) {
  if (!have_data()) GTEST_SKIP() << "no CIFAR-10 binaries under " << data_dir();
  expect_learned(learning_scores("simclr_per_image", "simclr", false, 8));
}
