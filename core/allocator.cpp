#include "core/allocator.h"

#include <atomic>
#include <cstdlib>
#include <new>

#include "core/error.h"
#include "cuda/runtime.h"

namespace glassbox {
namespace {

struct Counters {
  std::atomic<int64_t> live{0}, peak{0}, allocations{0};
};

Counters& counters(Device d) {
  static Counters cpu, cuda;
  return d.is_cpu() ? cpu : cuda;
}

void note_alloc(Counters& c, int64_t bytes) {
  int64_t now = c.live.fetch_add(bytes) + bytes;
  c.allocations.fetch_add(1);
  int64_t peak = c.peak.load();
  while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
  }
}

constexpr size_t kAlignment = 64;  // a cache line, and enough for any SIMD load

}  // namespace

MemoryStats memory_stats(Device device) {
  Counters& c = counters(device);
  return MemoryStats{c.live.load(), c.peak.load(), c.allocations.load()};
}

void reset_peak_memory(Device device) {
  Counters& c = counters(device);
  c.peak.store(c.live.load());
}

namespace detail {

void* allocate(size_t bytes, Device device) {
  void* p = nullptr;
  if (device.is_cpu()) {
    size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    p = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
    if (!p) throw Error(str("allocate: out of CPU memory allocating ", bytes, " bytes"));
  } else {
    p = cuda::device_malloc(bytes, device.index);
  }
  note_alloc(counters(device), static_cast<int64_t>(bytes));
  return p;
}

void deallocate(void* ptr, size_t bytes, Device device) {
  if (!ptr) return;
  if (device.is_cpu()) {
    std::free(ptr);
  } else {
    cuda::device_free(ptr, device.index);
  }
  counters(device).live.fetch_sub(static_cast<int64_t>(bytes));
}

}  // namespace detail
}  // namespace glassbox
