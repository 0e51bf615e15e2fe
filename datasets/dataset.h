// A data set, as the DataLoader sees it: a size and a way to assemble a batch of examples.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace glassbox::datasets {

// One batch: inputs stacked along dim 0 and their targets.
struct Batch {
  Tensor data;
  Tensor target;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Assembles the examples at `indices` (each in [0, size())) into one batch. The DataLoader
  // calls this on its background thread, so it must only read the data set and must not use
  // the default generator or OpenMP (the training thread owns those).
  virtual Batch get_batch(const std::vector<int64_t>& indices) const = 0;
  // What the DataLoader calls: the same batch, told which epoch it is for. Only data sets with
  // per-epoch randomness (datasets::transformed's random transforms) use the epoch; wrappers
  // (Subset) pass it on. A plain get_batch call is epoch 0.
  virtual Batch get_batch_for_epoch(const std::vector<int64_t>& indices, int64_t epoch) const {
    (void)epoch;
    return get_batch(indices);
  }
};

}  // namespace glassbox::datasets
