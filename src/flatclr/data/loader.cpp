#include "flatclr/data/loader.h"

#include <torch/torch.h>

#include <cstring>

#include "flatclr/core/error.h"
#include "flatclr/data/augment_image.h"

namespace flatclr::data {

MemoryImageSource::MemoryImageSource(const at::Tensor& images) {
  FLATCLR_CHECK(images.dim() == 4 && images.size(1) == 3 && images.scalar_type() == at::kByte,
                "MemoryImageSource: images must be [N, 3, H, W] uint8, got ", images.sizes());
  hwc_ = images.to(at::kCPU).permute({0, 2, 3, 1}).contiguous();
  n_ = hwc_.size(0);
  h_ = hwc_.size(1);
  w_ = hwc_.size(2);
}

void MemoryImageSource::get(int64_t i, DecodedImage& out) const {
  FLATCLR_CHECK(i >= 0 && i < n_, "image index ", i, " outside [0, ", n_, ")");
  out.height = h_;
  out.width = w_;
  const size_t bytes = static_cast<size_t>(h_ * w_ * 3);
  out.pixels.resize(bytes);
  std::memcpy(out.pixels.data(), hwc_.data_ptr<uint8_t>() + i * static_cast<int64_t>(bytes), bytes);
}

FolderImageSource::FolderImageSource(ImageFolderIndex index, std::shared_ptr<BadImages> bad)
    : index_(std::move(index)), bad_(std::move(bad)) {
  FLATCLR_CHECK(index_.size() > 0 && bad_, "FolderImageSource: empty index or no BadImages");
}

void FolderImageSource::get(int64_t i, DecodedImage& out) const {
  const int64_t n = index_.size();
  FLATCLR_CHECK(i >= 0 && i < n, "image index ", i, " outside [0, ", n, ")");
  for (int64_t k = 0; k < n; ++k) {
    const int64_t j = (i + k) % n;
    if (bad_->is_bad(j)) continue;
    try {
      out = decode_image_file(index_.paths[j]);
      return;
    } catch (const UserError& e) {
      bad_->mark(j);
      bad_->report(index_.paths[j], e.what());  // throws under the stop policy
    }
  }
  fail(index_.dir, ": none of the ", n, " image files could be decoded");
}

namespace {

// Both views of one image into rows r (view 0) and B + r (view 1) of batch [2B, 3, S, S].
void make_item(const ImageSource& source, int64_t index, int64_t r, int64_t batch, float* out,
               const AugmentConfig& config, uint64_t seed, int64_t epoch) {
  thread_local DecodedImage img;
  source.get(index, img);
  const ImageView view{img.pixels.data(), img.height, img.width};
  const int64_t per_view = 3 * config.size * config.size;
  for (int v = 0; v < 2; ++v) {
    const auto d = draw_view(config, img.height, img.width, seed, epoch, v, index);
    augment_view(view, d, config, out + (v * batch + r) * per_view);
  }
}

}  // namespace

at::Tensor ViewLoader::make_batch(const ImageSource& source, const std::vector<int64_t>& indices,
                                  const AugmentConfig& config, uint64_t seed, int64_t epoch) {
  config.validate();
  const auto b = static_cast<int64_t>(indices.size());
  auto out = torch::empty({2 * b, 3, config.size, config.size}, torch::kFloat);
  for (int64_t r = 0; r < b; ++r)
    make_item(source, indices[r], r, b, out.data_ptr<float>(), config, seed, epoch);
  return out;
}

ViewLoader::ViewLoader(std::shared_ptr<const ImageSource> source, LoaderOptions options)
    : source_(std::move(source)), o_(std::move(options)) {
  FLATCLR_CHECK(source_ && source_->size() > 0, "ViewLoader: no images");
  FLATCLR_CHECK(o_.workers >= 0 && o_.prefetch >= 1, "ViewLoader: workers ", o_.workers, ", prefetch ",
                o_.prefetch);
  o_.augment.validate();
  const int64_t s = o_.augment.size;
  const bool pin = o_.pin_memory;
  auto allocate = [s, pin](int64_t rows) {
    return torch::empty({2 * rows, 3, s, s}, torch::TensorOptions().dtype(torch::kFloat).pinned_memory(pin));
  };
  auto make = [this](int64_t index, int64_t row, int64_t rows, const at::Tensor& batch) {
    make_item(*source_, index, row, rows, batch.data_ptr<float>(), o_.augment, o_.seed, epoch_.load());
    return true;
  };
  prefetcher_ = std::make_unique<Prefetcher>(o_.workers, o_.prefetch, allocate, make);
}

void ViewLoader::start_epoch(int64_t epoch, std::vector<int64_t> order, int64_t batch_size) {
  FLATCLR_CHECK(batch_size > 0, "ViewLoader: batch size ", batch_size);
  for (int64_t i : order)
    FLATCLR_CHECK(i >= 0 && i < source_->size(), "ViewLoader: index ", i, " outside the dataset");
  prefetcher_->stop_epoch();  // the previous epoch's items are made with its own epoch number
  epoch_ = epoch;
  prefetcher_->start(std::move(order), batch_size, /*drop_last=*/true);
}

at::Tensor ViewLoader::next() { return prefetcher_->next().data; }

}  // namespace flatclr::data
