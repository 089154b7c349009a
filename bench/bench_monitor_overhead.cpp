// What the monitoring costs: the trainer's step (train::TrainStep: batched augmentation -> ResNet-18 CIFAR
// stem -> loss -> backward -> LARS) timed bare (its gradient norm and guard off) and with everything
// pretrain() adds per step: the global gradient norm, the NaN/Inf guard's two host reads, the batch
// diagnostics, the effective ranks every `rank_every` intervals, and per interval the flush, a steps.jsonl
// line and the TensorBoard scalars. Plain and monitored blocks of steps alternate on the same model so that
// drift and other load hit both; the ratio of the median and mean step times is printed, and the time spent
// inside the monitoring calls as a share of the plain step.
//   build/bench_monitor_overhead [--clr flatclr|simclr] [--batch 16] [--width 0.5] [--blocks 6] [--steps 20]
//                                [--log_every 10] [--rank_every 10] [--threads N]
#include <torch/torch.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "flatclr/core/clock.h"
#include "flatclr/core/event_writer.h"
#include "flatclr/core/threads.h"
#include "flatclr/data/augment_batch.h"
#include "flatclr/dist/data_parallel.h"
#include "flatclr/losses/method.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/train/metrics_log.h"
#include "flatclr/train/step_monitor.h"
#include "flatclr/train/train_step.h"

using namespace flatclr;
using core::Clock;
using core::seconds_since;

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  std::string clr = "flatclr";
  int64_t batch = 16, blocks = 6, steps = 20, log_every = 10, rank_every = 10;
  double width = 0.5;
  int threads = 0;
  CLI::App app{"what the monitoring costs per pretraining step"};
  app.add_option("--clr", clr)->check(CLI::IsMember({"simclr", "flatclr"}));
  app.add_option("--batch", batch)->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  app.add_option("--width", width, "ResNet-18 width multiplier")->check(CLI::Range(1e-3, 64.0));
  app.add_option("--blocks", blocks, "alternating plain/monitored blocks")->check(CLI::Range(1, 1 << 30));
  app.add_option("--steps", steps, "steps per block")->check(CLI::Range(1, 1 << 30));
  app.add_option("--log_every", log_every)->check(CLI::Range(1, 1 << 30));
  app.add_option("--rank_every", rank_every)->check(CLI::Range(1, 1 << 30));
  app.add_option("--threads", threads, "0 = all cores")->check(CLI::Range(0, 1024));
  CLI11_PARSE(app, argc, argv);
  threads = core::set_num_threads(threads);
  torch::manual_seed(0);
  models::ResNetOptions o;
  o.arch = flatclr::models::Arch::kRes18;
  o.width_multiplier = width;
  models::ResNet model(o);
  model->train();
  auto opt = optim::make_optimizer(flatclr::optim::OptimizerKind::kLars, *model, 0.3, 1e-6, 0.9);
  const auto aug = data::AugmentConfig::for_dataset("cifar10", 32);
  auto images = torch::randint(0, 256, {batch, 3, 32, 32}, torch::kUInt8);
  std::vector<int64_t> idx(batch);
  for (int64_t i = 0; i < batch; ++i) idx[i] = i;
  dist::DataParallel one_process(dist::DistEnv{}, flatclr::dist::BackendChoice::kGloo, 60,
                                 torch::kCPU);  // world size 1: identities
  train::StepOptions bare_options, checked_options;
  bare_options.method = checked_options.method = *losses::find_method(clr);
  bare_options.check = false;  // no gradient norm, no guard
  train::TrainStep bare(model, *opt, one_process, bare_options),
      checked(model, *opt, one_process, checked_options);

  const auto dir =
      std::filesystem::temp_directory_path() / ("flatclr_bench_monitor_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  core::EventWriter events(dir.string());
  train::MetricsLog steps_log((dir / "steps.jsonl").string());
  train::StepMonitor monitor(0.1, batch, rank_every);

  int64_t global = 0;
  double monitor_seconds = 0;  // time inside the monitoring calls themselves, over the monitored steps
  auto step = [&](bool monitored) {
    const auto start = Clock::now();
    auto views = data::make_two_views(images, idx, aug, 1, global);
    const double data_s = seconds_since(start);
    if (!monitored) {
      bare.run(views, 0.3);
    } else {
      const train::StepResult r = checked.run(views, 0.3);
      monitor_seconds += r.check_seconds;  // the gradient norm and the guard, inside the step
      const auto t = Clock::now();
      if (monitor.wants_embeddings()) monitor.observe_embeddings(r.h, r.z, r.flags.select(0, 2));
      monitor.observe_step(r.out, r.grad_norm, r.flags.select(0, 2), data_s, seconds_since(start));
      if ((global + 1) % log_every == 0) {
        auto rec = monitor.flush(0.3);
        nlohmann::ordered_json line;
        line["global_step"] = global + 1;
        std::vector<std::pair<std::string, double>> scalars;
        for (auto& [k, v] : rec) {
          line[k] = v;
          scalars.emplace_back(train::tag_for_key(k), v);
        }
        steps_log.append(line);
        events.add_scalars(global + 1, scalars);
      }
      monitor_seconds += seconds_since(t);
    }
    ++global;
    return seconds_since(start);
  };

  std::printf(
      "device cpu | threads %d | float32 | %s | res18 CIFAR stem x%g | batch %lld | log every %lld steps, "
      "ranks every %lld intervals\n",
      threads, clr.c_str(), width, static_cast<long long>(batch), static_cast<long long>(log_every),
      static_cast<long long>(rank_every));
  for (int w = 0; w < 3; ++w) step(true), step(false);  // warm-up
  // Blocks of whole logging periods, so that every monitored block pays its flushes and rank computations.
  global = 0;
  monitor_seconds = 0;
  std::vector<double> plain, monitored;
  for (int64_t b = 0; b < blocks; ++b) {
    for (int64_t s = 0; s < steps; ++s) plain.push_back(step(false));
    for (int64_t s = 0; s < steps; ++s) monitored.push_back(step(true));
  }
  double mean_plain = 0, mean_mon = 0;
  for (double t : plain) mean_plain += t / plain.size();
  for (double t : monitored) mean_mon += t / monitored.size();
  std::printf("plain step:     median %.4f s, mean %.4f s (%zu steps)\n", median(plain), mean_plain,
              plain.size());
  std::printf("monitored step: median %.4f s, mean %.4f s (%zu steps)\n", median(monitored), mean_mon,
              monitored.size());
  std::printf("overhead: median %+.2f%%, mean %+.2f%%\n", 100 * (median(monitored) / median(plain) - 1),
              100 * (mean_mon / mean_plain - 1));
  // The same cost measured directly: the time spent inside the monitoring calls, per monitored step, against
  // the plain step (less noisy than the difference of two step times on a shared machine).
  const double per_step = monitor_seconds / monitored.size();
  std::printf("monitoring calls: %.3f ms per step = %.2f%% of the plain mean step\n", 1e3 * per_step,
              100 * per_step / mean_plain);
  std::filesystem::remove_all(dir);
  return 0;
}
