// flatclr's pretraining step against PyTorch eager, on the same machine in the same run: ResNet-18 (CIFAR
// stem), FlatNCE, LARS, two views of 32x32 images, at each batch size, precision and memory layout. Each row
// runs both sides in the same layout (both contiguous, or both channels-last) and the same precision, with
// cuDNN's benchmark mode on for both. flatclr runs the trainer's own train::TrainStep and, on CUDA, the
// trainer's sync-free step replayed from a CUDA graph (--cuda_graphs false: the sync-free step launched
// eagerly; the first round's untimed warm-up covers the graph's eager steps and its capture); the baseline is
// bench/pytorch_step.py in the virtual environment's PyTorch, the way a PyTorch user runs it (eager,
// torch.autocast). The two sides alternate round by round (which one goes first alternates too), same
// threads, same batch, and each side's images/s is its median step time over all rounds. Input views are
// fixed random tensors on both sides: this times the step, not the augmentation (bench_data_pipeline does
// that).
//
// How close to the machine each row runs: the step's operations are counted once per batch from the model
// itself (core/flop_counter.h, on one real step; PyTorch's FlopCounterMode counts the same step beside it as
// a check), and divided by the median step time; the peak is a large matrix product in the row's precision,
// measured in the same run with the same threads (the most this LibTorch gets out of these cores).
//   build/bench_vs_pytorch [--threads N] [--batches 32,256] [--precisions fp32,bf16]
//                          [--layouts contiguous,channels_last] [--rounds 3] [--steps 3]
//                          [--device auto|cpu|cuda] [--cuda_graphs true|false]
// The last line compares the defaults: `default precision, batch 32: flatclr <P> <layout> <X> images/s,
// PyTorch eager fp32 contiguous <Y> images/s, ratio <R>`, where <P> and <layout> are what flatclr's `auto`
// chooses here (on a CPU: timed by the same probe the trainer runs, train/precision_probe.h). Exits 1 when
// the PyTorch baseline fails (a broken bench/pytorch_step.py must not pass for a measurement).
#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "flatclr/core/clock.h"
#include "flatclr/core/device.h"
#include "flatclr/core/flop_counter.h"
#include "flatclr/core/precision.h"
#include "flatclr/core/threads.h"
#include "flatclr/dist/data_parallel.h"
#include "flatclr/models/channels_last.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/train/precision_probe.h"
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

models::ResNetOptions bench_model() {
  models::ResNetOptions o;
  o.arch = models::Arch::kRes18;
  return o;
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
    model = models::ResNet(bench_model());
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

// The operations of one fp32 step at this batch, counted on the step itself.
double step_flops(int64_t batch, const c10::Device& device) {
  FlatclrSide side(batch, core::Precision::kFp32, false, false, device);
  side.run(1, 0);  // the first step allocates the optimizer's state: count a later one
  core::FlopCounter count;
  side.step->run(side.views, 0.3);
  sync(device);
  return count.total();
}

// Whether float32 on `device` runs on TF32 tensor cores in the step: on CUDA, cuDNN's convolutions do unless
// told otherwise (LibTorch's default, as PyTorch's torch.backends.cudnn.allow_tf32), while cuBLAS's matrix
// products do not. The peak of a float32 row must then be TF32's, or a row reads above 100% of it (on an
// H200: 248%).
bool fp32_step_uses_tf32(c10::ScalarType dtype, const c10::Device& device) {
  return device.is_cuda() && dtype == torch::kFloat && at::globalContext().allowTF32CuDNN();
}

// The best rate (operations/s) of a square matrix product in `dtype` on `device`: the peak this LibTorch gets
// out of these cores in that precision (float32 on a GPU: in TF32, as the step's convolutions run).
double matmul_peak(c10::ScalarType dtype, const c10::Device& device) {
  const int64_t n = device.is_cuda() ? 8192 : 2048;
  const auto o = torch::TensorOptions().device(device).dtype(dtype);
  const auto a = torch::rand({n, n}, o), b = torch::rand({n, n}, o);
  const bool tf32_before = at::globalContext().allowTF32CuBLAS();
  const bool tf32 = fp32_step_uses_tf32(dtype, device);
  if (tf32) at::globalContext().setAllowTF32CuBLAS(true);
  struct Restore {
    bool tf32, before;
    ~Restore() {
      if (tf32) at::globalContext().setAllowTF32CuBLAS(before);
    }
  } restore{tf32, tf32_before};
  torch::mm(a, b);  // first call: kernel selection
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    sync(device);
    const auto start = Clock::now();
    const auto c = torch::mm(a, b);
    sync(device);
    best = std::min(best, seconds_since(start));
  }
  return 2.0 * static_cast<double>(n) * n * n / best;
}

// The Python with PyTorch and this checkout's bench/ folder: the build's, unless FLATCLR_PYTHON or
// FLATCLR_SOURCE_DIR say otherwise (scripts/gpu-check runs this binary on another machine).
std::string from_env(const char* name, const char* built_in) {
  const char* v = std::getenv(name);
  return v && *v ? v : built_in;
}

