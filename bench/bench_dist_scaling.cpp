// Scaling benchmark of data-parallel pretraining (dist/): the same global batch on 1 and on 2 processes
// (Gloo on 127.0.0.1 unless --master_addr, 1 thread each), one step = augment this rank's slice -> ResNet
// forward -> gather the views with gradient -> FlatNCE on all 2B views -> backward (SyncBN) -> bucketed
// gradient all-reduce
// -> LARS step, exactly the calls of train/pretrain.cpp. Reports the median step time, the global images/s,
// the speedup and parallel efficiency against 1 process measured in the same run, and the communication
// time per step: inside the gradient all-reduce, and inside the forward/backward collectives (view gather
// and SyncBN statistics). Communication time includes waiting for the slower rank.
//   build/bench_dist_scaling [--batch B] [--width W] [--model res18] [--steps S] [--worlds 1,2] [--sync_bn
//   0|1]
// Without RANK in the environment it is the launcher: it starts itself as the ranks of each world size.
// For each world > 1 it also prints what dist/scaling_model.h predicts: the link fitted to the collectives
// measured alone, the step's traffic as counted here, and compute = the 1-process step / N (the same global
// batch split N ways; on a machine with fewer free cores than processes compute cannot shrink that much).
// Other hosts: --rank_prefix runs each rank under a command ("{r}" becomes the rank, e.g. `ip netns exec
// host{r}`) and --master_addr names rank 0's address (bench/dist_scaling_netns.sh does this with network
// namespaces joined by veth; Gloo's interface comes from GLOO_SOCKET_IFNAME, passed through).
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
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>

#include "flatclr/data/augment_batch.h"
#include "flatclr/dist/data_parallel.h"
#include "flatclr/dist/scaling_model.h"
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
  std::string master_addr = "127.0.0.1";
  std::string rank_prefix;  // command each rank runs under, "{r}" replaced by the rank
  std::string result;       // worker: where rank 0 writes its numbers
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
  const int sync_bn_layers = dp.prepare_model(*model, o.sync_bn);
  int64_t n_params = 0;
  for (auto& p : model->parameters()) n_params += p.numel();
  auto optimizer = optim::make_optimizer(flatclr::optim::OptimizerKind::kLars, *model, 0.3, 1e-6, 0.9);
  train::TrainStep train_step(model, *optimizer, dp, train::StepOptions{});  // the trainer's step, FlatCLR
  const auto aug = data::AugmentConfig::for_dataset("cifar10", 32);
  std::vector<double> step_s, grad_comm_s, fwd_bwd_comm_s;
  int64_t fb_collectives = 0, grad_collectives = 0, gather_bytes = 0;
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
    gather_bytes = r.z.numel() * static_cast<int64_t>(r.z.element_size());  // all ranks' views
    fb_collectives = dp.collectives() - k0 - grad_collectives;
    if (step >= warmup) {
      step_s.push_back(t);
      grad_comm_s.push_back(r.grad_sync_seconds);
      fwd_bwd_comm_s.push_back(dp.comm_seconds() - c0 - r.grad_sync_seconds);
    }
  }
  // The collectives alone, with no compute in between (no waiting for a slower rank): the latency of a
  // SyncBN-sized all-gather and the bandwidth of a gradient-sized all-reduce (median of each), and for the
  // model's link an all-reduce of at least 16 MB, so that its bytes outweigh its latency terms.
  double latency_s = 0, allreduce_s = 0, big_allreduce_s = 0;
  const int64_t big_floats = std::max<int64_t>(n_params, 4 << 20);
  if (dp.distributed()) {
    auto timed = [&](int reps, const std::function<void()>& op) {
      std::vector<double> s;
      for (int i = 0; i < reps; ++i) {
        dp.barrier();
        const auto t0 = Clock::now();
        op();
        s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      }
      return median(s);
    };
    auto small = torch::randn({3, 64});
    auto grads = torch::randn({n_params});
    auto big = torch::randn({big_floats});
    latency_s = timed(50, [&] { dp.group().all_gather(small); });
    allreduce_s = timed(5, [&] { dp.group().all_reduce_sum(grads); });
    big_allreduce_s = timed(5, [&] { dp.group().all_reduce_sum(big); });
  }
  if (dp.is_rank0()) {
    std::ofstream f(o.result);
    f << median(step_s) << " " << median(fwd_bwd_comm_s) << " " << median(grad_comm_s) << " " << n_params
      << " " << fb_collectives << " " << grad_collectives << " " << latency_s << " " << allreduce_s << " "
      << gather_bytes << " " << (o.sync_bn ? sync_bn_layers : 0) << " " << big_floats * 4 << " "
      << big_allreduce_s << "\n";
  }
  return 0;
}

