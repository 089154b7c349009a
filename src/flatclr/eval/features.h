// Frozen-encoder features for evaluation: the pooled backbone output h (as in the paper's code, the linear
// probe and kNN use h, not the projection z), computed in eval mode (BatchNorm running statistics) without
// gradients and without augmentation.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "flatclr/core/progress.h"
#include "flatclr/models/resnet.h"

namespace flatclr::eval {

// images_u8: [N, 3, H, W] uint8 (any device) -> h: [N, feature_dim] float32 on `device`.
// Leaves the model in eval mode. `label` names the progress line ("" = silent).
at::Tensor extract_features(models::ResNet& model, const at::Tensor& images_u8, int64_t batch_size,
                            const c10::Device& device,
                            core::ProgressMode progress_mode = core::ProgressMode::kNone,
                            const std::string& label = "");

}  // namespace flatclr::eval
