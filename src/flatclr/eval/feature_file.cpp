#include "flatclr/eval/feature_file.h"

#include <torch/torch.h>

#include <filesystem>
#include <limits>

#include "flatclr/core/error.h"
#include "flatclr/eval/features.h"
#include "flatclr/io/npy.h"
#include "flatclr/io/npy_map.h"

namespace flatclr::eval {

at::ScalarType scalar_type_of(FeatureDtype dtype) {
  return dtype == FeatureDtype::kFloat16 ? at::kHalf : at::kFloat;
}

FeatureFile::FeatureFile(std::string path, at::Tensor features, at::Tensor labels)
    : path_(std::move(path)), features_(std::move(features)), labels_(std::move(labels)) {}

FeatureFile::~FeatureFile() {
  features_ = at::Tensor();  // unmaps, unless a copy of the tensor lives on
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

std::unique_ptr<FeatureFile> write_feature_file(models::ResNet& model,
                                                std::shared_ptr<const data::LabelledSplit> split,
                                                const std::string& path, const c10::Device& device,
                                                const FeatureFileOptions& o) {
  const at::ScalarType dtype = scalar_type_of(o.dtype);
  const double limit = o.dtype == FeatureDtype::kFloat16 ? 65504.0 : std::numeric_limits<float>::max();
  io::NpyWriter writer(path, dtype, {model->feature_dim()});
  std::vector<at::Tensor> labels;
  for_each_feature_batch(model, split, o.batch_size, device, o.loader, o.progress, o.label,
                         [&](const at::Tensor& h, const data::SplitBatch& batch) {
                           const double peak = h.abs().max().item<double>();
                           if (!(peak <= limit)) {
                             fail("a feature of ", split->name(), " is ", peak, ", beyond ",
                                  c10::toString(dtype), "'s range: use ", Field{"feature_dtype"}, "=float32");
                           }
                           writer.append(h);
                           labels.push_back(batch.labels);
                         });
  if (writer.rows() == 0) fail(split->name(), ": no image of the split could be decoded");
  writer.finish();
  return std::make_unique<FeatureFile>(path, io::map_npy(path), torch::cat(labels));
}

}  // namespace flatclr::eval
