// Batches made on worker threads a few ahead of the consumer, as PyTorch's DataLoader(num_workers,
// prefetch_factor) makes them: the items of an epoch's order go to the workers one at a time and in order;
// batch b lives in slot b % prefetch of a ring, and the consumer takes the batches in order. What a batch
// holds and how one item is made belong to the caller: one function allocates a batch of n items, another
// makes item k into its row. The per-image pretraining loader (data/loader.h) and the streamed evaluation
// splits (data/split_loader.h) both run on it.
//
// Memory: at most `prefetch` batches exist besides the one the consumer holds, whatever the epoch's length.
// With workers = 0 each batch is made in the consumer's thread when it is asked for (num_workers = 0).
#pragma once

#include <ATen/ATen.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace flatclr::data {

struct PrefetchedBatch {
  at::Tensor data;             // what Allocate returned, filled
  std::vector<char> ok;        // per row: whether MakeItem succeeded (0: leave the row out)
  std::vector<int64_t> items;  // per row: the order's entry it was made from
  int64_t rows = 0;
};

class Prefetcher {
 public:
  // The tensor of a batch of `rows` items.
  using Allocate = std::function<at::Tensor(int64_t rows)>;
  // Makes item `index` (an entry of the order) into row `row` of `batch` (which has `rows` rows); false when
  // the item cannot be made (a bad file skipped); throwing stops the epoch and next() rethrows. Called from
  // several workers at once: must be thread-safe.
  using MakeItem = std::function<bool(int64_t index, int64_t row, int64_t rows, const at::Tensor& batch)>;

  Prefetcher(int workers, int prefetch, Allocate allocate, MakeItem make_item);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Starts an epoch over `order` in batches of batch_size: with drop_last the order.size() / batch_size full
  // batches, else also a short last one. Waits for the items of a previous epoch still being made.
  void start(std::vector<int64_t> order, int64_t batch_size, bool drop_last);
  // Ends the epoch early: hands out no more items and waits for those being made (after it, the workers
  // touch nothing of the caller's until the next start).
  void stop_epoch();
  int64_t batches() const { return num_batches_; }
  // The next batch of the epoch; blocks until it is ready; rethrows the first error of one of its items (the
  // batches before it come back whole). InternalError past the last batch.
  PrefetchedBatch next();
  // Seconds next() has waited since construction.
  double wait_seconds() const { return wait_seconds_; }

 private:
  void worker_loop();
  int64_t rows_of(int64_t batch) const;

  Allocate allocate_;
  MakeItem make_item_;
  int workers_, prefetch_;
  std::vector<std::thread> threads_;

  std::mutex mutex_;
  std::condition_variable work_cv_, ready_cv_;
  bool stop_ = false;
  std::vector<int64_t> order_;
  int64_t batch_size_ = 0, num_batches_ = 0, num_items_ = 0;
  int64_t next_task_ =
      0;                  // items handed out in this epoch (item t: batch t / batch_size, row t % batch_size)
  int64_t consumed_ = 0;  // batches returned by next()
  int64_t in_flight_ = 0;
  struct Slot {
    PrefetchedBatch batch;
    int64_t batch_id = -1;     // which batch of the epoch the slot holds
    int64_t remaining = 0;     // items still being made
    std::exception_ptr error;  // the first item's error: next() rethrows it when the batch's turn comes
  };
  std::vector<Slot> slots_;
  double wait_seconds_ = 0;
};

}  // namespace flatclr::data
