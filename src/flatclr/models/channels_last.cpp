#include "flatclr/models/channels_last.h"

#include <torch/torch.h>

namespace flatclr::models {

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  auto relayout = [](torch::Tensor& t) {
    if (t.defined() && t.dim() == 4) t.set_data(t.data().contiguous(at::MemoryFormat::ChannelsLast));
  };
  for (auto& p : module.parameters()) relayout(p);
  for (auto& b : module.buffers()) relayout(b);
}

}  // namespace flatclr::models
