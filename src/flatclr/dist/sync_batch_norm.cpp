#include "flatclr/dist/sync_batch_norm.h"

#include <torch/torch.h>

#include <vector>

#include "flatclr/core/error.h"
#include "flatclr/dist/all_gather.h"

namespace flatclr::dist {

at::Tensor SyncBatchNorm::forward(const at::Tensor& x, const models::BatchNormState& s) {
  FLATCLR_CHECK(x.dim() >= 2 && s.options, "SyncBatchNorm input must be [N, C, *], got ", x.sizes());
  const int64_t c = x.size(1);
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[1] = c;

  const double n_local = static_cast<double>(x.numel() / c);
  auto mean = x.mean(dims);                                                // [C]
  auto m2 = (x - mean.view(shape)).pow(2).sum(dims);                       // [C]
  auto local = torch::stack({mean, m2, torch::full_like(mean, n_local)});  // [3, C]
  auto all = all_gather_with_grad(local, *group_).view({group_->size(), 3, c});
  auto means = all.select(1, 0), m2s = all.select(1, 1), counts = all.select(1, 2).detach();  // [W, C]
  auto total = counts.sum(0);                                                                 // [C]
  auto g_mean = (counts * means).sum(0) / total;
  auto g_m2 = m2s.sum(0) + (counts * (means - g_mean).pow(2)).sum(0);
  auto var = g_m2 / total;

  const auto& o = *s.options;
  auto y = (x - g_mean.view(shape)) * torch::rsqrt(var + o.eps()).view(shape);
  if (s.weight.defined()) y = y * s.weight.view(shape) + s.bias.view(shape);

  if (o.track_running_stats() && s.running_mean.defined()) {
    torch::NoGradGuard no_grad;
    double factor = o.momentum() ? *o.momentum() : 0.0;
    if (s.num_batches_tracked.defined()) {
      s.num_batches_tracked.add_(1);
      if (!o.momentum()) factor = 1.0 / s.num_batches_tracked.item<double>();
    }
    s.running_mean.mul_(1 - factor).add_(g_mean.detach(), factor);
    s.running_var.mul_(1 - factor).add_(g_m2.detach() / (total - 1).clamp_min(1), factor);
  }
  return y;
}

}  // namespace flatclr::dist
