#include "flatclr/models/projection_head.h"

#include <torch/torch.h>

#include "flatclr/core/error.h"
#include "flatclr/models/batch_norm.h"

namespace flatclr::models {

ProjectionHeadImpl::ProjectionHeadImpl(const ProjectionHeadOptions& o) : options(o) {
  FLATCLR_CHECK(o.in_dim > 0 && o.out_dim > 0, "bad head dims ", o.in_dim, " ", o.out_dim);
  if (o.mode == HeadMode::kNone) return;
  torch::nn::Sequential net;
  if (o.mode == HeadMode::kNonlinear) {
    FLATCLR_CHECK(o.num_layers >= 1, "num_layers ", o.num_layers);
    for (int64_t i = 0; i + 1 < o.num_layers; ++i) {
      net->push_back(torch::nn::Linear(o.in_dim, o.in_dim));
      net->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
    }
    net->push_back(torch::nn::Linear(o.in_dim, o.out_dim));
  } else {
    net->push_back(torch::nn::Linear(o.in_dim, o.out_dim));
    net->push_back(BatchNorm1d(o.out_dim));
  }
  linear_layers = register_module("linear_layers", LinearLayers());
  linear_layers->net = linear_layers->register_module("net", net);
}

at::Tensor ProjectionHeadImpl::forward(const at::Tensor& h) {
  if (!linear_layers) return h;
  return linear_layers->net->forward(h);
}

int64_t ProjectionHeadImpl::out_dim() const {
  return options.mode == HeadMode::kNone ? options.in_dim : options.out_dim;
}

}  // namespace flatclr::models
