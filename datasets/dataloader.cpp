#include "datasets/dataloader.h"

#include <numeric>

#include "core/error.h"

namespace glassbox::datasets {
namespace {

// splitmix64: a tiny, fully specified generator, so an epoch's order is the same on every
// platform and standard library (std::shuffle's is not).
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform in [0, n) by Lemire's multiply-shift (the bias is below 2^-40 for n < 2^24).
uint64_t below(uint64_t& state, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(splitmix64(state)) * n) >> 64);
}

}  // namespace

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  GB_CHECK(dataset_ != nullptr, "DataLoader: the data set is null");
  GB_CHECK(options_.batch_size() > 0, "DataLoader: batch_size must be positive, got ",
           options_.batch_size());
  GB_CHECK(options_.prefetch() >= 0, "DataLoader: prefetch must be >= 0, got ",
           options_.prefetch());
}

DataLoader::~DataLoader() { stop(); }

int64_t DataLoader::size() const {
  const int64_t n = dataset_->size(), b = options_.batch_size();
  return options_.drop_last() ? n / b : (n + b - 1) / b;
}

void DataLoader::set_epoch(int64_t epoch) {
  GB_CHECK(epoch >= 0, "DataLoader::set_epoch: epoch must be >= 0, got ", epoch);
  next_epoch_ = epoch;
}

std::vector<int64_t> DataLoader::order(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<size_t>(dataset_->size()));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (!options_.shuffle()) return order;
  // Fisher-Yates from a state that mixes seed and epoch, so each epoch has its own order.
  uint64_t state = options_.seed() ^ (0x6a09e667f3bcc909ULL * static_cast<uint64_t>(epoch + 1));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[below(state, i)]);
  return order;
}

std::vector<int64_t> DataLoader::batch_indices(int64_t batch) const {
  const int64_t start = batch * options_.batch_size();
  const int64_t end = std::min<int64_t>(start + options_.batch_size(), order_.size());
  return std::vector<int64_t>(order_.begin() + start, order_.begin() + end);
}

DataLoader::Iterator DataLoader::begin() {
  stop();
  ++run_;
  epoch_ = next_epoch_++;
  order_ = order(epoch_);
  consumed_ = 0;
  error_ = nullptr;
  if (options_.prefetch() > 0 && size() > 0) {
    thread_ = std::thread([this] { worker(); });
  }
  Iterator it(this, run_);
  ++it;  // fetch the first batch
  return it;
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  GB_CHECK(loader_ != nullptr, "DataLoader: iterator incremented past the end");
  if (!loader_->next(run_, current_)) {
    loader_ = nullptr;
    current_ = Batch();
  }
  return *this;
}

bool DataLoader::next(uint64_t run, Batch& out) {
  GB_CHECK(run == run_,
           "DataLoader: this iterator belongs to an epoch that a later begin() replaced");
  if (options_.prefetch() == 0) {
    if (consumed_ >= size()) return false;
    out = dataset_->get_batch_for_epoch(batch_indices(consumed_++), epoch_);
    return true;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return !queue_.empty() || error_ || consumed_ >= size(); });
  if (!queue_.empty()) {
    out = std::move(queue_.front());
    queue_.pop_front();
    ++consumed_;
    cv_.notify_all();  // room for the worker
    return true;
  }
  if (error_) std::rethrow_exception(error_);  // the batch the worker could not assemble
  return false;
}

void DataLoader::worker() {
  for (int64_t b = 0; b < size(); ++b) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || int64_t(queue_.size()) < options_.prefetch(); });
      if (stopping_) return;
    }
    Batch batch;
    try {
      batch = dataset_->get_batch_for_epoch(batch_indices(b), epoch_);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::current_exception();
      cv_.notify_all();
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(batch));
    cv_.notify_all();
  }
}

void DataLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = false;
  queue_.clear();
}

}  // namespace glassbox::datasets
