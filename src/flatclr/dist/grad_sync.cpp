#include "flatclr/dist/grad_sync.h"

#include <torch/torch.h>

namespace flatclr::dist {
namespace {

void all_reduce_bucket(std::vector<at::Tensor>& grads, ProcessGroup& group) {
  if (grads.empty()) return;
  std::vector<at::Tensor> flat_parts;
  flat_parts.reserve(grads.size());
  for (auto& g : grads) flat_parts.push_back(g.reshape({-1}));
  auto flat = at::cat(flat_parts);
  group.all_reduce_sum(flat);
  flat.div_(group.size());
  int64_t offset = 0;
  for (auto& g : grads) {
    const int64_t n = g.numel();
    g.copy_(flat.narrow(0, offset, n).view_as(g));
    offset += n;
  }
  grads.clear();
}

}  // namespace

void broadcast_module(torch::nn::Module& module, ProcessGroup& group, int root) {
  if (group.size() == 1) return;
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) group.broadcast(p, root);
  for (auto& b : module.buffers()) group.broadcast(b, root);
}

void average_gradients(const std::vector<at::Tensor>& parameters, ProcessGroup& group, int64_t bucket_bytes) {
  if (group.size() == 1) return;
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> bucket;
  int64_t bytes = 0;
  for (const auto& p : parameters) {
    if (!p.requires_grad()) continue;
    if (!p.grad().defined()) const_cast<at::Tensor&>(p).mutable_grad() = at::zeros_like(p);
    auto g = p.grad();
    const int64_t b = g.numel() * static_cast<int64_t>(g.element_size());
    const bool fits = !bucket.empty() && bucket.front().scalar_type() == g.scalar_type() &&
                      bucket.front().device() == g.device() && bytes + b <= bucket_bytes;
    if (!bucket.empty() && !fits) {
      all_reduce_bucket(bucket, group);
      bytes = 0;
    }
    bucket.push_back(g);
    bytes += b;
  }
  all_reduce_bucket(bucket, group);
}

}  // namespace flatclr::dist
