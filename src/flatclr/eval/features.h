// Frozen-encoder features for evaluation: the pooled backbone output h (as in the paper's code, the linear
// probe and kNN use h, not the projection z), computed in eval mode (BatchNorm running statistics) without
// gradients and without augmentation.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <string>

#include "flatclr/core/progress.h"
#include "flatclr/data/labelled_split.h"
#include "flatclr/data/split_loader.h"
#include "flatclr/models/resnet.h"

namespace flatclr::eval {

// images_u8: [N, 3, H, W] uint8 (any device) -> h: [N, feature_dim] float32 on `device`.
// Leaves the model in eval mode. `label` names the progress line ("" = silent).
at::Tensor extract_features(models::ResNet& model, const at::Tensor& images_u8, int64_t batch_size,
                            const c10::Device& device,
                            core::ProgressMode progress_mode = core::ProgressMode::kNone,
                            const std::string& label = "");

// The features of every image of a split, batch after batch in the split's order, without holding them:
// visit(h [b, feature_dim] float32 on `device`, the batch) for each batch of `batch_size` images (rows
// whose file cannot be decoded are left out, data/split_loader.h). A streamed split is decoded on
// loader.workers threads a few batches ahead; an in-memory split is sliced, the batches extract_features
// makes. Leaves the model in eval mode.
using FeatureVisitor = std::function<void(const at::Tensor& h, const data::SplitBatch& batch)>;
void for_each_feature_batch(models::ResNet& model, std::shared_ptr<const data::LabelledSplit> split,
                            int64_t batch_size, const c10::Device& device,
                            const data::SplitLoaderOptions& loader, core::ProgressMode progress_mode,
                            const std::string& label, const FeatureVisitor& visit);

// uint8 images -> float in [0, 1] on `device` (the encoder normalises inside), through pinned memory when the
// batch is pinned.
at::Tensor to_unit_float(const at::Tensor& images_u8, const c10::Device& device);

}  // namespace flatclr::eval
