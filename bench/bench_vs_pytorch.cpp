// flatclr's pretraining step against PyTorch eager, on the same machine in the same run: ResNet-18 (CIFAR
// stem), FlatNCE, LARS, two views of 32x32 images, at each batch size and precision. flatclr runs the
// trainer's own train::TrainStep with its default memory layout (core/precision.h) and, on CUDA, the
// trainer's sync-free step replayed from a CUDA graph (--cuda_graphs false: the sync-free step launched
// eagerly; the first round's untimed warm-up covers the graph's eager steps and its capture); the baseline is
// bench/pytorch_step.py in the virtual environment's PyTorch, the way a PyTorch user runs it (eager, default
// layout, torch.autocast). The two sides alternate round by round (which one goes first alternates too), same
// threads, same batch, and each side's images/s is its median step time over all rounds. Input views are
// fixed random tensors on both sides: this times the step, not the augmentation (bench_data_pipeline does
// that).
//   build/bench_vs_pytorch [--threads N] [--batches 32,256] [--precisions fp32,bf16] [--rounds 3] [--steps 3]
//                          [--device auto|cpu|cuda] [--memory_format auto|contiguous|channels_last]
//                          [--cuda_graphs true|false]
// The last line: `default precision, batch 32: flatclr <P> <X> images/s, PyTorch eager fp32 <Y> images/s,
// ratio <R>`.
#include <torch/cuda.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "flatclr/core/clock.h"
#include "flatclr/core/device.h"
#include "flatclr/core/precision.h"
#include "flatclr/core/threads.h"
#include "flatclr/dist/data_parallel.h"
#include "flatclr/models/channels_last.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/train/train_step.h"

using namespace flatclr;
using core::Clock;
using core::seconds_since;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

