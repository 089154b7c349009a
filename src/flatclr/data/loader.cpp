#include "flatclr/data/loader.h"

#include <torch/torch.h>

#include <chrono>
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
  slots_.resize(static_cast<size_t>(o_.prefetch));
  for (int t = 0; t < o_.workers; ++t) threads_.emplace_back([this] { worker_loop(); });
}

ViewLoader::~ViewLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ViewLoader::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  num_batches_ = 0;  // hand out nothing more
  ready_cv_.wait(lock, [&] { return in_flight_ == 0; });
}

void ViewLoader::start_epoch(int64_t epoch, std::vector<int64_t> order, int64_t batch_size) {
  FLATCLR_CHECK(batch_size > 0, "ViewLoader: batch size ", batch_size);
  for (int64_t i : order)
    FLATCLR_CHECK(i >= 0 && i < source_->size(), "ViewLoader: index ", i, " outside the dataset");
  drain();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    epoch_ = epoch;
    batch_size_ = batch_size;
    order_ = std::move(order);
    num_batches_ = static_cast<int64_t>(order_.size()) / batch_size;
    next_task_ = 0;
    consumed_ = 0;
    for (auto& s : slots_) s = Slot{};
  }
  work_cv_.notify_all();
}

void ViewLoader::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_cv_.wait(lock, [&] {
      return stop_ ||
             (next_task_ < num_batches_ * batch_size_ && next_task_ / batch_size_ < consumed_ + o_.prefetch);
    });
    if (stop_) return;
    const int64_t t = next_task_++;
    const int64_t b = t / batch_size_, r = t % batch_size_;
    Slot& slot = slots_[static_cast<size_t>(b % o_.prefetch)];
    if (r == 0) {  // tasks are handed out in order: the batch's first task sets up its slot
      const int64_t s = o_.augment.size;
      slot.batch = torch::empty({2 * batch_size_, 3, s, s},
                                torch::TensorOptions().dtype(torch::kFloat).pinned_memory(o_.pin_memory));
      slot.batch_id = b;
      slot.remaining = batch_size_;
    }
    float* out = slot.batch.data_ptr<float>();
    const int64_t index = order_[static_cast<size_t>(t)], epoch = epoch_, batch = batch_size_;
    ++in_flight_;
    lock.unlock();
    std::exception_ptr err;
    try {
      make_item(*source_, index, r, batch, out, o_.augment, o_.seed, epoch);
    } catch (...) {
      err = std::current_exception();
    }
    lock.lock();
    --in_flight_;
    if (err && !error_) error_ = err;
    if (--slot.remaining == 0 || err || in_flight_ == 0) ready_cv_.notify_all();
  }
}

at::Tensor ViewLoader::next() {
  const auto start = std::chrono::steady_clock::now();
  auto waited = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  if (o_.workers == 0) {
    FLATCLR_CHECK(consumed_ < num_batches_, "ViewLoader::next: the epoch has only ", num_batches_,
                  " batches");
    std::vector<int64_t> idx(order_.begin() + consumed_ * batch_size_,
                             order_.begin() + (consumed_ + 1) * batch_size_);
    ++consumed_;
    auto out = make_batch(*source_, idx, o_.augment, o_.seed, epoch_);
    wait_seconds_ += waited();
    return out;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  FLATCLR_CHECK(consumed_ < num_batches_, "ViewLoader::next: the epoch has only ", num_batches_, " batches");
  Slot& slot = slots_[static_cast<size_t>(consumed_ % o_.prefetch)];
  ready_cv_.wait(lock, [&] { return error_ || (slot.batch_id == consumed_ && slot.remaining == 0); });
  if (error_) {
    auto e = error_;
    lock.unlock();
    std::rethrow_exception(e);
  }
  at::Tensor out = std::move(slot.batch);
  slot = Slot{};
  ++consumed_;
  lock.unlock();
  work_cv_.notify_all();
  wait_seconds_ += waited();
  return out;
}

}  // namespace flatclr::data
