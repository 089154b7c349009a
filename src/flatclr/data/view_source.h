// Where the training loop gets each batch of two views, whichever augmentation pipeline makes them:
//   BatchedViewSource   the batched augmentation (faster_version on) of uint8 images held on the training
//                       device (data/augment_batch.h), made when asked, in the training thread;
//   LoaderViewSource    the per-image SimCLR pipeline on worker threads with prefetch (data/loader.h), copied
//                       to the training device.
// Both give, for the epoch's order (this process's share of every global batch, batch after batch), one
// [2B, 3, S, S] float tensor per batch on the device: rows 0..B-1 the first views of the batch's images, rows
// B..2B-1 their second views. Every view is a pure function of (seed, epoch, view, image index).
#pragma once

#include <ATen/ATen.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "flatclr/data/augment_batch.h"
#include "flatclr/data/loader.h"

namespace flatclr::data {

class ViewSource {
 public:
  virtual ~ViewSource() = default;
  // order: the dataset indices of the epoch's batches, batch_size (this process's batch) after batch_size.
  virtual void start_epoch(int64_t epoch, const std::vector<int64_t>& order, int64_t batch_size) = 0;
  // The next batch's views, on the device.
  virtual at::Tensor next() = 0;
  // Seconds next() has waited for data since construction (0 when the views are made on demand).
  virtual double wait_seconds() const { return 0.0; }
};

class BatchedViewSource : public ViewSource {
 public:
  // images: [N, 3, H, W] uint8 on `device`, indexed by the dataset indices of the order.
  BatchedViewSource(at::Tensor images, AugmentConfig augment, uint64_t seed, c10::Device device);
  void start_epoch(int64_t epoch, const std::vector<int64_t>& order, int64_t batch_size) override;
  at::Tensor next() override;

 private:
  at::Tensor images_;
  AugmentConfig augment_;
  uint64_t seed_;
  c10::Device device_;
  int64_t epoch_ = 0, batch_size_ = 0, position_ = 0;
  std::vector<int64_t> order_;
};

class LoaderViewSource : public ViewSource {
 public:
  LoaderViewSource(std::shared_ptr<const ImageSource> images, LoaderOptions options, c10::Device device);
  void start_epoch(int64_t epoch, const std::vector<int64_t>& order, int64_t batch_size) override;
  at::Tensor next() override;
  double wait_seconds() const override { return loader_.wait_seconds(); }

 private:
  ViewLoader loader_;
  c10::Device device_;
};

}  // namespace flatclr::data
