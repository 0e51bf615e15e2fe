#pragma once
// A Storage owns one flat buffer on one device. Tensors are views into a Storage
// (shape, strides, offset), so views share bytes without copying.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/device.h"

namespace glassbox {

class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  // Bumped by every in-place write, so autograd can tell if a saved tensor changed.
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  uint64_t version_ = 0;
};

}  // namespace glassbox
