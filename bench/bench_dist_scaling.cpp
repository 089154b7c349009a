// Scaling benchmark of data-parallel pretraining (dist/): the same global batch on 1 and on 2 processes
// (Gloo on 127.0.0.1, 1 thread each), one step = augment this rank's slice -> ResNet forward -> gather
// the views with gradient -> FlatNCE on all 2B views -> backward (SyncBN) -> bucketed gradient all-reduce
// -> LARS step, exactly the calls of train/pretrain.cpp. Reports the median step time, the global images/s,
// the speedup and parallel efficiency against 1 process measured in the same run, and the communication
// time per step: inside the gradient all-reduce, and inside the forward/backward collectives (view gather
// and SyncBN statistics). Communication time includes waiting for the slower rank.
//   build/bench_dist_scaling [--batch B] [--width W] [--model res18] [--steps S] [--worlds 1,2] [--sync_bn
//   0|1]
// Without RANK in the environment it is the launcher: it starts itself as the ranks of each world size.
#include <spawn.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "flatclr/data/augment_batch.h"
#include "flatclr/dist/data_parallel.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/train/train_step.h"

extern char** environ;
using namespace flatclr;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  int64_t batch = 64;
  double width = 0.25;
  std::string model = "res18";
  int steps = 8;
  std::string worlds = "1,2";
  bool sync_bn = true;
  std::string result;  // worker: where rank 0 writes its numbers
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int worker(const Options& o) {
  at::set_num_threads(1);
  const auto env = dist::dist_env_from([](const char* n) { return std::getenv(n); });
  dist::DataParallel dp(env, flatclr::dist::BackendChoice::kGloo, 300, torch::kCPU);
  const uint64_t seed = 1;
  torch::manual_seed(seed);
  auto images = torch::randint(0, 256, {o.batch * 4, 3, 32, 32}, torch::kByte);
  models::ResNetOptions mo;
  mo.arch = flatclr::core::parse_choice<flatclr::models::Arch>(o.model).value();
  mo.width_multiplier = o.width;
  models::ResNet model(mo);
  model->train();
  dp.prepare_model(*model, o.sync_bn);
  int64_t n_params = 0;
  for (auto& p : model->parameters()) n_params += p.numel();
  auto optimizer = optim::make_optimizer(flatclr::optim::OptimizerKind::kLars, *model, 0.3, 1e-6, 0.9);
  train::TrainStep train_step(model, *optimizer, dp, train::StepOptions{});  // the trainer's step, FlatCLR
  const auto aug = data::AugmentConfig::for_dataset("cifar10", 32);
  std::vector<double> step_s, grad_comm_s, fwd_bwd_comm_s;
  int64_t fb_collectives = 0, grad_collectives = 0;
  const int warmup = 2;
  for (int step = 0; step < warmup + o.steps; ++step) {
    std::vector<int64_t> global(static_cast<size_t>(o.batch));
    for (int64_t i = 0; i < o.batch; ++i) global[i] = (step * o.batch + i) % (o.batch * 4);
    dp.barrier();  // every rank starts the step together
    const double c0 = dp.comm_seconds();
    const int64_t k0 = dp.collectives();
    const auto t0 = Clock::now();
    auto batch = dp.local_batch(global);
    auto idx = torch::tensor(batch, torch::kLong);
    auto views = data::make_two_views(images.index_select(0, idx), batch, aug, seed, 0);
    const train::StepResult r = train_step.run(views, 0.3);
    const double t = std::chrono::duration<double>(Clock::now() - t0).count();
    // Every collective of the step but the gradient average's belongs to the forward/backward (view gather,
    // SyncBN statistics).
    grad_collectives = r.grad_sync_collectives;
    fb_collectives = dp.collectives() - k0 - grad_collectives;
    if (step >= warmup) {
      step_s.push_back(t);
      grad_comm_s.push_back(r.grad_sync_seconds);
      fwd_bwd_comm_s.push_back(dp.comm_seconds() - c0 - r.grad_sync_seconds);
    }
  }
  // The collectives alone, with no compute in between (no waiting for a slower rank): the latency of a
  // SyncBN-sized all-gather and the bandwidth of a gradient-sized all-reduce.
  double latency_s = 0, allreduce_s = 0;
  if (dp.distributed()) {
    auto small = torch::randn({3, 64});
    auto grads = torch::randn({n_params});
    dp.barrier();
    const auto t0 = Clock::now();
    for (int i = 0; i < 50; ++i) dp.group().all_gather(small);
    latency_s = std::chrono::duration<double>(Clock::now() - t0).count() / 50;
    dp.barrier();
    const auto t1 = Clock::now();
    for (int i = 0; i < 5; ++i) dp.group().all_reduce_sum(grads);
    allreduce_s = std::chrono::duration<double>(Clock::now() - t1).count() / 5;
  }
  if (dp.is_rank0()) {
    std::ofstream f(o.result);
    f << median(step_s) << " " << median(fwd_bwd_comm_s) << " " << median(grad_comm_s) << " " << n_params
      << " " << fb_collectives << " " << grad_collectives << " " << latency_s << " " << allreduce_s << "\n";
  }
  return 0;
}

