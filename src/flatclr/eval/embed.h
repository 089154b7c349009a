// `flatclr embed`: a pretrained encoder's features for every image of a dataset split, for use elsewhere
// (numpy, scikit-learn, a vector index). Writes, next to the prefix given:
//   <prefix>_features.npy     float32 [N, feature_dim], the pooled backbone output h (what the linear probe
//                             and kNN use), encoder in eval mode, no augmentation
//   <prefix>_projections.npy  float32 [N, proj_dim], the projection z (optional)
//   <prefix>_labels.npy       int64 [N], the class index (class order: the dataset's, sorted folder names for
//                             image folders)
// Rows follow the split's order (images that fail to decode are left out, and counted). The pass is batched
// and streamed: CIFAR and small folders are read into memory, ImageNet-sized folders batch by batch, decoded
// on the loader's threads a few batches ahead (data/split_loader.h), and the features go to disk as they are
// computed. Each file appears atomically
// when the pass ends; an interrupted pass leaves none. An evenly spaced sample of the rows is kept for a
// picture (report/pca_plot.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flatclr/core/choice.h"
#include "flatclr/core/run_settings.h"
#include "flatclr/data/data_config.h"

namespace flatclr::eval {

enum class Split { kTrain, kTest };
inline constexpr core::Choice<Split> kSplits[] = {{Split::kTrain, "train"}, {Split::kTest, "test"}};
constexpr const auto& choices_of(Split) { return kSplits; }

struct EmbedConfig {
  EmbedConfig() { data.dataset_name.clear(); }

  std::string checkpoint_dir;
  int64_t transfer_from_epoch = -1;  // -1: the newest checkpoint
  data::DataConfig data;             // dataset_name "" = the one the encoder was pretrained on
  Split split = Split::kTest;
  std::string output;  // file prefix
  bool projection = false;
  int64_t batch_size = 512;
  int64_t sample_rows = 5000;  // rows kept for the picture (evenly spaced)
  core::RunSettings run;

  void validate() const;  // UsageError naming the field
};

struct EmbedResult {
  std::string checkpoint, dataset;
  int64_t rows = 0, feature_dim = 0, bad_images = 0;
  std::vector<std::string> files;  // written, in order: features, [projections], labels
  at::Tensor sample_features;      // [S, feature_dim] float32, CPU
  at::Tensor sample_labels;        // [S] int64
  std::vector<std::string> class_names;
  double seconds = 0;
};

EmbedResult embed(const EmbedConfig& config);

}  // namespace flatclr::eval
