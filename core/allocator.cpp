#include "core/allocator.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "cuda/runtime.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
// A cached block is poisoned, so a use after free is still caught under AddressSanitizer.
#define GB_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define GB_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define GB_POISON(p, n) ((void)(p), (void)(n))
#define GB_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace glassbox {
namespace {

struct Counters {
  std::atomic<int64_t> live{0}, peak{0}, allocations{0}, system{0};
};

void note_alloc(Counters& c, int64_t bytes) {
  int64_t now = c.live.fetch_add(bytes) + bytes;
  c.allocations.fetch_add(1);
  int64_t peak = c.peak.load();
  while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
  }
}

constexpr size_t kAlignment = 64;  // a cache line, and enough for any SIMD load

size_t rounded(size_t bytes) {
  if (bytes > SIZE_MAX - kAlignment)
    throw Error(str("allocate: cannot allocate ", bytes, " bytes (size overflow)"));
  const size_t r = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  return r == 0 ? kAlignment : r;
}

// Freed blocks by rounded size, for one device. Leaked on purpose at exit (no destructor
// ordering issues with tensors that outlive main); LeakSanitizer still sees them as reachable.
// `poison` is off for real GPU memory, which is not the host's to poison.
class BlockCache {
 public:
  using Release = void (*)(void* p, size_t size, int index);
  BlockCache(Release release, int index, bool poison, int64_t limit)
      : release_(release), index_(index), poison_(poison), limit_(limit) {}
  void* take(size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(size);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= static_cast<int64_t>(size);
    if (poison_) GB_UNPOISON(p, size);
    return p;
  }
  // Keeps p unless that would pass the limit; returns whether it did.
  bool put(void* p, size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + static_cast<int64_t>(size) > limit_) return false;
    free_[size].push_back(p);
    cached_ += static_cast<int64_t>(size);
    if (poison_) GB_POISON(p, size);
    return true;
  }
  void set_limit(int64_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    limit_ = bytes;
    if (cached_ > limit_) release_locked();
  }
  int64_t limit() {
    std::lock_guard<std::mutex> lock(mutex_);
    return limit_;
  }
  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_locked();
  }
  int64_t cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

 private:
  void release_locked() {
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) {
        if (poison_) GB_UNPOISON(p, size);
        release_(p, size, index_);
      }
    free_.clear();
    cached_ = 0;
  }
  Release release_;
  int index_;
  bool poison_;
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  int64_t cached_ = 0;
  int64_t limit_;
};

BlockCache& cpu_cache() {
  static BlockCache* cache =
      new BlockCache([](void* p, size_t, int) { std::free(p); }, 0, true, int64_t{1} << 30);
  return *cache;
}

// GPU blocks are cached without a limit, as PyTorch does: cudaMalloc and cudaFree are slow and
// cudaFree synchronises the device. All of a device's work is on one stream, so a block freed
// while kernels that use it are still queued can be handed to the next op at once: that op
// is queued behind them.
#if defined(GLASSBOX_CUDA_EMU)
constexpr bool kPoisonDevice = true;  // emulated device memory is host memory
#else
constexpr bool kPoisonDevice = false;
#endif
constexpr int kMaxDevices = 64;

BlockCache& device_cache(int index) {
  GB_CHECK(index >= 0 && index < kMaxDevices, "allocate: bad CUDA device index ", index);
  static BlockCache** caches = new BlockCache*[kMaxDevices]();
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  if (!caches[index])
    caches[index] = new BlockCache(&cuda::device_free, index, kPoisonDevice, INT64_MAX);
  return *caches[index];
}

// Size classes for device blocks: 512-byte steps up to 1 MiB, 128 KiB steps above, so
// nearby sizes share blocks without wasting more than ~12% on large ones.
size_t device_rounded(size_t bytes) {
  const size_t step = bytes <= (size_t{1} << 20) ? 512 : (size_t{128} << 10);
  if (bytes > SIZE_MAX - step)
    throw Error(str("allocate: cannot allocate ", bytes, " bytes (size overflow)"));
  const size_t r = (bytes + step - 1) / step * step;
  return r == 0 ? step : r;
}

