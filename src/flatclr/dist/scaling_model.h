// A paper model of one data-parallel step: how long the step's collectives take on N nodes joined by links
// of a given bandwidth and per-message latency (alpha-beta model), and what share of the step is compute.
// Ring algorithms throughout (Gloo's all-reduce and all-gather on CPU, NCCL's default for large messages):
//   all-reduce of S bytes:            2(N-1)/N * S / bandwidth + 2(N-1) * latency
//     (a reduce-scatter then an all-gather, N-1 neighbour exchanges each)
//   all-gather of S bytes in all:     (N-1)/N * S / bandwidth + (N-1) * latency
// One step of flatclr's trainer (train/train_step.cpp) makes:
//   - the gradient average (grad_sync.h): one all-reduce per bucket, grad_bytes in all (float32);
//   - the view gather with gradient (all_gather.h): an all-gather of gather_bytes (every rank's 2B float32
//     projections) in forward and an all-reduce of the same bytes in backward;
//   - SyncBatchNorm (sync_batch_norm.h), per layer: an all-gather of the statistics in forward and an
//     all-reduce of two sums in backward, a few KB each: counted as latency only.
// efficiency = compute / (compute + communication): no overlap, as flatclr runs (the gradients are averaged
// after backward, the gather and SyncBN collectives sit on the critical path). overlap_efficiency is the
// other extreme: the gradient all-reduce hidden entirely behind compute (as DDP overlaps it with backward),
// the forward/backward collectives still in series. Left out: NCCL's tree and in-network (SHARP)
// algorithms, contention with other traffic, and how compute slows when a collective shares its cores.
#pragma once

#include <cstdint>

namespace flatclr::dist {

struct Link {
  double bytes_per_s = 0;  // bandwidth of one node's link, each direction
  double latency_s = 0;    // per message (one ring step)
};

struct StepTraffic {
  double grad_bytes = 0;     // all gradients of the model, float32
  int64_t grad_buckets = 1;  // all-reduces the gradient average makes (each pays the latency terms)
  double gather_bytes = 0;   // the gathered projections of all ranks, float32
  int64_t sync_bn_layers = 0;
};

struct StepPrediction {
  double grad_s = 0;              // gradient all-reduce(s)
  double gather_s = 0;            // view all-gather + its backward all-reduce
  double sync_bn_s = 0;           // SyncBatchNorm statistics
  double comm_s = 0;              // the three together
  double step_s = 0;              // compute + comm
  double efficiency = 0;          // compute / step
  double overlap_efficiency = 0;  // compute / (max(compute, grad) + gather + SyncBN)
};

// Ring all-reduce of `bytes` split into `messages` all-reduces of equal total (latency paid per message).
double ring_all_reduce_seconds(double bytes, int nodes, const Link& link, int64_t messages = 1);
// Ring all-gather whose result is `bytes` in all (each node contributes bytes / nodes).
double ring_all_gather_seconds(double bytes, int nodes, const Link& link);

// compute_s: one rank's step without communication (forward, loss, backward, optimizer).
StepPrediction predict_step(const StepTraffic& traffic, double compute_s, int nodes, const Link& link);

// The link that makes the model reproduce two measurements on `nodes` ranks: the time of a small
// all-gather (latency = time / (N-1)) and of an all-reduce of all_reduce_bytes. Infinite bandwidth when
// the all-reduce took no longer than its latency terms (its bytes cost nothing measurable).
Link fit_link(int nodes, double small_all_gather_s, double all_reduce_bytes, double all_reduce_s);

}  // namespace flatclr::dist
