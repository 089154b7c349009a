// Benchmark of one pretraining step (augment two views -> the trainer's train::TrainStep: ResNet forward ->
// loss -> backward -> gradient norm and finite guard -> LARS step)
// for ResNet-18 with the CIFAR stem, at batch 32, 64 and 256 (2x views), for FlatCLR and SimCLR.
// Prints images/s, the achieved GFLOP/s (fwd+bwd = 3x the analytic forward FLOPs of the convolutions and
// linear layers), and, measured in the same run as the machine's ceiling, the rate of a large float32
// matmul; ratios are against that ceiling.
//   build/bench_pretrain_step [--threads N] [--width W] [--batches 32,64,256] [--reps R]
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "flatclr/core/clock.h"
#include "flatclr/core/threads.h"
#include "flatclr/data/augment_batch.h"
#include "flatclr/dist/data_parallel.h"
#include "flatclr/losses/method.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/train/train_step.h"

using namespace flatclr;
using flatclr::core::Clock;
using flatclr::core::seconds_since;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Forward multiply-accumulates of one image through the backbone + head, from the modules' own shapes.
double forward_macs(models::ResNetImpl& m, int64_t image_size) {
  double macs = 0;
  auto conv_macs = [&](torch::nn::Conv2dImpl& c, int64_t in_spatial) {
    const int64_t stride = c.options.stride()->at(0);
    // 3x3/pad 1, 1x1/pad 0 and 7x7/pad 3 convolutions all give ceil(in / stride).
    const int64_t out = (in_spatial + stride - 1) / stride;
    const auto& w = c.weight;  // [out, in, k, k]
    macs += static_cast<double>(w.size(0) * w.size(1) * w.size(2) * w.size(3)) * out * out;
    return out;
  };
  int64_t s = conv_macs(*m.conv1, image_size);
  if (m.options.imagenet_stem) s = (s + 1) / 2;
  for (auto* layer : {&m.layer1, &m.layer2, &m.layer3, &m.layer4}) {
    for (auto& block : (*layer)->children()) {
      int64_t out = s;
      if (auto* b = block->as<models::BasicBlock>()) {
        out = conv_macs(*b->conv1, s);
        conv_macs(*b->conv2, out);
        if (b->downsample) conv_macs(*b->downsample[0]->as<torch::nn::Conv2d>(), s);
      } else if (auto* b = block->as<models::Bottleneck>()) {
        const int64_t mid = conv_macs(*b->conv1, s);
        out = conv_macs(*b->conv2, mid);
        conv_macs(*b->conv3, out);
        if (b->downsample) conv_macs(*b->downsample[0]->as<torch::nn::Conv2d>(), s);
      }
      s = out;
    }
  }
  for (auto& mod : m.fc->modules()) {
    if (auto* l = mod->as<torch::nn::Linear>()) macs += static_cast<double>(l->weight.numel());
  }
  return macs;
}

double matmul_gflops(int64_t n, int reps) {
  auto a = torch::randn({n, n}), b = torch::randn({n, n});
  torch::mm(a, b);  // warm-up
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto start = Clock::now();
    auto c = torch::mm(a, b);
    t.push_back(seconds_since(start));
  }
  return 2.0 * n * n * n / median(t) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, reps = 5;
  double width = 1.0;
  std::vector<int64_t> batches{32, 64, 256};
  CLI::App app{"pretraining step time and achieved GFLOP/s against a matmul ceiling"};
  app.add_option("--threads", threads, "0 = all cores")->check(CLI::Range(0, 1024));
  app.add_option("--width", width, "ResNet-18 width multiplier")->check(CLI::Range(1e-3, 64.0));
  app.add_option("--reps", reps)->check(CLI::Range(1, 1 << 30));
  app.add_option("--batches", batches, "batch sizes, comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  CLI11_PARSE(app, argc, argv);
  threads = core::set_num_threads(threads);
  const double ceiling = matmul_gflops(2048, 5);
  std::printf("device cpu | threads %d | float32 | res18 CIFAR stem, width x%g | 32x32 images\n", threads,
              width);
  std::printf("ceiling: float32 matmul 2048^3: %.1f GFLOP/s\n\n", ceiling);
  std::printf("%-8s %6s %10s %10s %10s %10s %12s\n", "method", "batch", "s/step", "img/s", "GFLOP/s",
              "vs ceiling", "aug share");

  torch::manual_seed(0);
  for (const std::string method : {"flatclr", "simclr"}) {
    for (int64_t bs : batches) {
      models::ResNetOptions o;
      o.arch = flatclr::models::Arch::kRes18;
      o.width_multiplier = width;
      models::ResNet model(o);
      model->train();
      auto opt = optim::make_optimizer(flatclr::optim::OptimizerKind::kLars, *model, 0.3, 1e-6, 0.9);
      dist::DataParallel one_process(dist::DistEnv{}, flatclr::dist::BackendChoice::kGloo, 60,
                                     torch::kCPU);  // world size 1: identities
      train::StepOptions so;
      so.method = *losses::find_method(method);
      train::TrainStep train_step(model, *opt, one_process, so);  // the trainer's step
      const auto aug = data::AugmentConfig::for_dataset("cifar10", 32);
      auto images = torch::randint(0, 256, {bs, 3, 32, 32}, torch::kUInt8);
      std::vector<int64_t> idx(bs);
      for (int64_t i = 0; i < bs; ++i) idx[i] = i;
      const double flops_per_step = 3.0 * 2.0 * forward_macs(*model, 32) * 2 * bs;
      std::vector<double> step_t, aug_t;
      for (int r = 0; r < reps + 1; ++r) {
        auto start = Clock::now();
        auto views = data::make_two_views(images, idx, aug, 1, r);
        const double ta = seconds_since(start);
        train_step.run(views, 0.3);
        if (r == 0) continue;  // warm-up
        step_t.push_back(seconds_since(start));
        aug_t.push_back(ta);
      }
      const double t = median(step_t);
      const double gflops = flops_per_step / t / 1e9;
      std::printf("%-8s %6lld %10.3f %10.1f %10.1f %9.1f%% %11.1f%%\n", method.c_str(),
                  static_cast<long long>(bs), t, bs / t, gflops, 100 * gflops / ceiling,
                  100 * median(aug_t) / t);
      std::fflush(stdout);
    }
  }
  return 0;
}
