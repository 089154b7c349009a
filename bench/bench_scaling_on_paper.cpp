// Scaling on paper: the expected data-parallel efficiency of flatclr's pretraining step for ResNet-18 (CIFAR
// stem) and ResNet-50 (ImageNet stem) on 2-16 nodes, one GPU per node, for stated interconnects, from the
// alpha-beta ring model of dist/scaling_model.h. Weak scaling: every node keeps its batch, the global batch
// grows with the nodes (as when adding GPUs to reach SimCLR's large batches).
// What is counted from the real models: parameters (float32 gradients, all-reduced in flatclr's 25 MiB
// buckets after backward), SyncBatchNorm layers, the projection width (the gathered views, float32).
// What is given: one GPU's compute time per step (flags; the defaults and their sources are printed), and
// each interconnect's bandwidth and per-message latency (assumptions, printed).
//   build/bench_scaling_on_paper [--nodes 2,4,8,16] [--res18_batch 512] [--res18_step_ms 16.5]
//                                [--res50_batch 256] [--res50_step_ms 170]
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "flatclr/dist/grad_sync.h"
#include "flatclr/dist/scaling_model.h"
#include "flatclr/models/batch_norm.h"
#include "flatclr/models/resnet.h"

using namespace flatclr;

namespace {

struct Interconnect {
  const char* name;
  dist::Link link;
};

// Line rates; latencies are assumptions of a typical small-message time per hop (TCP over Ethernet, RDMA
// over InfiniBand). Measured bus bandwidth is usually 80-95% of the line rate, so these are optimistic.
const Interconnect kInterconnects[] = {
    {"25 Gb/s Ethernet, 25 us", {25e9 / 8, 25e-6}},
    {"100 Gb/s IB EDR, 5 us", {100e9 / 8, 5e-6}},
    {"400 Gb/s IB NDR, 5 us", {400e9 / 8, 5e-6}},
};

struct ModelCase {
  std::string title;
  models::ResNetOptions options;
  int64_t batch;   // images per GPU (2 views each)
  double step_ms;  // one GPU's step without communication
  std::string step_source;
};

// The gradient all-reduces of one step: average_gradients' rule (grad_sync.cpp), a new bucket whenever the
// next gradient would pass bucket_bytes (all gradients are float32 on one device here).
int64_t count_buckets(torch::nn::Module& model, int64_t bucket_bytes) {
  int64_t buckets = 0, bytes = 0;
  for (const auto& p : model.parameters()) {
    if (!p.requires_grad()) continue;
    const int64_t b = p.numel() * static_cast<int64_t>(p.element_size());
    if (buckets == 0 || bytes + b > bucket_bytes) {
      ++buckets;
      bytes = 0;
    }
    bytes += b;
  }
  return buckets;
}

void print_case(const ModelCase& c, const std::vector<int>& nodes) {
  models::ResNet model(c.options);
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  dist::StepTraffic t;
  t.grad_bytes = 4.0 * static_cast<double>(params);
  t.grad_buckets = count_buckets(*model, dist::kDefaultBucketBytes);
  t.sync_bn_layers = models::set_batch_norm_sync(*model, nullptr);  // counts them (and leaves them local)
  const int64_t out_dim = model->fc->out_dim();
  const double compute_s = c.step_ms / 1e3;
  std::printf(
      "\n%s: %lld parameters = %.1f MB of float32 gradients in %lld all-reduce(s) (25 MiB buckets); "
      "%lld SyncBN layers; %lld-d projections gathered in float32\n",
      c.title.c_str(), static_cast<long long>(params), t.grad_bytes / 1e6,
      static_cast<long long>(t.grad_buckets), static_cast<long long>(t.sync_bn_layers),
      static_cast<long long>(out_dim));
  std::printf("  per GPU: batch %lld images (x2 views), compute %.1f ms per step (%s)\n",
              static_cast<long long>(c.batch), c.step_ms, c.step_source.c_str());
  std::printf("  %5s | %-25s | %8s | %9s | %9s | %8s | %10s | %12s\n", "nodes", "interconnect", "grad ms",
              "gather ms", "SyncBN ms", "comm ms", "efficiency", "with overlap");
  for (const auto& ic : kInterconnects) {
    for (int n : nodes) {
      t.gather_bytes = 4.0 * 2 * static_cast<double>(c.batch) * n * static_cast<double>(out_dim);
      const auto p = dist::predict_step(t, compute_s, n, ic.link);
      std::printf("  %5d | %-25s | %8.2f | %9.2f | %9.2f | %8.2f | %9.1f%% | %11.1f%%\n", n, ic.name,
                  1e3 * p.grad_s, 1e3 * p.gather_s, 1e3 * p.sync_bn_s, 1e3 * p.comm_s, 100 * p.efficiency,
                  100 * p.overlap_efficiency);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string nodes_s = "2,4,8,16";
  ModelCase r18{"ResNet-18, CIFAR stem, 32 px",
                {},
                512,
                16.5,
                "measured: flatclr on an NVIDIA H200, bf16 channels-last, 31,014 img/s"};
  ModelCase r50{"ResNet-50, ImageNet stem, 224 px",
                {},
                256,
                170,
                "ASSUMED, not measured: ~3,000 views/s of ResNet-50 training on one H100/H200-class GPU"};
  CLI::App app{"expected data-parallel efficiency from the alpha-beta ring model"};
  app.add_option("--nodes", nodes_s, "node counts, comma-separated (one GPU each)");
  app.add_option("--res18_batch", r18.batch, "ResNet-18 images per GPU")->check(CLI::Range(1, 1 << 20));
  app.add_option("--res18_step_ms", r18.step_ms, "ResNet-18 compute per step")->check(CLI::Range(1e-3, 1e6));
  app.add_option("--res50_batch", r50.batch, "ResNet-50 images per GPU")->check(CLI::Range(1, 1 << 20));
  app.add_option("--res50_step_ms", r50.step_ms, "ResNet-50 compute per step")->check(CLI::Range(1e-3, 1e6));
  CLI11_PARSE(app, argc, argv);
  if (app.count("--res18_step_ms") || app.count("--res18_batch"))
    r18.step_source = "given by --res18_step_ms";
  if (app.count("--res50_step_ms") || app.count("--res50_batch"))
    r50.step_source = "given by --res50_step_ms";
  std::vector<int> nodes;
  std::stringstream ss(nodes_s);
  for (std::string item; std::getline(ss, item, ',');) nodes.push_back(std::stoi(item));

  std::printf(
      "scaling on paper: one GPU per node, each node keeps its batch (global batch = nodes x batch); ring "
      "all-reduce 2(N-1)/N*S/B + 2(N-1)*a per bucket, ring all-gather (N-1)/N*S/B + (N-1)*a; per step the "
      "gradient all-reduce, the view all-gather and its backward all-reduce, and per SyncBN layer an "
      "all-gather + an all-reduce of a few KB (latency only). efficiency = compute / (compute + comm), no "
      "overlap (as flatclr runs); 'with overlap' hides the gradient all-reduce behind compute. Bandwidths "
      "are line rates and latencies assumptions.\n");
  r18.options.arch = models::Arch::kRes18;
  r50.options.arch = models::Arch::kRes50;
  r50.options.imagenet_stem = true;
  r50.options.normalize_dataset = "imagenet";
  print_case(r18, nodes);
  print_case(r50, nodes);
  return 0;
}