Counters& counters(Device d) {
  static Counters* c = new Counters[kMaxDevices + 1];
  return d.is_cpu() ? c[0] : c[1 + (d.index >= 0 && d.index < kMaxDevices ? d.index : 0)];
}

}  // namespace

MemoryStats memory_stats(Device device) {
  Counters& c = counters(device);
  MemoryStats s{c.live.load(), c.peak.load(), c.allocations.load(), c.system.load(), 0};
  s.cached_bytes = device.is_cpu() ? cpu_cache().cached() : device_cache(device.index).cached();
  return s;
}

void reset_peak_memory(Device device) {
  Counters& c = counters(device);
  c.peak.store(c.live.load());
}

void empty_cache() {
  cpu_cache().release();
  for (int i = 0; i < cuda::device_count() && i < kMaxDevices; ++i) device_cache(i).release();
}

void empty_cache(Device device) {
  if (device.is_cpu())
    cpu_cache().release();
  else
    device_cache(device.index).release();
}

void set_cache_limit(int64_t bytes) {
  GB_CHECK(bytes >= 0, "set_cache_limit: the limit must be >= 0 bytes, got ", bytes);
  cpu_cache().set_limit(bytes);
}

int64_t cache_limit() { return cpu_cache().limit(); }

namespace detail {

void* allocate(size_t bytes, Device device) {
  void* p = nullptr;
  if (device.is_cpu()) {
    const size_t size = rounded(bytes);
    p = cpu_cache().take(size);
    if (!p) {
      p = std::aligned_alloc(kAlignment, size);
      if (!p) {  // blocks of other sizes may be cached: give them back and try once more
        cpu_cache().release();
        p = std::aligned_alloc(kAlignment, size);
      }
      if (!p) throw Error(str("allocate: out of CPU memory allocating ", bytes, " bytes"));
      counters(device).system.fetch_add(1);
    }
    // the rounding slack past the requested bytes is off limits too, as with malloc
    GB_POISON(static_cast<char*>(p) + bytes, size - bytes);
  } else {
    const size_t size = device_rounded(bytes);
    BlockCache& cache = device_cache(device.index);
    p = cache.take(size);
    if (!p) {
      p = cuda::device_malloc(size, device.index);
      if (!p) {  // out of memory: give the cached blocks back to the device and try once more
        const int64_t cached = cache.cached();
        cache.release();
        p = cuda::device_malloc(size, device.index);
        if (!p)
          throw Error(str("allocate: out of memory on ", device.str(), " allocating ", bytes,
                          " bytes (", cuda::device_free_memory(device.index),
                          " bytes free after releasing ", cached, " cached bytes; ",
                          counters(device).live.load(), " bytes held by live tensors)"));
      }
      counters(device).system.fetch_add(1);
    }
    if (kPoisonDevice) GB_POISON(static_cast<char*>(p) + bytes, size - bytes);
  }
  note_alloc(counters(device), static_cast<int64_t>(bytes));
  return p;
}

void deallocate(void* ptr, size_t bytes, Device device) {
  if (!ptr) return;
  if (device.is_cpu()) {
    const size_t size = rounded(bytes);
    GB_UNPOISON(ptr, size);
    if (!cpu_cache().put(ptr, size)) std::free(ptr);
  } else {
    const size_t size = device_rounded(bytes);
    if (kPoisonDevice) GB_UNPOISON(ptr, size);
    if (!device_cache(device.index).put(ptr, size)) cuda::device_free(ptr, size, device.index);
  }
  counters(device).live.fetch_sub(static_cast<int64_t>(bytes));
}

}  // namespace detail
}  // namespace glassbox
