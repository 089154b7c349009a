// The fixed features of a streamed split on disk, for the linear probe of a split too large for memory
// (ImageNet-1k: 1.28 M x 2048 features are 10.5 GB in float32): one streamed pass through the frozen encoder
// (eval/features.h) writes them as a .npy array (numpy.load(path, mmap_mode="r") reads it), which is then
// memory-mapped (io/npy_map.h), so that the probe gathers its shuffled mini-batches from the page cache
// instead of from process memory.
//
// Precision: float16 by default, half the disk and page cache of float32 (5.2 GB for ImageNet-1k at
// 2048 dimensions). Its 11-bit significand rounds each feature with a relative error of at most 2^-11
// (4.9e-4), far below the noise of SGD on the probe: the probe trained on float16 features reaches the
// float32 features' accuracy within 0.5 points in tests/eval/test_feature_file.cpp. The pooled features
// h are averages of ReLU outputs (>= 0); a value beyond float16's range (65504) stops the pass with an error
// that names float32 as the remedy, rather than storing inf.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>

#include "flatclr/core/choice.h"
#include "flatclr/core/progress.h"
#include "flatclr/data/labelled_split.h"
#include "flatclr/data/split_loader.h"
#include "flatclr/models/resnet.h"

namespace flatclr::eval {

enum class FeatureDtype { kFloat16, kFloat32 };
inline constexpr core::Choice<FeatureDtype> kFeatureDtypes[] = {{FeatureDtype::kFloat16, "float16"},
                                                                {FeatureDtype::kFloat32, "float32"}};
constexpr const auto& choices_of(FeatureDtype) { return kFeatureDtypes; }

at::ScalarType scalar_type_of(FeatureDtype dtype);

// A written, memory-mapped feature file. The file is removed when the object goes (the pass is cheap to
// repeat; a run killed meanwhile leaves it, and the next evaluation of the same checkpoint overwrites it).
class FeatureFile {
 public:
  FeatureFile(std::string path, at::Tensor features, at::Tensor labels);
  ~FeatureFile();
  FeatureFile(const FeatureFile&) = delete;
  FeatureFile& operator=(const FeatureFile&) = delete;

  const std::string& path() const { return path_; }
  const at::Tensor& features() const { return features_; }  // [n, D] float16/32, CPU, memory-mapped
  const at::Tensor& labels() const { return labels_; }      // [n] int64, CPU, in memory
  int64_t rows() const { return features_.size(0); }

 private:
  std::string path_;
  at::Tensor features_, labels_;
};

struct FeatureFileOptions {
  FeatureDtype dtype = FeatureDtype::kFloat16;
  int64_t batch_size = 512;
  data::SplitLoaderOptions loader;
  core::ProgressMode progress = core::ProgressMode::kNone;
  std::string label;  // the progress line's name
};

// Streams `split` through `model` (eval mode, no gradients) into `path` (a .npy written atomically: nothing
// at `path` unless the pass completes) and maps it. The rows follow the split's order, bad files left out.
std::unique_ptr<FeatureFile> write_feature_file(models::ResNet& model,
                                                std::shared_ptr<const data::LabelledSplit> split,
                                                const std::string& path, const c10::Device& device,
                                                const FeatureFileOptions& options);

}  // namespace flatclr::eval