// Runs bench/pytorch_step.py with `args`; the numbers after `tag` on its last line that has it, or {} when it
// failed (said on stderr).
std::vector<double> pytorch_step(const std::string& args, const std::string& tag) {
  const std::string cmd = from_env("FLATCLR_PYTHON", FLATCLR_PYTHON) + " " +
                          from_env("FLATCLR_SOURCE_DIR", FLATCLR_SOURCE_DIR) + "/bench/pytorch_step.py " +
                          args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {};
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const auto at = out.rfind(tag + " ");
  if (pclose(p) != 0 || at == std::string::npos) {
    std::fprintf(stderr, "bench_vs_pytorch: the PyTorch baseline failed: %s\n%s\n", cmd.c_str(), out.c_str());
    return {};
  }
  std::vector<double> v;
  std::istringstream in(out.substr(at + tag.size(), out.find('\n', at) - at - tag.size()));
  for (double x; in >> x;) v.push_back(x);
  return v;
}

std::string common_args(int64_t batch, int threads, const std::string& precision, const c10::Device& device,
                        bool channels_last) {
  return "--batch " + std::to_string(batch) + " --threads " + std::to_string(threads) + " --precision " +
         precision + " --device " + (device.is_cuda() ? "cuda" : "cpu") + " --memory_format " +
         (channels_last ? "channels_last" : "contiguous");
}

