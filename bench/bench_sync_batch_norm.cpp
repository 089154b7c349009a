// What SyncBatchNorm's computation costs beside LibTorch's own BatchNorm: forward + backward of a ResNet-18
// (CIFAR stem) on one process, with plain BatchNorm and with SyncBatchNorm on a one-process Gloo group
// (its collectives then cost nothing, so the difference is the computation alone), in the same run.
//   build/bench_sync_batch_norm [--batch 64] [--width 0.25] [--reps 5] [--threads 1]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "flatclr/core/threads.h"
#include "flatclr/dist/process_group.h"
#include "flatclr/dist/sync_batch_norm.h"
#include "flatclr/models/batch_norm.h"
#include "flatclr/models/resnet.h"

using namespace flatclr;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int64_t batch = 64, reps = 5;
  double width = 0.25;
  int threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--batch")
      batch = std::stoll(v);
    else if (k == "--width")
      width = std::stod(v);
    else if (k == "--reps")
      reps = std::stoll(v);
    else if (k == "--threads")
      threads = std::stoi(v);
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  if (!dist::distributed_available()) {
    std::printf("built without c10d: nothing to measure\n");
    return 0;
  }
  threads = core::set_num_threads(threads);
  torch::manual_seed(0);
  models::ResNetOptions o;
  o.arch = "res18";
  o.width_multiplier = width;
  models::ResNet model(o);
  model->train();
  auto x = torch::randn({batch, 3, 32, 32});
  auto seconds_per_step = [&] {
    auto step = [&] {
      auto [h, z] = model->forward(x);
      model->zero_grad();
      z.sum().backward();
    };
    for (int i = 0; i < 2; ++i) step();
    const auto start = Clock::now();
    for (int64_t i = 0; i < reps; ++i) step();
    return std::chrono::duration<double>(Clock::now() - start).count() / static_cast<double>(reps);
  };
  std::printf("res18 x%g CIFAR stem, %lld images, forward + backward, %d thread(s), mean of %lld\n", width,
              static_cast<long long>(batch), threads, static_cast<long long>(reps));
  const double plain = seconds_per_step();
  auto group = std::make_shared<dist::ProcessGroup>(dist::DistEnv{}, "gloo", 60);
  const int layers = models::set_batch_norm_sync(*model, std::make_shared<dist::SyncBatchNorm>(group));
  const double synced = seconds_per_step();
  std::printf("LibTorch BatchNorm:           %.4f s\n", plain);
  std::printf("SyncBatchNorm (%d layers):    %.4f s  (ratio %.2fx)\n", layers, synced, synced / plain);
  return 0;
}
