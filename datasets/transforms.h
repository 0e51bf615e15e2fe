#pragma once
// Composable data transforms, like torchvision.transforms, run by the DataLoader's thread.
//
//   namespace T = datasets::transforms;
//   auto raw = std::make_shared<datasets::TensorDataset>(images_u8, labels);  // [N,1,28,28]
//   auto train = datasets::transformed(raw, T::Compose{T::ToFloat(), T::RandomCrop(28, 4),
//                                                      T::RandomHorizontalFlip(0.5),
//                                                      T::Normalize({0.1307}, {0.3081})},
//                                      /*seed=*/0);
//   datasets::DataLoader loader(train, datasets::DataLoaderOptions().batch_size(64));
//
// A transform sees one example at a time (no batch dim: [C,H,W] for an image) and returns the
// new example. Random ones draw from the Generator they are handed, which TransformedDataset
// makes for each example from (seed, epoch, example index) alone: the crops and flips of an
// epoch do not depend on the batch size, the shuffle, prefetching or thread timing, and the
// default generator is never touched. Each epoch draws anew (the DataLoader passes its epoch).
// Same rules as torchvision, not the same random numbers.
//
// Transforms touch only batch.data; targets pass through. They run on the loader's thread, so
// they loop over the bytes themselves: a custom transform (Lambda, or a subclass) must not call
// tensor ops that use OpenMP or the default generator.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/generator.h"
#include "core/tensor.h"
#include "datasets/dataset.h"

namespace glassbox::datasets {
namespace transforms {

class Transform {
 public:
  virtual ~Transform() = default;
  // x: one example, a contiguous CPU tensor. gen: this example's own generator.
  virtual Tensor operator()(const Tensor& x, Generator& gen) const = 0;
};

// uint8 -> float32 x / 255, in [0, 1] (ToTensor without the HWC -> CHW move); float32 passes
// through, float64 becomes float32. No normalisation: add Normalize for that.
class ToFloat : public Transform {
 public:
  Tensor operator()(const Tensor& x, Generator& gen) const override;
};

// (x[c] - mean[c]) / std[c] for each channel c of dim 0 (an example [C,...]); one value in
// mean / std applies to every channel. Needs float input (put ToFloat first).
class Normalize : public Transform {
 public:
  Normalize(std::vector<double> mean, std::vector<double> std);
  Tensor operator()(const Tensor& x, Generator& gen) const override;

 private:
  std::vector<double> mean_, std_;
};

// Pads the last two dims (H, W) by `padding` filled with `fill`, then cuts a size[0] x size[1]
// window at a uniformly random position (top first, then left, each uniform over the valid
// offsets). padding as torchvision: {p} all sides, {left/right, top/bottom}, or {left, top,
// right, bottom}. Any dtype.
class RandomCrop : public Transform {
 public:
  explicit RandomCrop(int64_t size, int64_t padding = 0);
  explicit RandomCrop(std::vector<int64_t> size, std::vector<int64_t> padding = {0},
                      double fill = 0.0);
  Tensor operator()(const Tensor& x, Generator& gen) const override;

 private:
  int64_t h_, w_;
  int64_t left_, top_, right_, bottom_;
  double fill_;
};

// Reverses the last dim (W) with probability p (one uniform draw per example, flip if u < p).
class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(double p = 0.5);
  Tensor operator()(const Tensor& x, Generator& gen) const override;

 private:
  double p_;
};

// A user function as a transform (see the thread rules at the top of this file).
class Lambda : public Transform {
 public:
  explicit Lambda(std::function<Tensor(const Tensor&, Generator&)> fn);
  Tensor operator()(const Tensor& x, Generator& gen) const override { return fn_(x, gen); }

 private:
  std::function<Tensor(const Tensor&, Generator&)> fn_;
};

// Applies its transforms in order, all drawing from the one example generator.
//   transforms::Compose{transforms::ToFloat(), transforms::Normalize({0.5}, {0.5})}
class Compose;
template <class... Ts>
constexpr bool kComposable = (std::is_base_of_v<Transform, std::decay_t<Ts>> && ...) &&
                             !(sizeof...(Ts) == 1 &&
                               (std::is_same_v<std::decay_t<Ts>, Compose> && ...));

class Compose : public Transform {
 public:
  explicit Compose(std::vector<std::shared_ptr<const Transform>> transforms);
  // Any transforms by value; one Compose argument is a copy, not a nesting.
  template <class... Ts, std::enable_if_t<kComposable<Ts...>, int> = 0>
  Compose(Ts&&... ts)  // NOLINT(google-explicit-constructor): Compose{A(), B()} reads best
      : Compose(std::vector<std::shared_ptr<const Transform>>{
            std::make_shared<std::decay_t<Ts>>(std::forward<Ts>(ts))...}) {}
  Tensor operator()(const Tensor& x, Generator& gen) const override;
  const std::vector<std::shared_ptr<const Transform>>& transforms() const { return transforms_; }

 private:
  std::vector<std::shared_ptr<const Transform>> transforms_;
};

}  // namespace transforms

// The generator TransformedDataset hands the transform for one example: a Philox stream
// whose seed mixes (seed, epoch, index) with splitmix64, so neighbouring examples and epochs
// get unrelated streams. Exposed so a test or a user can replay one example's draws.
Generator example_generator(uint64_t seed, int64_t epoch, int64_t index);

// `dataset` with `transform` applied to each example's data (targets unchanged). Every example
// of a batch must come out with the same shape and dtype (they are stacked again).
class TransformedDataset : public Dataset {
 public:
  TransformedDataset(std::shared_ptr<const Dataset> dataset,
                     std::shared_ptr<const transforms::Transform> transform, uint64_t seed = 0);
  int64_t size() const override { return dataset_->size(); }
  Batch get_batch(const std::vector<int64_t>& indices) const override;  // epoch 0
  Batch get_batch_for_epoch(const std::vector<int64_t>& indices, int64_t epoch) const override;
  const Dataset& dataset() const { return *dataset_; }
  uint64_t seed() const { return seed_; }

 private:
  std::shared_ptr<const Dataset> dataset_;
  std::shared_ptr<const transforms::Transform> transform_;
  uint64_t seed_;
};

std::shared_ptr<TransformedDataset> transformed(std::shared_ptr<const Dataset> dataset,
                                                std::shared_ptr<const transforms::Transform> t,
                                                uint64_t seed = 0);
template <class T, std::enable_if_t<std::is_base_of_v<transforms::Transform, T>, int> = 0>
std::shared_ptr<TransformedDataset> transformed(std::shared_ptr<const Dataset> dataset, T t,
                                                uint64_t seed = 0) {
  return transformed(std::move(dataset), std::make_shared<T>(std::move(t)), seed);
}

}  // namespace glassbox::datasets
