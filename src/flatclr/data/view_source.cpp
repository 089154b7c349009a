#include "flatclr/data/view_source.h"

#include <torch/torch.h>

#include "flatclr/core/error.h"

namespace flatclr::data {

BatchedViewSource::BatchedViewSource(at::Tensor images, AugmentConfig augment, uint64_t seed,
                                     c10::Device device)
    : images_(std::move(images)), augment_(augment), seed_(seed), device_(device) {}

void BatchedViewSource::start_epoch(int64_t epoch, const std::vector<int64_t>& order, int64_t batch_size) {
  FLATCLR_CHECK(batch_size > 0 && order.size() % static_cast<size_t>(batch_size) == 0, "order of ",
                order.size(), " for batches of ", batch_size);
  epoch_ = epoch;
  order_ = order;
  batch_size_ = batch_size;
  position_ = 0;
}

at::Tensor BatchedViewSource::next() {
  FLATCLR_CHECK(position_ + batch_size_ <= static_cast<int64_t>(order_.size()), "no batch left in the epoch");
  std::vector<int64_t> batch(order_.begin() + position_, order_.begin() + position_ + batch_size_);
  position_ += batch_size_;
  auto idx = torch::from_blob(batch.data(), {batch_size_}, torch::TensorOptions().dtype(torch::kLong));
  // To a GPU through pinned memory, asynchronously: a copy from pageable memory would wait for the GPU to
  // finish the previous step first (the caching host allocator keeps the pinned copy until the transfer
  // ends).
  idx = device_.is_cuda() ? idx.pin_memory().to(device_, at::kLong, /*non_blocking=*/true) : idx.to(device_);
  return make_two_views(images_.index_select(0, idx), batch, augment_, seed_, epoch_);
}

LoaderViewSource::LoaderViewSource(std::shared_ptr<const ImageSource> images, LoaderOptions options,
                                   c10::Device device)
    : loader_(std::move(images), options), device_(device) {}

void LoaderViewSource::start_epoch(int64_t epoch, const std::vector<int64_t>& order, int64_t batch_size) {
  loader_.start_epoch(epoch, order, batch_size);
}

at::Tensor LoaderViewSource::next() { return loader_.next().to(device_, /*non_blocking=*/true); }

}  // namespace flatclr::data
