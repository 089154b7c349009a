#include "flatclr/data/prefetcher.h"

#include <algorithm>
#include <chrono>

#include "flatclr/core/error.h"

namespace flatclr::data {

Prefetcher::Prefetcher(int workers, int prefetch, Allocate allocate, MakeItem make_item)
    : allocate_(std::move(allocate)),
      make_item_(std::move(make_item)),
      workers_(workers),
      prefetch_(prefetch) {
  FLATCLR_CHECK(workers_ >= 0 && prefetch_ >= 1, "Prefetcher: workers ", workers_, ", prefetch ", prefetch_);
  slots_.resize(static_cast<size_t>(prefetch_));
  for (int t = 0; t < workers_; ++t) threads_.emplace_back([this] { worker_loop(); });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

int64_t Prefetcher::rows_of(int64_t batch) const {
  return std::min(batch_size_, num_items_ - batch * batch_size_);
}

void Prefetcher::stop_epoch() {
  std::unique_lock<std::mutex> lock(mutex_);
  num_items_ = 0;  // hand out nothing more, then wait for the items being made
  num_batches_ = 0;
  ready_cv_.wait(lock, [&] { return in_flight_ == 0; });
}

void Prefetcher::start(std::vector<int64_t> order, int64_t batch_size, bool drop_last) {
  FLATCLR_CHECK(batch_size > 0, "Prefetcher: batch size ", batch_size);
  stop_epoch();
  std::unique_lock<std::mutex> lock(mutex_);
  order_ = std::move(order);
  batch_size_ = batch_size;
  const auto n = static_cast<int64_t>(order_.size());
  num_batches_ = drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
  num_items_ = drop_last ? num_batches_ * batch_size : n;
  next_task_ = 0;
  consumed_ = 0;
  for (auto& s : slots_) s = Slot{};
  lock.unlock();
  work_cv_.notify_all();
}

void Prefetcher::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_cv_.wait(lock, [&] {
      return stop_ || (next_task_ < num_items_ && next_task_ / batch_size_ < consumed_ + prefetch_);
    });
    if (stop_) return;
    const int64_t t = next_task_++;
    const int64_t b = t / batch_size_, r = t % batch_size_;
    Slot& slot = slots_[static_cast<size_t>(b % prefetch_)];
    const int64_t rows = rows_of(b);
    std::exception_ptr err;
    if (r == 0) {  // items are handed out in order: the batch's first item sets up its slot
      slot.batch_id = b;
      slot.remaining = rows;
      slot.batch.items.assign(order_.begin() + t, order_.begin() + t + rows);
      slot.batch.rows = rows;
      slot.batch.ok.assign(static_cast<size_t>(rows), 0);
      try {
        slot.batch.data = allocate_(rows);
      } catch (...) {
        err = std::current_exception();
      }
    }
    const at::Tensor data = slot.batch.data;
    const int64_t index = order_[static_cast<size_t>(t)];
    ++in_flight_;
    lock.unlock();
    bool ok = false;
    if (!err) {
      try {
        ok = make_item_(index, r, rows, data);
      } catch (...) {
        err = std::current_exception();
      }
    }
    lock.lock();
    --in_flight_;
    slot.batch.ok[static_cast<size_t>(r)] = ok ? 1 : 0;
    if (err && !slot.error) slot.error = err;
    if (--slot.remaining == 0 || in_flight_ == 0) ready_cv_.notify_all();
  }
}

PrefetchedBatch Prefetcher::next() {
  const auto start = std::chrono::steady_clock::now();
  auto waited = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  FLATCLR_CHECK(consumed_ < num_batches_, "Prefetcher::next: the epoch has only ", num_batches_, " batches");
  if (workers_ == 0) {
    PrefetchedBatch out;
    const int64_t first = consumed_ * batch_size_;
    out.rows = rows_of(consumed_);
    out.items.assign(order_.begin() + first, order_.begin() + first + out.rows);
    out.ok.assign(static_cast<size_t>(out.rows), 0);
    out.data = allocate_(out.rows);
    for (int64_t r = 0; r < out.rows; ++r)
      out.ok[static_cast<size_t>(r)] = make_item_(out.items[static_cast<size_t>(r)], r, out.rows, out.data);
    ++consumed_;
    wait_seconds_ += waited();
    return out;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  Slot& slot = slots_[static_cast<size_t>(consumed_ % prefetch_)];
  ready_cv_.wait(lock, [&] { return slot.batch_id == consumed_ && slot.remaining == 0; });
  if (slot.error) {  // the batch's items are all done (every item counts down, failed or not)
    auto e = slot.error;
    lock.unlock();
    std::rethrow_exception(e);
  }
  PrefetchedBatch out = std::move(slot.batch);
  slot = Slot{};
  ++consumed_;
  lock.unlock();
  work_cv_.notify_all();
  wait_seconds_ += waited();
  return out;
}

}  // namespace flatclr::data
