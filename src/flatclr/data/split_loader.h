// The batches of a labelled split (data/labelled_split.h) in a given order: an ordered pass (feature
// extraction, the test split, `flatclr embed`) or an epoch's shuffled order (finetuning), every entry once,
// the last batch short (drop_last = false). A streamed split's files are decoded and prepared on `workers`
// threads, `prefetch` batches ahead of the consumer (data/prefetcher.h), so memory holds a few batches
// whatever the split's size; an in-memory split's batches are slices of its images.
// Rows whose file cannot be decoded are left out of their batch (a batch may be short, even empty);
// `indices` says which entries of the split the rows are.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "flatclr/data/labelled_split.h"
#include "flatclr/data/prefetcher.h"

namespace flatclr::data {

struct SplitBatch {
  at::Tensor images;             // [b, 3, H, W] uint8, CPU (pinned with pin_memory)
  at::Tensor labels;             // [b] int64, CPU
  std::vector<int64_t> indices;  // [b] the split's indices of the rows
};

struct SplitLoaderOptions {
  int workers = 1;          // decoding threads of a streamed split; 0 = in the calling thread
  int prefetch = 3;         // batches made ahead (>= 1)
  bool pin_memory = false;  // pinned host batches (for a CUDA device)
};

class SplitLoader {
 public:
  SplitLoader(std::shared_ptr<const LabelledSplit> split, SplitLoaderOptions options);

  // Starts a pass over `order` (indices into the split) in batches of batch_size.
  void start(std::vector<int64_t> order, int64_t batch_size);
  // Starts a pass over the whole split in its own order.
  void start_in_order(int64_t batch_size);
  int64_t batches() const { return num_batches_; }
  // The next batch into `out`; false when the pass is over. Rethrows a decoding thread's error.
  bool next(SplitBatch& out);
  const LabelledSplit& split() const { return *split_; }

 private:
  std::shared_ptr<const LabelledSplit> split_;
  SplitLoaderOptions o_;
  std::unique_ptr<Prefetcher> prefetcher_;  // streamed splits
  std::vector<int64_t> order_;              // in-memory splits
  int64_t batch_size_ = 0, num_batches_ = 0, done_ = 0;
};

}  // namespace flatclr::data
