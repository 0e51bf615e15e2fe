#pragma once
// Every tensor byte goes through here, so live and peak bytes per device are always known.
// Tests use the counters to prove that the tape frees what it saved, and that a training
// step, once warm, takes no new memory from the system.
//
// CPU memory is cached: a freed block is kept, by size, and handed to the next request of the
// same size instead of going back to the system. A training loop asks for the same sizes
// every step, so from the second step on it runs on recycled blocks: no page faults on fresh
// pages, no malloc/free of megabyte buffers (each of which glibc maps and unmaps). The cache
// holds at most cache_limit bytes (default 1 GiB); empty_cache() returns it all.
//
// GPU memory is cached the same way, per device, in size classes and without a limit (as
// PyTorch's caching allocator): a warm training step makes no cudaMalloc. When the device is
// out of memory the cache is emptied and the allocation retried once; then the error says
// how much was asked for and how much the device has free.
#include <cstddef>
#include <cstdint>

#include "core/device.h"

namespace glassbox {

struct MemoryStats {
  int64_t live_bytes = 0;          // bytes held by storages (and kernel scratch) right now
  int64_t peak_bytes = 0;          // highest live_bytes since the last reset_peak_memory
  int64_t allocations = 0;         // number of allocations ever made (cached or not)
  int64_t system_allocations = 0;  // of those, how many took new memory from the system
  int64_t cached_bytes = 0;        // freed blocks kept for reuse
};

MemoryStats memory_stats(Device device = kCPU);
void reset_peak_memory(Device device = kCPU);

// Returns every cached block (CPU and every GPU) to the system / the device.
void empty_cache();
void empty_cache(Device device);  // one device's cache
// The most bytes the CPU cache keeps; a block freed beyond it goes back to the system.
// 0 turns caching off. Lowering it below what is cached empties the cache.
void set_cache_limit(int64_t bytes);
int64_t cache_limit();

namespace detail {
void* allocate(size_t bytes, Device device);
void deallocate(void* ptr, size_t bytes, Device device);

// A std allocator over the CPU cache, for kernel scratch buffers: counted in live_bytes like
// tensors, and recycled like them.
template <class T>
struct ScratchAllocator {
  using value_type = T;
  ScratchAllocator() = default;
  template <class U>
  ScratchAllocator(const ScratchAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(detail::allocate(n * sizeof(T), kCPU)); }
  void deallocate(T* p, size_t n) { detail::deallocate(p, n * sizeof(T), kCPU); }
  template <class U>
  bool operator==(const ScratchAllocator<U>&) const {
    return true;
  }
  template <class U>
  bool operator!=(const ScratchAllocator<U>&) const {
    return false;
  }
};
}  // namespace detail

}  // namespace glassbox
