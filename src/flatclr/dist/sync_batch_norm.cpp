#include "flatclr/dist/sync_batch_norm.h"

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "flatclr/core/error.h"

namespace flatclr::dist {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// y = (x - mean) * invstd * weight + bias with the global mean and variance, and its gradient through them.
// Forward and the local part of the backward are LibTorch's fused eval-mode batch-norm kernels; the backward
// adds the terms of the statistics from the global sums of dy and dy * xhat (one all-reduce per layer):
//   dx = w invstd (dy - sum dy / N - xhat sum(dy xhat) / N),   dw = sum_local dy xhat,   db = sum_local dy.
struct SyncBatchNormFunction : torch::autograd::Function<SyncBatchNormFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, const at::Tensor& mean, const at::Tensor& var, double eps,
                            const at::Tensor& total, ProcessGroup* group) {
    // autograd's saved_data holds IValues: the group travels as its address (it outlives the graph).
    ctx->saved_data["group"] = static_cast<int64_t>(reinterpret_cast<std::intptr_t>(group));
    ctx->saved_data["eps"] = eps;
    ctx->save_for_backward({x, weight, mean, var, total});  // total: [C] global count, kept on the device
    return std::get<0>(at::native_batch_norm(x, weight, bias, mean, var, /*training=*/false, 0.0, eps));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto* group =
        reinterpret_cast<ProcessGroup*>(static_cast<std::intptr_t>(ctx->saved_data["group"].toInt()));
    const double eps = ctx->saved_data["eps"].toDouble();
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1], &mean = saved[2], &var = saved[3], &total = saved[4];
    auto dy = grads[0].contiguous();
    // Eval-mode backward: dx_local = dy w invstd, sum(dy xhat), sum(dy) (this rank's rows). The saved
    // statistics are empty, not undefined: that is how the eval-mode caller (cudnn_batch_norm) says "take the
    // running ones", and CUDA's non-fused kernel (2-D inputs, 1x1 maps, very large inputs) asserts that they
    // are defined. Here the running statistics are the global mean and variance.
    const auto none = at::empty({0}, mean.options());
    auto [dx, sum_dy_xhat, sum_dy] = at::native_batch_norm_backward(dy, x, w, mean, var, none, none,
                                                                    /*train=*/false, eps, {true, true, true});
    auto sums = torch::stack({sum_dy, sum_dy_xhat});  // [2, C], summed over the ranks
    if (group->size() > 1) group->all_reduce_sum(sums);
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[1] = x.size(1);
    auto invstd = torch::rsqrt(var + eps);
    auto a = w * invstd * invstd * sums[1] / total;  // the coefficient of x
    auto b = w * invstd * sums[0] / total - mean * a;
    dx.sub_(torch::addcmul(b.view(shape), x, a.view(shape)));
    return {dx, sum_dy_xhat, sum_dy, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor SyncBatchNorm::forward(const at::Tensor& x_in, const models::BatchNormState& s) {
  FLATCLR_CHECK(x_in.dim() >= 2 && s.options, "SyncBatchNorm input must be [N, C, *], got ", x_in.sizes());
  // Under mixed precision the convolutions hand over bf16/fp16 activations while the parameters and running
  // statistics stay float32; LibTorch's CPU kernels refuse that mix ("mixed dtype"), and statistics over the
  // global batch want float32 anyway. So normalisation runs in float32 (as autocast does for its fp32 ops);
  // the next convolution casts back, and the input's gradient returns in its own type through the cast.
  const bool reduced = x_in.scalar_type() == at::kBFloat16 || x_in.scalar_type() == at::kHalf;
  const auto x = (reduced ? x_in.to(at::kFloat) : x_in).contiguous();
  const int64_t c = x.size(1);
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);

  at::Tensor g_mean, g_m2, total;
  {
    torch::NoGradGuard no_grad;  // the gradient through the statistics is SyncBatchNormFunction's
    const double n_local = static_cast<double>(x.numel() / c);
    // The local mean and biased variance from LibTorch's fused training-mode kernel (far faster on CPU than
    // var_mean's Welford reduction); its normalised output is not used. eps = 0 keeps the variance exact.
    auto stats = at::native_batch_norm(x, {}, {}, {}, {}, /*training=*/true, 0.0, /*eps=*/0.0);
    auto mean = std::get<1>(stats);
    auto local_var = std::get<2>(stats).pow(-2);
    auto local = torch::stack({mean, local_var * n_local, torch::full_like(mean, n_local)});  // [3, C]
    auto all = group_->size() > 1 ? group_->all_gather(local) : local;
    all = all.view({group_->size(), 3, c});
    auto means = all.select(1, 0), m2s = all.select(1, 1), counts = all.select(1, 2);  // [W, C]
    total = counts.sum(0);                                                             // [C]
    g_mean = (counts * means).sum(0) / total;
    g_m2 = m2s.sum(0) + (counts * (means - g_mean).pow(2)).sum(0);
  }
  const auto& o = *s.options;
  // affine=false: a constant weight 1 and bias 0 (autograd's inputs must be defined tensors).
  const auto weight = s.weight.defined() ? s.weight : torch::ones_like(g_mean);
  const auto bias = s.bias.defined() ? s.bias : torch::zeros_like(g_mean);
  auto y = SyncBatchNormFunction::apply(x, weight, bias, g_mean, g_m2 / total, o.eps(), total, group_.get());

  if (o.track_running_stats() && s.running_mean.defined()) {
    torch::NoGradGuard no_grad;
    double factor = o.momentum() ? *o.momentum() : 0.0;
    if (s.num_batches_tracked.defined()) {
      s.num_batches_tracked.add_(1);
      if (!o.momentum()) factor = 1.0 / s.num_batches_tracked.item<double>();
    }
    s.running_mean.mul_(1 - factor).add_(g_mean, factor);
    s.running_var.mul_(1 - factor).add_(g_m2 / (total - 1).clamp_min(1), factor);
  }
  return y;
}

}  // namespace flatclr::dist
