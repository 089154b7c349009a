// Data-parallel parameter handling by hand (LibTorch has no DistributedDataParallel in C++):
// - broadcast_module: every rank starts from rank 0's parameters and buffers;
// - average_gradients: after backward, every gradient becomes the mean over the ranks. The gradients are
//   flattened into buckets of at most bucket_bytes (per dtype and device), one all-reduce per bucket, as
//   DDP does (fewer, larger messages), but after backward rather than overlapped with it.
// Why the mean gives the single-process update: with features gathered with gradient (all_gather.h) and
// every rank computing the same global loss L, rank r's backward yields W * (its share of dL/dtheta), and
// the shares sum to dL/dtheta; the mean over the W ranks is therefore dL/dtheta, the gradient of one
// process on the global batch. SyncBN's statistics (sync_batch_norm.h) follow the same convention.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <vector>

#include "flatclr/dist/process_group.h"

namespace flatclr::dist {

constexpr int64_t kDefaultBucketBytes = 25 << 20;  // DDP's default bucket_cap_mb

// Parameters and buffers of module become rank root's (in place, no autograd).
void broadcast_module(torch::nn::Module& module, ProcessGroup& group, int root = 0);

// Every parameter that requires grad gets grad = mean over the ranks of its grad; a missing grad counts
// as zeros (and becomes a defined zero tensor), so every rank runs the same collectives.
void average_gradients(const std::vector<at::Tensor>& parameters, ProcessGroup& group,
                       int64_t bucket_bytes = kDefaultBucketBytes);

}  // namespace flatclr::dist
