// The per-image SimCLR loader (faster_version off): decodes (image folders) or reads (in-memory uint8
// datasets) the images of each batch and augments two views of each on `workers` threads, a few batches
// ahead of the training step (prefetch), as PyTorch's DataLoader(num_workers, prefetch) does for the
// reference's per-image path. Output per batch: [2B, 3, S, S] float32 in [0, 1] on the host (rows
// 0..B-1 view 0 of the batch's images, rows B..2B-1 view 1 of the same images), the layout
// make_two_views returns; the model normalises inside.
//
// Determinism: the views of image i in epoch e are a pure function of (seed, e, view, i) (data::draw_view),
// and the batch order is given by the caller (train/pretrain.cpp's epoch_order, a function of (seed, e)),
// so the batches do not depend on the worker count, the prefetch depth or where a run was resumed.
// With workers = 0 the batch is made in the calling thread (the reference's num_workers = 0). The threads and
// the prefetch ring are data/prefetcher.h's.
#pragma once

#include <ATen/ATen.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flatclr/data/augment_batch.h"
#include "flatclr/data/dataset.h"
#include "flatclr/data/image_decode.h"
#include "flatclr/data/image_folder.h"
#include "flatclr/data/prefetcher.h"

namespace flatclr::data {

// Where a worker gets image i as 8-bit RGB HWC. Implementations must be thread-safe.
class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual int64_t size() const = 0;
  // Fills `out` with image i (or, for a bad file under the skip policy, a replacement: see below).
  virtual void get(int64_t i, DecodedImage& out) const = 0;
};

// Images already in memory (a CIFAR binary or a small image folder): [N, 3, H, W] uint8, kept as HWC.
class MemoryImageSource : public ImageSource {
 public:
  explicit MemoryImageSource(const at::Tensor& images_nchw_u8);
  int64_t size() const override { return n_; }
  void get(int64_t i, DecodedImage& out) const override;

 private:
  at::Tensor hwc_;  // [N, H, W, 3] uint8 contiguous
  int64_t n_ = 0, h_ = 0, w_ = 0;
};

// Files of an image folder, decoded on demand. A file that fails to decode is reported to `bad` (which
// throws under the stop policy); under skip, the next decodable file of the folder (i + 1, i + 2, ... mod N)
// stands in for it, so the batch stays full and deterministic.
class FolderImageSource : public ImageSource {
 public:
  FolderImageSource(ImageFolderIndex index, std::shared_ptr<BadImages> bad);
  int64_t size() const override { return index_.size(); }
  void get(int64_t i, DecodedImage& out) const override;
  const ImageFolderIndex& index() const { return index_; }

 private:
  ImageFolderIndex index_;
  std::shared_ptr<BadImages> bad_;
};

struct LoaderOptions {
  int workers = 4;          // decoding + augmentation threads; 0 = in the calling thread
  int prefetch = 3;         // batches made ahead of the one being consumed (>= 1)
  bool pin_memory = false;  // allocate the batches in pinned memory (for a CUDA device)
  AugmentConfig augment;    // per_image_config(...); its size is the output side S
  uint64_t seed = 0;
};

class ViewLoader {
 public:
  ViewLoader(std::shared_ptr<const ImageSource> source, LoaderOptions options);

  // Starts an epoch: batch b is order[b * batch_size, (b + 1) * batch_size), for b < order.size() /
  // batch_size (drop_last). Workers begin on the first batches at once.
  void start_epoch(int64_t epoch, std::vector<int64_t> order, int64_t batch_size);
  // The next batch of the epoch, [2B, 3, S, S] float32; blocks until it is ready. Rethrows a worker's error.
  at::Tensor next();
  int64_t batches_in_epoch() const { return prefetcher_->batches(); }
  // Seconds next() has spent waiting for data since construction (the training step's data wait).
  double wait_seconds() const { return prefetcher_->wait_seconds(); }

  // One batch made directly in the calling thread (no workers): the reference result for tests.
  static at::Tensor make_batch(const ImageSource& source, const std::vector<int64_t>& indices,
                               const AugmentConfig& config, uint64_t seed, int64_t epoch);

 private:
  std::shared_ptr<const ImageSource> source_;
  LoaderOptions o_;
  std::atomic<int64_t> epoch_{0};  // read by the workers while they make the epoch's items
  std::unique_ptr<Prefetcher> prefetcher_;
};

}  // namespace flatclr::data