std::string text(const char* format, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

int run(int argc, char** argv) {
  int threads = 0, rounds = 3, steps = 3;
  std::vector<int64_t> batches{32, 256};
  std::vector<std::string> precisions{"fp32", "bf16"}, layouts{"contiguous", "channels_last"};
  std::string device_name = "auto";
  bool cuda_graphs = true;
  CLI::App app{"flatclr's pretraining step against PyTorch eager, interleaved, same machine"};
  app.add_option("--threads", threads, "CPU threads of both sides (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--batches", batches, "batch sizes (images; 2x views)")
      ->delimiter(',')
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  app.add_option("--precisions", precisions, "fp32, bf16, fp16 (fp16: GPU only)")->delimiter(',');
  app.add_option("--layouts", layouts, "memory layouts of both sides: contiguous, channels_last")
      ->delimiter(',');
  app.add_option("--rounds", rounds, "alternating rounds per configuration")->check(CLI::Range(1, 1000));
  app.add_option("--steps", steps, "timed steps per side per round (after one warm-up step)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--device", device_name, "auto | cpu | cuda");
  app.add_option("--cuda_graphs", cuda_graphs, "CUDA: replay flatclr's step from a CUDA graph");
  CLI11_PARSE(app, argc, argv);
  threads = core::set_num_threads(threads);
  const c10::Device device = core::resolve_device(device_name, false);
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);  // as the trainer; pytorch_step.py too
  std::vector<bool> cls;
  for (const auto& l : layouts) {
    const auto mf = core::parse_choice<core::MemoryFormat>(l);
    if (!mf || *mf == core::MemoryFormat::kAuto) {
      std::fprintf(stderr, "bench_vs_pytorch: --layouts: %s is not contiguous or channels_last\n", l.c_str());
      return 2;
    }
    cls.push_back(*mf == core::MemoryFormat::kChannelsLast);
  }

  // What flatclr's defaults are here: the layout as the trainer decides it for this model, the precision too
  // (on a CPU by timing this configuration's step at batch 32).
  const bool default_cl =
      models::use_channels_last(core::MemoryFormat::kAuto, device, *models::ResNet(bench_model()));
  train::ProbeSetting probe;
  probe.cpu_model = core::cpu_model_name();
  probe.threads = threads;
  probe.model = bench_model();
  probe.batch = 32;
  probe.channels_last = default_cl;
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const train::PrecisionChoice default_choice =
      train::choose_precision(core::Precision::kAuto, device, probe, "", std::nullopt, now, core::cpu_bf16());
  const std::string dp = core::name_of(default_choice.precision);

  std::printf(
      "bench_vs_pytorch | device %s | %d threads | ResNet-18 CIFAR stem, FlatNCE, LARS, 2 views of 32x32 | "
      "%d rounds x %d steps per side%s\n",
      device.str().c_str(), threads, rounds, steps,
      device.is_cuda() ? (cuda_graphs ? " | flatclr: CUDA graph" : " | flatclr: no CUDA graph") : "");
  std::printf("CPU: %s\n", core::cpu_model_name().c_str());
  std::printf("flatclr's defaults here: %s, %s\n", default_choice.describe().c_str(),
              default_cl ? "channels_last" : "contiguous");
  std::map<std::string, double> peak;
  for (const auto& pname : precisions) {
    const auto p = core::parse_choice<core::Precision>(pname);
    if (!p || *p == core::Precision::kAuto || (*p == core::Precision::kFp16 && !device.is_cuda())) continue;
    peak[pname] = matmul_peak(core::compute_dtype(*p), device);
    std::printf("matrix-product peak %s: %.1f GFLOP/s (%s %lldx%lld torch::mm, best of 5%s)\n", pname.c_str(),
                peak[pname] / 1e9, pname.c_str(), device.is_cuda() ? 8192LL : 2048LL,
                device.is_cuda() ? 8192LL : 2048LL,
                fp32_step_uses_tf32(core::compute_dtype(*p), device)
                    ? "; in TF32, as cuDNN runs the step's float32 convolutions"
                    : "");
  }
  std::printf(
      "\n| batch | precision | layout (both) | flatclr img/s | PyTorch eager img/s | ratio | flatclr GFLOP/s "
      "| "
      "PyTorch GFLOP/s | flatclr %% of peak |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  bool baseline_failed = false;
  // (batch, precision, channels_last) -> (flatclr, PyTorch) images/s
  std::map<std::tuple<int64_t, std::string, bool>, std::pair<double, double>> rate;
  for (int64_t batch : batches) {
    const double flops = step_flops(batch, device);
    const auto theirs_flops =
        pytorch_step(common_args(batch, threads, "fp32", device, false) + " --count_flops", "step_flops");
    if (theirs_flops.empty()) baseline_failed = true;
    std::printf(
        "\nbatch %lld: a step is %.2f GFLOP (counted by flatclr on its step; PyTorch's FlopCounterMode: "
        "%s)\n\n",
        static_cast<long long>(batch), flops / 1e9,
        theirs_flops.empty() ? "failed" : text("%.2f GFLOP", theirs_flops[0] / 1e9).c_str());
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
        std::printf("| %lld | %s | (skipped: %s) | | | | | | |\n", static_cast<long long>(batch),
                    pname.c_str(), e.what());
        continue;
      }
      for (const bool cl : cls) {
        FlatclrSide ours(batch, precision, cl, cuda_graphs, device);
        std::vector<double> t_ours, t_theirs;
        for (int r = 0; r < rounds; ++r) {
          const int warm = r == 0 ? ours.first_warmup : 0;  // flatclr stays warm; PyTorch restarts each round
          auto a = [&] {
            auto t = ours.run(warm, steps);
            t_ours.insert(t_ours.end(), t.begin(), t.end());
          };
          auto b = [&] {
            auto t = pytorch_step(common_args(batch, threads, pname, device, cl) + " --steps " +
                                      std::to_string(steps) + " --warmup 1",
                                  "step_seconds");
            if (t.empty()) baseline_failed = true;
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
        rate[{batch, pname, cl}] = {x, y};
        const double gflops_ours = flops / median(t_ours) / 1e9;
        const std::string theirs = y > 0 ? text("%.1f", y) : "failed";
        const std::string ratio = y > 0 ? text("%.2fx", x / y) : "-";
        const std::string theirs_gflops = y > 0 ? text("%.1f", flops / median(t_theirs) / 1e9) : "-";
        const auto pk = peak.find(pname);
        const std::string of_peak =
            pk != peak.end() ? text("%.0f%%", 100.0 * gflops_ours * 1e9 / pk->second) : "-";
        std::printf("| %lld | %s | %s | %.1f | %s | %s | %.1f | %s | %s |\n", static_cast<long long>(batch),
                    pname.c_str(), cl ? "channels_last" : "contiguous", x, theirs.c_str(), ratio.c_str(),
                    gflops_ours, theirs_gflops.c_str(), of_peak.c_str());
        std::fflush(stdout);
      }
    }
  }
  auto ours = rate.find({32, dp, default_cl}), theirs = rate.find({32, "fp32", false});
  if (ours != rate.end() && theirs != rate.end() && theirs->second.second > 0) {
    std::printf(
        "\ndefault precision, batch 32: flatclr %s %s %.1f images/s, PyTorch eager fp32 contiguous %.1f "
        "images/s, ratio %.2f\n",
        dp.c_str(), default_cl ? "channels_last" : "contiguous", ours->second.first, theirs->second.second,
        ours->second.first / theirs->second.second);
  } else {
    std::printf(
        "\ndefault precision, batch 32: not measured (needs batch 32 in --batches, fp32 and %s in "
        "--precisions, "
        "contiguous%s in --layouts, and a working baseline)\n",
        dp.c_str(), default_cl ? " and channels_last" : "");
  }
  if (baseline_failed) {
    std::fprintf(stderr, "bench_vs_pytorch: the PyTorch baseline failed (see above): no valid comparison\n");
    return 1;
  }
  return 0;
}

}  // namespace

// An error inside a measurement (on CUDA, a step whose graph capture fails: the benchmark, unlike the
// trainer, does not fall back to eager steps, so that a table never mixes the two) ends the run with one line
// and exit 1.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "bench_vs_pytorch: error: %s\n", e.what());
    return 1;
  }
}
