#include "flatclr/eval/features.h"

#include <torch/torch.h>

#include "flatclr/core/progress.h"

namespace flatclr::eval {

at::Tensor extract_features(models::ResNet& model, const at::Tensor& images_u8, int64_t batch_size,
                            const c10::Device& device, core::ProgressMode progress_mode,
                            const std::string& label) {
  torch::NoGradGuard no_grad;
  model->eval();
  const int64_t n = images_u8.size(0);
  const int64_t steps = (n + batch_size - 1) / batch_size;
  core::Progress progress(progress_mode, label, steps, batch_size);
  std::vector<at::Tensor> parts;
  for (int64_t s = 0; s < steps; ++s) {
    auto x = images_u8.slice(0, s * batch_size, std::min(n, (s + 1) * batch_size)).to(device);
    parts.push_back(model->features(x.to(torch::kFloat).div_(255.0)));
    if (!label.empty() && ((s + 1) % 20 == 0 || s + 1 == steps)) progress.update(s + 1, "features");
  }
  progress.finish();
  return torch::cat(parts);
}

}  // namespace flatclr::eval
