// What SyncBatchNorm's computation costs beside LibTorch's own BatchNorm: the trainer's whole pretraining
// step (train/train_step.h: ResNet-18 CIFAR stem, FlatNCE, LARS, two views of `batch` images) on one process,
// with plain BatchNorm and with SyncBatchNorm on a one-process Gloo group (its collectives then cost nothing,
// so the difference is the computation alone), in the same run.
//   build/bench_sync_batch_norm [--batch 64] [--width 0.25] [--reps 5] [--threads 1]
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "flatclr/core/threads.h"
#include "flatclr/dist/process_group.h"
#include "flatclr/dist/sync_batch_norm.h"
#include "flatclr/models/batch_norm.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/train/train_step.h"

using namespace flatclr;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int64_t batch = 64, reps = 5;
  double width = 0.25;
  int threads = 1;
  CLI::App app{"SyncBatchNorm's computation against LibTorch's BatchNorm"};
  app.add_option("--batch", batch, "images")->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  app.add_option("--width", width, "ResNet-18 width multiplier")->check(CLI::Range(1e-3, 64.0));
  app.add_option("--reps", reps)->check(CLI::Range(1, 1 << 30));
  app.add_option("--threads", threads, "0 = all cores")->check(CLI::Range(0, 1024));
  CLI11_PARSE(app, argc, argv);
  if (!dist::distributed_available()) {
    std::printf("built without c10d: nothing to measure\n");
    return 0;
  }
  threads = core::set_num_threads(threads);
  torch::manual_seed(0);
  models::ResNetOptions o;
  o.arch = flatclr::models::Arch::kRes18;
  o.width_multiplier = width;
  models::ResNet model(o);
  model->train();
  auto views = torch::rand({2 * batch, 3, 32, 32});
  auto optimizer = optim::make_optimizer(optim::OptimizerKind::kLars, *model, 0.3, 1e-6, 0.9);
  dist::DataParallel one_process(dist::DistEnv{}, dist::BackendChoice::kGloo, 60, torch::kCPU);
  train::StepOptions step_options;
  step_options.method = losses::Method::kFlatCLR;
  train::TrainStep train_step(model, *optimizer, one_process, step_options);
  auto seconds_per_step = [&] {
    auto step = [&] { train_step.run(views, 0.3); };
    for (int i = 0; i < 2; ++i) step();
    const auto start = Clock::now();
    for (int64_t i = 0; i < reps; ++i) step();
    return std::chrono::duration<double>(Clock::now() - start).count() / static_cast<double>(reps);
  };
  std::printf(
      "res18 x%g CIFAR stem, %lld images (2 views each), FlatNCE + LARS step, %d thread(s), mean of %lld\n",
      width, static_cast<long long>(batch), threads, static_cast<long long>(reps));
  const double plain = seconds_per_step();
  auto group = std::make_shared<dist::ProcessGroup>(dist::DistEnv{}, "gloo", 60);  // c10d's name
  const int layers = models::set_batch_norm_sync(*model, std::make_shared<dist::SyncBatchNorm>(group));
  const double synced = seconds_per_step();
  std::printf("LibTorch BatchNorm:           %.4f s\n", plain);
  std::printf("SyncBatchNorm (%d layers):    %.4f s  (ratio %.2fx)\n", layers, synced, synced / plain);
  return 0;
}
