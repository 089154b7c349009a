#include "flatclr/models/channels_last.h"

#include <torch/torch.h>

#include "flatclr/core/error.h"

namespace flatclr::models {

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  auto relayout = [](torch::Tensor& t) {
    if (t.defined() && t.dim() == 4) t.set_data(t.data().contiguous(at::MemoryFormat::ChannelsLast));
  };
  for (auto& p : module.parameters()) relayout(p);
  for (auto& b : module.buffers()) relayout(b);
}

std::vector<std::string> nhwc_unsafe_on_cpu(const torch::nn::Module& module) {
  std::vector<std::string> out;
  for (const auto& item : module.named_modules()) {
    const auto* conv = item.value()->as<torch::nn::Conv2d>();
    if (!conv) continue;
    const auto& o = conv->options;
    const auto& k = *o.kernel_size();
    const auto& s = *o.stride();
    const bool one_by_one = k[0] == 1 && k[1] == 1;
    const bool strided = s[0] > 1 || s[1] > 1;
    if (one_by_one && strided && o.in_channels() < kOneDnnChannelBlock) {
      out.push_back(item.key() + " (" + std::to_string(o.in_channels()) + " input channels, 1x1 stride " +
                    std::to_string(std::max(s[0], s[1])) + ")");
    }
  }
  return out;
}

bool use_channels_last(core::MemoryFormat requested, const c10::Device& device,
                       const torch::nn::Module& module, std::string* note) {
  if (core::resolve_memory_format(requested) != core::MemoryFormat::kChannelsLast) return false;
  if (device.is_cuda()) return true;
  const auto unsafe = nhwc_unsafe_on_cpu(module);
  if (unsafe.empty()) return true;
  if (note) {
    *note = detail::concat(
        Field{"memory_format"}, "=", core::name_of(requested),
        requested == core::MemoryFormat::kAuto ? ": contiguous" : ": using contiguous instead",
        ", because oneDNN's CPU kernels crash or miscompute the channels-last backward of 1x1 strided "
        "convolutions with fewer than ",
        kOneDnnChannelBlock, " input channels, as ", unsafe.front(),
        unsafe.size() > 1 ? detail::concat(" and ", unsafe.size() - 1, " more") : std::string(),
        " of this model");
  }
  return false;
}

}  // namespace flatclr::models
