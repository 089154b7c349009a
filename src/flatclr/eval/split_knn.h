// kNN classification of a labelled split against another, streamed or in memory (data/labelled_split.h): the
// training split's features go, batch by batch as they are computed, into one normalised [N, D] float32 bank
// on the device (eval/knn.h's KnnBank); the test split's features are then scored batch by batch as they
// come, never held together. Memory: the bank, one chunk of similarities and the loader's few batches,
// whatever the test split's size. Used by the evaluation of streamed folders and by the online kNN monitor.
#pragma once

#include <memory>

#include "flatclr/core/progress.h"
#include "flatclr/data/labelled_split.h"
#include "flatclr/data/split_loader.h"
#include "flatclr/eval/accuracy.h"
#include "flatclr/models/resnet.h"

namespace flatclr::eval {

struct SplitKnnOptions {
  int64_t k = 200;
  double temperature = 0.1;
  int64_t batch_size = 512;  // images per forward pass
  data::SplitLoaderOptions loader;
  core::ProgressMode progress = core::ProgressMode::kNone;
};

struct SplitKnnResult {
  TopKCounts counts;      // of the test images scored
  int64_t bank_rows = 0;  // training images in the bank (bad files left out)
};

// Leaves the model in eval mode. UserError when no training image can be decoded.
SplitKnnResult split_knn(models::ResNet& model, const std::shared_ptr<const data::LabelledSplit>& train,
                         const std::shared_ptr<const data::LabelledSplit>& test, const c10::Device& device,
                         const SplitKnnOptions& options);

}  // namespace flatclr::eval
