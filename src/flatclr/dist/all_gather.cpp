#include "flatclr/dist/all_gather.h"

#include <torch/torch.h>

#include <cstdint>

#include "flatclr/core/error.h"

namespace flatclr::dist {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct AllGatherFunction : torch::autograd::Function<AllGatherFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, ProcessGroup* group) {
    // autograd's saved_data holds IValues: the group travels as its address (it outlives the graph).
    ctx->saved_data["group"] = static_cast<int64_t>(reinterpret_cast<std::intptr_t>(group));
    ctx->saved_data["rows"] = x.size(0);
    return group->all_gather(x.detach());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto* group =
        reinterpret_cast<ProcessGroup*>(static_cast<std::intptr_t>(ctx->saved_data["group"].toInt()));
    const int64_t rows = ctx->saved_data["rows"].toInt();
    auto g = grads[0].contiguous().clone();
    group->all_reduce_sum(g);
    return {g.narrow(0, group->rank() * rows, rows), at::Tensor()};
  }
};

}  // namespace

at::Tensor all_gather_with_grad(const at::Tensor& x, ProcessGroup& group) {
  if (group.size() == 1) return x;
  return AllGatherFunction::apply(x, &group);
}

at::Tensor gather_views(const at::Tensor& z, ProcessGroup& group) {
  FLATCLR_CHECK(z.dim() == 2 && z.size(0) % 2 == 0, "z must be [2n, D], got ", z.sizes());
  if (group.size() == 1) return z;
  const int64_t n = z.size(0) / 2, d = z.size(1), w = group.size();
  auto all = all_gather_with_grad(z, group);  // [W*2n, D] = [W, 2, n, D]
  return all.view({w, 2, n, d}).transpose(0, 1).reshape({2 * w * n, d});
}

}  // namespace flatclr::dist
