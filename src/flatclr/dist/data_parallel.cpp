#include "flatclr/dist/data_parallel.h"

#include "flatclr/dist/all_gather.h"
#include "flatclr/dist/grad_sync.h"
#include "flatclr/dist/shard.h"
#include "flatclr/dist/sync_batch_norm.h"

namespace flatclr::dist {

std::string resolve_backend(BackendChoice choice, const c10::Device& device) {
  if (choice == BackendChoice::kAuto) return device.is_cuda() && nccl_available() ? "nccl" : "gloo";
  return core::name_of(choice);
}

DataParallel::DataParallel(const DistEnv& env, BackendChoice backend, double timeout_s,
                           const c10::Device& device)
    : group_(std::make_shared<ProcessGroup>(env, resolve_backend(backend, device), timeout_s)) {}

std::vector<int64_t> DataParallel::local_batch(const std::vector<int64_t>& global_batch) const {
  return rank_slice(global_batch, rank(), world_size());
}

at::Tensor DataParallel::gather_views(const at::Tensor& z) { return dist::gather_views(z, *group_); }

int DataParallel::prepare_model(torch::nn::Module& model, bool sync_bn) {
  if (!distributed()) return 0;
  broadcast_module(model, *group_);
  return sync_bn ? models::set_batch_norm_sync(model, std::make_shared<SyncBatchNorm>(group_)) : 0;
}

void DataParallel::average_gradients(torch::nn::Module& model) {
  dist::average_gradients(model.parameters(), *group_);
}

}  // namespace flatclr::dist