int launch(const Options& o, const char* self) {
  std::printf(
      "data-parallel scaling: %s x%.3g (CIFAR stem, 32x32), global batch %lld (x2 views), FlatNCE, LARS, "
      "SyncBN %s, Gloo on 127.0.0.1, 1 thread per process, %d timed steps (median) after 2 warm-up, "
      "%u cores\n",
      o.model.c_str(), o.width, static_cast<long long>(o.batch), o.sync_bn ? "on" : "off", o.steps,
      std::thread::hardware_concurrency());
  std::printf("%9s | %9s | %9s | %8s | %10s | %14s | %14s | %10s\n", "processes", "step s", "img/s",
              "speedup", "efficiency", "grad comm ms", "fwd/bwd comm ms", "comm share");
  double base_step = 0;
  std::stringstream ws(o.worlds);
  std::string item;
  int port = 29600 + static_cast<int>(::getpid() % 1000);
  while (std::getline(ws, item, ',')) {
    const int world = std::stoi(item);
    if (o.batch % world != 0) {
      std::printf("%9d | batch %lld not divisible, skipped\n", world, static_cast<long long>(o.batch));
      continue;
    }
    const std::string result = "/tmp/bench_dist_scaling." + std::to_string(::getpid()) + ".txt";
    std::vector<pid_t> pids;
    ++port;
    for (int r = 0; r < world; ++r) {
      std::vector<std::string> env_s;
      for (char** e = environ; *e; ++e) env_s.emplace_back(*e);
      for (const auto& kv : {std::string("RANK=") + std::to_string(r), "LOCAL_RANK=" + std::to_string(r),
                             "WORLD_SIZE=" + std::to_string(world), std::string("MASTER_ADDR=127.0.0.1"),
                             "MASTER_PORT=" + std::to_string(port), std::string("OMP_NUM_THREADS=1")})
        env_s.push_back(kv);
      std::vector<std::string> args{
          self,    "--batch", std::to_string(o.batch), "--width",   std::to_string(o.width), "--model",
          o.model, "--steps", std::to_string(o.steps), "--sync_bn", o.sync_bn ? "1" : "0",   "--result",
          result};
      std::vector<char*> argv, envp;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      for (auto& e : env_s) envp.push_back(e.data());
      envp.push_back(nullptr);
      pid_t pid;
      if (posix_spawn(&pid, self, nullptr, nullptr, argv.data(), envp.data()) != 0) {
        std::perror("posix_spawn");
        return 1;
      }
      pids.push_back(pid);
    }
    bool ok = true;
    for (pid_t pid : pids) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    if (!ok) {
      std::printf("%9d | failed\n", world);
      return 1;
    }
    double step = 0, fb = 0, grad = 0;
    int64_t n_params = 0, fb_n = 0, grad_n = 0;
    double latency = 0, allreduce = 0;
    std::ifstream(result) >> step >> fb >> grad >> n_params >> fb_n >> grad_n >> latency >> allreduce;
    std::remove(result.c_str());
    if (world == 1) base_step = step;
    const double speedup = base_step > 0 ? base_step / step : 0;
    std::printf("%9d | %9.3f | %9.1f | %7.2fx | %9.0f%% | %14.1f | %15.1f | %9.1f%%\n", world, step,
                o.batch / step, speedup, 100 * speedup / world, 1000 * grad, 1000 * fb,
                100 * (grad + fb) / step);
    if (world > 1) {
      std::printf(
          "          in the step: %.2f MB of float32 gradients (%lld parameters) in %lld all-reduce(s); %lld "
          "forward/backward collectives (view gather, SyncBN statistics), %.2f ms each incl. waiting\n",
          n_params * 4 / 1e6, static_cast<long long>(n_params), static_cast<long long>(grad_n),
          static_cast<long long>(fb_n), fb_n > 0 ? 1000 * fb / fb_n : 0.0);
      std::printf(
          "          alone: all-gather of [3, 64] floats %.3f ms; all-reduce of the gradients %.2f ms "
          "(%.2f GB/s)\n",
          1000 * latency, 1000 * allreduce, allreduce > 0 ? n_params * 4 / allreduce / 1e9 : 0.0);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"data-parallel scaling: the same global batch on 1 and on 2 processes"};
  app.add_option("--batch", o.batch, "global batch")->check(CLI::Range(1, 1 << 30));
  app.add_option("--width", o.width, "ResNet width multiplier")->check(CLI::Range(1e-3, 64.0));
  app.add_option("--model", o.model)
      ->check(CLI::IsMember({"res10", "res18", "res34", "res50", "res101", "res152"}));
  app.add_option("--steps", o.steps, "timed steps")->check(CLI::Range(1, 1 << 30));
  app.add_option("--worlds", o.worlds, "process counts, comma-separated");
  app.add_option("--sync_bn", o.sync_bn, "SyncBatchNorm (1) or per-process BatchNorm (0)");
  app.add_option("--result", o.result, "(worker) where rank 0 writes its numbers");
  CLI11_PARSE(app, argc, argv);
  try {
    if (std::getenv("RANK")) return worker(o);
    return launch(o, "/proc/self/exe");
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
}
