#pragma once
// TensorDataset, Subset and random_split, as in torch.utils.data.
//
//   auto all = std::make_shared<datasets::TensorDataset>(x, y);   // x [N,...], y [N,...]
//   auto parts = datasets::random_split(all, {0.8, 0.2}, /*seed=*/0);  // or {800, 200}
//   datasets::DataLoader train(parts[0], datasets::DataLoaderOptions().batch_size(64));
//
// Every data set here is shared, never copied: a Subset holds its parent through a
// shared_ptr, so the parts of a split keep the data alive as long as a DataLoader uses them.
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/tensor.h"
#include "datasets/dataset.h"

namespace glassbox::datasets {

// Examples are the rows (dim 0) of `data`, and of `targets` when it is defined (a data set
// without targets gives batches whose target is undefined). Both must be CPU tensors with the
// same size(0); any dtype. They are made contiguous (a copy if they are not) and detached.
class TensorDataset : public Dataset {
 public:
  explicit TensorDataset(Tensor data, Tensor targets = Tensor());
  int64_t size() const override { return data_.size(0); }
  // Rows `indices` of data and targets, stacked in that order (memcpy: no OpenMP, so the
  // DataLoader's thread may call it).
  Batch get_batch(const std::vector<int64_t>& indices) const override;
  const Tensor& data() const { return data_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor data_, targets_;
};

// The examples of `dataset` at `indices` (each in [0, dataset->size()); repeats allowed, as in
// PyTorch), in that order. Example i of the Subset is example indices[i] of the parent.
class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> dataset, std::vector<int64_t> indices);
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  Batch get_batch(const std::vector<int64_t>& indices) const override;
  Batch get_batch_for_epoch(const std::vector<int64_t>& indices, int64_t epoch) const override;
  const Dataset& dataset() const { return *dataset_; }
  const std::shared_ptr<const Dataset>& dataset_ptr() const { return dataset_; }
  const std::vector<int64_t>& indices() const { return indices_; }

 private:
  std::vector<int64_t> parent_indices(const std::vector<int64_t>& indices) const;
  std::shared_ptr<const Dataset> dataset_;
  std::vector<int64_t> indices_;
};

// Splits `dataset` into disjoint random Subsets, torch.utils.data.random_split's rules
// (PyTorch 1.13): `lengths` are either whole numbers summing to dataset->size(), or fractions
// summing to 1 (each in [0,1]); then part i gets floor(n * fraction_i) examples and the
// remainder is handed out one each, round-robin from part 0. The permutation is glassbox's
// own (Fisher-Yates over a Philox Generator seeded with `seed`), so the parts are the same on
// every platform but not the ones PyTorch's randperm gives for the same seed. It never touches
// the default generator.
std::vector<std::shared_ptr<Subset>> random_split(std::shared_ptr<const Dataset> dataset,
                                                  const std::vector<double>& lengths,
                                                  uint64_t seed = 0);
// The same for lengths held as integers (a std::vector<int64_t>, say); a braced list such as
// {800, 200} picks the overload above, with the same result.
template <class Int, std::enable_if_t<std::is_integral_v<Int>, int> = 0>
std::vector<std::shared_ptr<Subset>> random_split(std::shared_ptr<const Dataset> dataset,
                                                  const std::vector<Int>& lengths,
                                                  uint64_t seed = 0) {
  return random_split(std::move(dataset), std::vector<double>(lengths.begin(), lengths.end()),
                      seed);
}

// The part sizes random_split gives a data set of n examples (exposed for tests and for
// reporting a split before making it).
std::vector<int64_t> split_lengths(int64_t n, const std::vector<double>& lengths);

}  // namespace glassbox::datasets
