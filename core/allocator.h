#pragma once
// Every tensor byte goes through here, so live and peak bytes per device are always known.
// Tests use the counters to prove that the tape frees what it saved.
#include <cstddef>
#include <cstdint>

#include "core/device.h"

namespace glassbox {

struct MemoryStats {
  int64_t live_bytes = 0;   // bytes held by storages right now
  int64_t peak_bytes = 0;   // highest live_bytes since the last reset_peak_memory
  int64_t allocations = 0;  // number of allocations ever made
};

MemoryStats memory_stats(Device device = kCPU);
void reset_peak_memory(Device device = kCPU);

namespace detail {
void* allocate(size_t bytes, Device device);
void deallocate(void* ptr, size_t bytes, Device device);
}  // namespace detail

}  // namespace glassbox