int launch(const Options& o, const char* self) {
  std::printf(
      "data-parallel scaling: %s x%.3g (CIFAR stem, 32x32), global batch %lld (x2 views), FlatNCE, LARS, "
      "SyncBN %s, Gloo (rank 0 at %s), 1 thread per process, %d timed steps (median) after 2 warm-up, "
      "%u cores\n",
      o.model.c_str(), o.width, static_cast<long long>(o.batch), o.sync_bn ? "on" : "off",
      o.master_addr.c_str(), o.steps, std::thread::hardware_concurrency());
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
                             "WORLD_SIZE=" + std::to_string(world), "MASTER_ADDR=" + o.master_addr,
                             "MASTER_PORT=" + std::to_string(port), std::string("OMP_NUM_THREADS=1")})
        env_s.push_back(kv);
      std::vector<std::string> args{
          self,    "--batch", std::to_string(o.batch), "--width",   std::to_string(o.width), "--model",
          o.model, "--steps", std::to_string(o.steps), "--sync_bn", o.sync_bn ? "1" : "0",   "--result",
          result};
      if (!o.rank_prefix.empty()) {
        // sh -c '<prefix with the rank> exec <args>' (the arguments hold no spaces or quotes)
        std::string prefix = o.rank_prefix, line;
        for (size_t at; (at = prefix.find("{r}")) != std::string::npos;)
          prefix.replace(at, 3, std::to_string(r));
        for (const auto& a : args) line += " " + a;
        args = {"/bin/sh", "-c", prefix + line};
      }
      std::vector<char*> argv, envp;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      for (auto& e : env_s) envp.push_back(e.data());
      envp.push_back(nullptr);
      pid_t pid;
      if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data()) != 0) {
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
    int64_t gather_bytes = 0, sync_bn_layers = 0, big_bytes = 0;
    double big_allreduce = 0;
    std::ifstream(result) >> step >> fb >> grad >> n_params >> fb_n >> grad_n >> latency >> allreduce >>
        gather_bytes >> sync_bn_layers >> big_bytes >> big_allreduce;
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
      // The model fed this link and this traffic; compute = the 1-process step split N ways.
      const dist::Link link = dist::fit_link(world, latency, static_cast<double>(big_bytes), big_allreduce);
      dist::StepTraffic t;
      t.grad_bytes = 4.0 * static_cast<double>(n_params);
      t.grad_buckets = grad_n;
      t.gather_bytes = static_cast<double>(gather_bytes);
      t.sync_bn_layers = sync_bn_layers;
      const double compute = base_step > 0 ? base_step / world : step - grad - fb;
      const auto p = dist::predict_step(t, compute, world, link);
      std::printf(
          "          model (link fitted to the collectives alone, %.0f MB all-reduce in %.2f ms: %.3f GB/s, "
          "%.1f us per message; compute "
          "%.3f s = %s): step %.3f s, grad comm %.1f ms, fwd/bwd comm %.1f ms, efficiency %.0f%%; "
          "measured: step %.3f s, grad comm %.1f ms, fwd/bwd comm %.1f ms, efficiency %.0f%%\n",
          big_bytes / 1e6, 1000 * big_allreduce, link.bytes_per_s / 1e9, 1e6 * link.latency_s, compute,
          base_step > 0 ? "1-process step / N" : "this step - its comm", p.step_s, 1000 * p.grad_s,
          1000 * (p.gather_s + p.sync_bn_s), 100 * p.efficiency, step, 1000 * grad, 1000 * fb,
          base_step > 0 ? 100 * base_step / step / world : 100 * (step - grad - fb) / step);
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
  app.add_option("--master_addr", o.master_addr, "rank 0's address (127.0.0.1: all ranks on this host)");
  app.add_option("--rank_prefix", o.rank_prefix, "command each rank runs under, {r} = its rank");
  app.add_option("--result", o.result, "(worker) where rank 0 writes its numbers");
  CLI11_PARSE(app, argc, argv);
  try {
    if (std::getenv("RANK")) return worker(o);
    // The real path: a rank started through a shell (--rank_prefix) would see the shell's /proc/self/exe.
    char self[4096];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) throw std::runtime_error("cannot read /proc/self/exe");
    self[n] = 0;
    return launch(o, self);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
}
