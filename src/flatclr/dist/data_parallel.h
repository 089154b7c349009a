// The data-parallel pieces a training loop needs, behind one object so the loop stays readable
// (train/pretrain.cpp): this rank's slice of the global batch, the views gathered with gradient, rank 0's
// weights at the start, SyncBatchNorm, the gradient average after backward, and agreement on values
// decided by rank 0 (the run folder). With world_size 1 every call is the identity and no c10d is used.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/Device.h>
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

#include "flatclr/core/choice.h"
#include "flatclr/dist/dist_env.h"
#include "flatclr/dist/process_group.h"

namespace flatclr::dist {

enum class BackendChoice { kAuto, kGloo, kNccl };
inline constexpr core::Choice<BackendChoice> kBackendChoices[] = {
    {BackendChoice::kAuto, "auto"}, {BackendChoice::kGloo, "gloo"}, {BackendChoice::kNccl, "nccl"}};
constexpr const auto& choices_of(BackendChoice) { return kBackendChoices; }

// The c10d backend name: auto -> "nccl" for a CUDA device when this build has NCCL, else "gloo"; gloo and
// nccl as chosen.
std::string resolve_backend(BackendChoice choice, const c10::Device& device);

class DataParallel {
 public:
  // backend: resolved by resolve_backend; timeout_s bounds the start and every collective.
  DataParallel(const DistEnv& env, BackendChoice backend, double timeout_s, const c10::Device& device);

  bool distributed() const { return group_->size() > 1; }
  int rank() const { return group_->rank(); }
  int world_size() const { return group_->size(); }
  bool is_rank0() const { return group_->rank() == 0; }
  ProcessGroup& group() { return *group_; }

  // The global batch's slice of this rank (shard.h).
  std::vector<int64_t> local_batch(const std::vector<int64_t>& global_batch) const;
  // z: [2n, D] of this rank -> [2Wn, D] in the single-process order, with gradient (all_gather.h).
  at::Tensor gather_views(const at::Tensor& z);
  // Rank 0's parameters and buffers on every rank; with sync_bn, SyncBatchNorm in every flatclr BatchNorm.
  // Returns the number of BatchNorm layers synchronised.
  int prepare_model(torch::nn::Module& model, bool sync_bn);
  // grad = mean over the ranks (grad_sync.h).
  void average_gradients(torch::nn::Module& model);
  void barrier() { group_->barrier(); }
  // Rank 0's value on every rank.
  std::string agree(const std::string& value_on_rank0) { return group_->broadcast_string(value_on_rank0); }
  double comm_seconds() const { return group_->comm_seconds(); }
  int64_t collectives() const { return group_->collectives(); }

 private:
  std::shared_ptr<ProcessGroup> group_;
};

}  // namespace flatclr::dist
