#include "flatclr/eval/features.h"

#include <torch/torch.h>

#include "flatclr/core/progress.h"

namespace flatclr::eval {

at::Tensor to_unit_float(const at::Tensor& images_u8, const c10::Device& device) {
  return images_u8.to(device, /*non_blocking=*/images_u8.is_pinned()).to(torch::kFloat).div_(255.0);
}

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

void for_each_feature_batch(models::ResNet& model, std::shared_ptr<const data::LabelledSplit> split,
                            int64_t batch_size, const c10::Device& device, const data::SplitLoaderOptions& lo,
                            core::ProgressMode progress_mode, const std::string& label,
                            const FeatureVisitor& visit) {
  torch::NoGradGuard no_grad;
  model->eval();
  data::SplitLoader loader(std::move(split), lo);
  loader.start_in_order(batch_size);
  const int64_t steps = loader.batches();
  core::Progress progress(progress_mode, label, steps, batch_size);
  data::SplitBatch batch;
  for (int64_t s = 0; loader.next(batch); ++s) {
    if (batch.images.size(0) > 0) visit(model->features(to_unit_float(batch.images, device)), batch);
    if (!label.empty() && ((s + 1) % 20 == 0 || s + 1 == steps)) progress.update(s + 1, "features");
  }
  progress.finish();
}

}  // namespace flatclr::eval
