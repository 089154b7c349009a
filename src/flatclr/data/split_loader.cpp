#include "flatclr/data/split_loader.h"

#include <torch/torch.h>

#include <numeric>

#include "flatclr/core/error.h"

namespace flatclr::data {

SplitLoader::SplitLoader(std::shared_ptr<const LabelledSplit> split, SplitLoaderOptions options)
    : split_(std::move(split)), o_(options) {
  FLATCLR_CHECK(split_ && o_.workers >= 0 && o_.prefetch >= 1, "SplitLoader: no split, or workers ",
                o_.workers, ", prefetch ", o_.prefetch);
  if (!split_->streamed()) return;
  const int64_t h = split_->height(), w = split_->width();
  const bool pin = o_.pin_memory;
  auto allocate = [h, w, pin](int64_t rows) {
    return torch::empty({rows, 3, h, w}, torch::TensorOptions().dtype(torch::kByte).pinned_memory(pin));
  };
  const LabelledSplit* s = split_.get();
  auto make = [s, h, w](int64_t index, int64_t row, int64_t, const at::Tensor& batch) {
    return s->read(index, batch.data_ptr<uint8_t>() + row * 3 * h * w);
  };
  prefetcher_ = std::make_unique<Prefetcher>(o_.workers, o_.prefetch, allocate, make);
}

void SplitLoader::start(std::vector<int64_t> order, int64_t batch_size) {
  FLATCLR_CHECK(batch_size > 0, "SplitLoader: batch size ", batch_size);
  for (int64_t i : order)
    FLATCLR_CHECK(i >= 0 && i < split_->size(), "SplitLoader: index ", i, " outside the split");
  batch_size_ = batch_size;
  num_batches_ = (static_cast<int64_t>(order.size()) + batch_size - 1) / batch_size;
  done_ = 0;
  if (prefetcher_) {
    prefetcher_->start(std::move(order), batch_size, /*drop_last=*/false);
  } else {
    order_ = std::move(order);
  }
}

void SplitLoader::start_in_order(int64_t batch_size) {
  std::vector<int64_t> order(static_cast<size_t>(split_->size()));
  std::iota(order.begin(), order.end(), int64_t{0});
  start(std::move(order), batch_size);
}

bool SplitLoader::next(SplitBatch& out) {
  if (done_ >= num_batches_) return false;
  ++done_;
  if (!prefetcher_) {
    const int64_t first = (done_ - 1) * batch_size_;
    const int64_t end = std::min<int64_t>(static_cast<int64_t>(order_.size()), first + batch_size_);
    out.indices.assign(order_.begin() + first, order_.begin() + end);
    bool contiguous = true;
    for (size_t r = 1; r < out.indices.size(); ++r) contiguous &= out.indices[r] == out.indices[r - 1] + 1;
    if (contiguous) {  // an ordered pass: slices, no copy
      out.images = split_->images().slice(0, out.indices.front(), out.indices.back() + 1);
      out.labels = split_->labels().slice(0, out.indices.front(), out.indices.back() + 1);
    } else {
      auto idx = torch::tensor(out.indices, torch::kLong);
      out.images = split_->images().index_select(0, idx);
      out.labels = split_->labels().index_select(0, idx);
    }
    return true;
  }
  PrefetchedBatch b = prefetcher_->next();
  std::vector<int64_t> keep;
  out.indices.clear();
  for (int64_t r = 0; r < b.rows; ++r) {
    if (!b.ok[static_cast<size_t>(r)]) continue;
    keep.push_back(r);
    out.indices.push_back(b.items[static_cast<size_t>(r)]);
  }
  out.images = static_cast<int64_t>(keep.size()) == b.rows
                   ? b.data
                   : b.data.index_select(0, torch::tensor(keep, torch::kLong));
  out.labels = split_->labels().index_select(0, torch::tensor(out.indices, torch::kLong));
  return true;
}

}  // namespace flatclr::data