void sync(const c10::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

// One side's model, optimizer and step, kept across rounds.
struct FlatclrSide {
  models::ResNet model{nullptr};
  std::unique_ptr<torch::optim::Optimizer> opt;
  std::unique_ptr<dist::DataParallel> one;
  std::unique_ptr<train::TrainStep> step;
  at::Tensor views;
  c10::Device device;

  // The warm-up steps of the first round: one, or on CUDA with a graph the eager ones, the capture and a
  // replay.
  int first_warmup = 1;

  FlatclrSide(int64_t batch, core::Precision precision, bool channels_last, bool graph,
              const c10::Device& dev)
      : device(dev) {
    torch::manual_seed(0);
    models::ResNetOptions o;
    o.arch = models::Arch::kRes18;
    model = models::ResNet(o);
    model->to(device);
    if (channels_last) models::to_channels_last(*model);
    model->train();
    opt = optim::make_optimizer(optim::OptimizerKind::kLars, *model, 0.3, 1e-6, 0.9);
    one = std::make_unique<dist::DataParallel>(dist::DistEnv{}, dist::BackendChoice::kGloo, 60, device);
    train::StepOptions so;
    so.method = losses::Method::kFlatCLR;
    so.precision = precision;
    so.channels_last = channels_last;
    // As the trainer (train/pretrain_setup.cpp): on CUDA the sync-free step, graphed unless turned off.
    so.sync_free = device.is_cuda();
    so.cuda_graph = device.is_cuda() && graph;
    if (so.cuda_graph) first_warmup = train::kGraphWarmupSteps + 2;
    step = std::make_unique<train::TrainStep>(model, *opt, *one, so);
    views = torch::rand({2 * batch, 3, 32, 32}, torch::TensorOptions().device(device));
  }

  std::vector<double> run(int warmup, int steps) {
    std::vector<double> t;
    for (int s = 0; s < warmup + steps; ++s) {
      sync(device);
      const auto start = Clock::now();
      step->run(views, 0.3);
      sync(device);
      if (s >= warmup) t.push_back(seconds_since(start));
    }
    return t;
  }
};

// The Python with PyTorch and this checkout's bench/ folder: the build's, unless FLATCLR_PYTHON or
// FLATCLR_SOURCE_DIR say otherwise (scripts/gpu-check runs this binary on another machine).
std::string from_env(const char* name, const char* built_in) {
  const char* v = std::getenv(name);
  return v && *v ? v : built_in;
}

std::vector<double> pytorch_run(int64_t batch, int threads, const std::string& precision, int warmup,
                                int steps, const c10::Device& device) {
  const std::string cmd = from_env("FLATCLR_PYTHON", FLATCLR_PYTHON) + " " +
                          from_env("FLATCLR_SOURCE_DIR", FLATCLR_SOURCE_DIR) + "/bench/pytorch_step.py" +
                          " --batch " + std::to_string(batch) + " --threads " + std::to_string(threads) +
                          " --precision " + precision + " --steps " + std::to_string(steps) + " --warmup " +
                          std::to_string(warmup) + " --device " + (device.is_cuda() ? "cuda" : "cpu");
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {};
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (pclose(p) != 0) {
    std::fprintf(stderr, "bench_vs_pytorch: the PyTorch baseline failed: %s\n%s\n", cmd.c_str(), out.c_str());
    return {};
  }
  std::vector<double> t;
  const auto at = out.rfind("step_seconds");
  if (at == std::string::npos) return {};
  std::istringstream in(out.substr(at + 12));
  for (double x; in >> x;) t.push_back(x);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, rounds = 3, steps = 3;
  std::vector<int64_t> batches{32, 256};
  std::vector<std::string> precisions{"fp32", "bf16"};
  std::string device_name = "auto", memory_format_name = "auto";
  bool cuda_graphs = true;
  CLI::App app{"flatclr's pretraining step against PyTorch eager, interleaved, same machine"};
  app.add_option("--threads", threads, "CPU threads of both sides (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--batches", batches, "batch sizes (images; 2x views)")
      ->delimiter(',')
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  app.add_option("--precisions", precisions, "fp32, bf16, fp16 (fp16: GPU only)")->delimiter(',');
  app.add_option("--rounds", rounds, "alternating rounds per configuration")->check(CLI::Range(1, 1000));
  app.add_option("--steps", steps, "timed steps per side per round (after one warm-up step)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--device", device_name, "auto | cpu | cuda");
  app.add_option("--memory_format", memory_format_name,
                 "flatclr's layout: auto | contiguous | channels_last");
  app.add_option("--cuda_graphs", cuda_graphs, "CUDA: replay flatclr's step from a CUDA graph");
  CLI11_PARSE(app, argc, argv);
  threads = core::set_num_threads(threads);
  const c10::Device device = core::resolve_device(device_name, false);
  const auto mf = core::parse_choice<core::MemoryFormat>(memory_format_name);
  if (!mf) {
    std::fprintf(stderr, "bench_vs_pytorch: --memory_format=%s: expected auto, contiguous or channels_last\n",
                 memory_format_name.c_str());
    return 2;
  }
  const core::Precision default_precision = core::resolve_precision(core::Precision::kAuto, device);
  std::printf(
      "bench_vs_pytorch | device %s | %d threads | ResNet-18 CIFAR stem, FlatNCE, LARS, 2 views of 32x32 | "
      "%d rounds x %d steps per side%s\n",
      device.str().c_str(), threads, rounds, steps,
      device.is_cuda() ? (cuda_graphs ? " | flatclr: CUDA graph" : " | flatclr: no CUDA graph") : "");
  std::printf("flatclr's default precision here: %s\n\n", core::name_of(default_precision).c_str());
  std::printf("| batch | precision | flatclr layout | flatclr img/s | PyTorch eager img/s | ratio |\n");
  std::printf("|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  std::map<std::pair<int64_t, std::string>, std::pair<double, double>> rate;  // (batch, precision) -> sides
  for (int64_t batch : batches) {
    for (const auto& pname : precisions) {
      const auto requested = core::parse_choice<core::Precision>(pname);
      if (!requested || *requested == core::Precision::kAuto) {
        std::fprintf(stderr, "bench_vs_pytorch: --precisions: %s is not fp32, bf16 or fp16\n", pname.c_str());
        return 2;
      }
      core::Precision precision;
      try {
        precision = core::resolve_precision(*requested, device);
      } catch (const std::exception& e) {
        std::printf("| %lld | %s | (skipped: %s) | | | |\n", static_cast<long long>(batch), pname.c_str(),
                    e.what());
        continue;
      }
      const bool cl = core::resolve_memory_format(*mf) == core::MemoryFormat::kChannelsLast;
      FlatclrSide ours(batch, precision, cl, cuda_graphs, device);
      std::vector<double> t_ours, t_theirs;
      for (int r = 0; r < rounds; ++r) {
        const int warm = r == 0 ? ours.first_warmup : 0;  // flatclr stays warm; PyTorch restarts each round
        auto a = [&] {
          auto t = ours.run(warm, steps);
          t_ours.insert(t_ours.end(), t.begin(), t.end());
        };
        auto b = [&] {
          auto t = pytorch_run(batch, threads, pname, 1, steps, device);
          t_theirs.insert(t_theirs.end(), t.begin(), t.end());
        };
        if (r % 2 == 0) {
          a();
          b();
        } else {
          b();
          a();
        }
      }
      const double x = batch / median(t_ours), y = t_theirs.empty() ? 0.0 : batch / median(t_theirs);
      rate[{batch, pname}] = {x, y};
      char theirs_text[32] = "failed", ratio_text[32] = "-";
      if (y > 0) {
        std::snprintf(theirs_text, sizeof theirs_text, "%.1f", y);
        std::snprintf(ratio_text, sizeof ratio_text, "%.2fx", x / y);
      }
      std::printf("| %lld | %s | %s | %.1f | %s | %s |\n", static_cast<long long>(batch), pname.c_str(),
                  cl ? "channels_last" : "contiguous", x, theirs_text, ratio_text);
      std::fflush(stdout);
    }
  }
  const std::string dp = core::name_of(default_precision);
  auto ours = rate.find({32, dp}), theirs = rate.find({32, "fp32"});
  if (ours != rate.end() && theirs != rate.end() && theirs->second.second > 0) {
    std::printf(
        "\ndefault precision, batch 32: flatclr %s %.1f images/s, PyTorch eager fp32 %.1f images/s, ratio "
        "%.2f\n",
        dp.c_str(), ours->second.first, theirs->second.second, ours->second.first / theirs->second.second);
  } else {
    std::printf(
        "\ndefault precision, batch 32: not measured (needs batch 32 in --batches and fp32 and %s in "
        "--precisions)\n",
        dp.c_str());
  }
  return 0;
}
