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

size_t rounded(size_t bytes) {
  if (bytes > SIZE_MAX - kAlignment)
    throw Error(str("allocate: cannot allocate ", bytes, " bytes (size overflow)"));
  const size_t r = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  return r == 0 ? kAlignment : r;
}

// Freed CPU blocks by rounded size. Leaked on purpose at exit (no destructor ordering issues
// with tensors that outlive main); LeakSanitizer still sees the blocks as reachable.
class CpuCache {
 public:
  void* take(size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(size);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= static_cast<int64_t>(size);
    GB_UNPOISON(p, size);
    return p;
  }
  // Keeps p unless that would pass the limit; returns whether it did.
  bool put(void* p, size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + static_cast<int64_t>(size) > limit_) return false;
    free_[size].push_back(p);
    cached_ += static_cast<int64_t>(size);
    GB_POISON(p, size);
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
        GB_UNPOISON(p, size);
        std::free(p);
      }
    free_.clear();
    cached_ = 0;
  }
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  int64_t cached_ = 0;
  int64_t limit_ = int64_t{1} << 30;
};

CpuCache& cpu_cache() {
  static CpuCache* cache = new CpuCache();
  return *cache;
}

}  // namespace

MemoryStats memory_stats(Device device) {
  Counters& c = counters(device);
  MemoryStats s{c.live.load(), c.peak.load(), c.allocations.load(), c.system.load(), 0};
  if (device.is_cpu()) s.cached_bytes = cpu_cache().cached();
  return s;
}

void reset_peak_memory(Device device) {
  Counters& c = counters(device);
  c.peak.store(c.live.load());
}

void empty_cache() { cpu_cache().release(); }

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
    p = cuda::device_malloc(bytes, device.index);
    counters(device).system.fetch_add(1);
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
    cuda::device_free(ptr, device.index);
  }
  counters(device).live.fetch_sub(static_cast<int64_t>(bytes));
}

}  // namespace detail
}  // namespace glassbox
