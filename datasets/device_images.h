#pragma once
// An image data set kept on a device: the images travel once, as the bytes of the file, and
// each batch is gathered and normalised there, so a training step on a GPU does no per-batch
// work on the host beyond sending the batch's example indices (8 bytes each).
//
// The DataLoader still decides the order: train over index_dataset(), whose batches carry the
// example indices instead of pixels, then turn each into pixels with batch(). Shuffling and
// batching are the loader's, so a GPU run sees the same batches in the same order as the CPU
// run with the same seed. Normalisation is the source's own table (byte -> float, built on
// the host with the CPU's arithmetic) applied by a gather on the device, so device batches
// equal the CPU's bit for bit.
#include <memory>

#include "datasets/mnist.h"

namespace glassbox::datasets {

class DeviceImages {
 public:
  // Uploads source's images (uint8 [N, H, W]), targets (int64 [N]) and byte table to device.
  DeviceImages(const MNIST& source, Device device);

  int64_t size() const { return images_.size(0); }
  Device device() const { return images_.device(); }

  // indices int64 [B] (on the host or the device) -> data float32 [B, 1, H, W] and target
  // int64 [B], both on the device. An index out of range is an error naming it.
  Batch batch(const Tensor& indices) const;

  // A Dataset of the same size whose batches are {indices int64 [B], the same indices}: what
  // the DataLoader shuffles and splits in place of the pixels.
  std::shared_ptr<const Dataset> index_dataset() const;

 private:
  Tensor images_;   // uint8 [N, H, W] on the device
  Tensor targets_;  // int64 [N] on the device
  Tensor table_;    // float32 [256] on the device: byte -> normalised value
};

}  // namespace glassbox::datasets
