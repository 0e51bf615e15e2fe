// Batches from a Dataset, like torch.utils.data.DataLoader: batch size, a seeded shuffle that
// gives a new order every epoch, drop_last, and range-for iteration. Batches are assembled on a
// background thread, `prefetch` batches ahead, so the training loop does not wait for data.
//
//   datasets::DataLoader loader(train, datasets::DataLoaderOptions().batch_size(1000)
//                                          .shuffle(true).seed(0));
//   for (int epoch = 0; epoch < 5; ++epoch)
//     for (datasets::Batch& batch : loader) { ... batch.data, batch.target ... }
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "datasets/dataset.h"

namespace glassbox::datasets {

class DataLoaderOptions {
 public:
  DataLoaderOptions& batch_size(int64_t n) {
    batch_size_ = n;
    return *this;
  }
  DataLoaderOptions& shuffle(bool s) {
    shuffle_ = s;
    return *this;
  }
  DataLoaderOptions& seed(uint64_t s) {
    seed_ = s;
    return *this;
  }
  DataLoaderOptions& drop_last(bool d) {
    drop_last_ = d;
    return *this;
  }
  // Batches assembled ahead on the background thread; 0 assembles each batch on the calling
  // thread when it is asked for (no thread).
  DataLoaderOptions& prefetch(int64_t n) {
    prefetch_ = n;
    return *this;
  }

  int64_t batch_size() const { return batch_size_; }
  bool shuffle() const { return shuffle_; }
  uint64_t seed() const { return seed_; }
  bool drop_last() const { return drop_last_; }
  int64_t prefetch() const { return prefetch_; }

 private:
  int64_t batch_size_ = 1;
  bool shuffle_ = false;
  uint64_t seed_ = 0;
  bool drop_last_ = false;
  int64_t prefetch_ = 2;
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t size() const;  // batches per epoch
  const DataLoaderOptions& options() const { return options_; }
  const Dataset& dataset() const { return *dataset_; }

  // Each begin() starts the next epoch (0, 1, 2, ...); set_epoch chooses the one the next
  // begin() starts, e.g. when resuming. The order of epoch e depends only on (seed, e).
  int64_t next_epoch() const { return next_epoch_; }
  void set_epoch(int64_t epoch);
  std::vector<int64_t> order(int64_t epoch) const;  // the example order of that epoch

  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = Batch*;
    using reference = Batch&;

    Batch& operator*() { return current_; }
    Batch* operator->() { return &current_; }
    Iterator& operator++();
    bool operator==(const Iterator& other) const { return done() == other.done(); }
    bool operator!=(const Iterator& other) const { return !(*this == other); }

   private:
    friend class DataLoader;
    Iterator(DataLoader* loader, uint64_t run) : loader_(loader), run_(run) {}
    bool done() const { return loader_ == nullptr; }
    DataLoader* loader_;
    uint64_t run_;
    Batch current_;
  };

  Iterator begin();  // starts an epoch (stopping one still in progress)
  Iterator end() { return Iterator(nullptr, 0); }

 private:
  std::vector<int64_t> batch_indices(int64_t batch) const;
  bool next(uint64_t run, Batch& out);  // false at the end of the epoch
  void worker();                        // the background thread: assembles batches in order
  void stop();

  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  int64_t next_epoch_ = 0;

  // The epoch being iterated.
  uint64_t run_ = 0;  // increments with each begin(): a stale iterator is detected
  std::vector<int64_t> order_;
  int64_t epoch_ = 0;     // passed to get_batch_for_epoch (random transforms draw from it)
  int64_t consumed_ = 0;  // batches handed out this epoch

  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  std::exception_ptr error_;
  bool stopping_ = false;
};

}  // namespace glassbox::datasets
