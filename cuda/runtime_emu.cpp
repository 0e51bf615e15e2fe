// The emulated device (GLASSBOX_CUDA_EMU): one "GPU" named glassbox-emu whose memory is host
// memory and whose kernels run on the emulator (cuda/emu/). Copies are memcpy and complete at
// once, so the stream is trivially in order. Device memory is capped (GLASSBOX_EMU_MEMORY
// bytes, default 8 GiB) so the allocator's out-of-memory path runs here as on a real GPU.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"
#include "cuda/context.h"
#include "cuda/checks.h"
#include "cuda/runtime.h"

namespace glassbox::cuda {
namespace {

size_t memory_limit() {
  static const size_t limit = [] {
    const char* env = std::getenv("GLASSBOX_EMU_MEMORY");
    if (!env || !*env) return size_t{8} << 30;
    char* end = nullptr;
    unsigned long long v = std::strtoull(env, &end, 10);
    GB_CHECK(end && *end == '\0' && v > 0, "GLASSBOX_EMU_MEMORY: expected a byte count, got '", env,
             "'");
    return static_cast<size_t>(v);
  }();
  return limit;
}

std::atomic<size_t> g_used{0};

}  // namespace

bool built_with_cuda() { return true; }
bool is_emulated() { return true; }
int device_count() { return 1; }
bool is_available() { return true; }

void use_device(int index, const char* op) {
  GB_CHECK(index == 0, op, ": cuda:", index, " requested but the emulator has 1 device (cuda:0)");
}

std::string device_name(int index) {
  use_device(index, "cuda::device_name");
  return "glassbox-emu";
}

cudaStream_t stream(int index) {
  use_device(index, "cuda::stream");
  return nullptr;
}

void* device_malloc(size_t bytes, int index) {
  use_device(index, "cuda::device_malloc");
  const size_t size = (bytes + 255) / 256 * 256;  // cudaMalloc's 256-byte alignment
  if (size == 0) return device_malloc(1, index);
  if (g_used.fetch_add(size) + size > memory_limit()) {
    g_used.fetch_sub(size);
    return nullptr;
  }
  void* p = std::aligned_alloc(256, size);
  if (!p) g_used.fetch_sub(size);
  return p;
}

void device_free(void* ptr, size_t bytes, int) {
  if (!ptr) return;
  g_used.fetch_sub((bytes == 0 ? 256 : (bytes + 255) / 256 * 256));
  std::free(ptr);
}

size_t device_free_memory(int index) {
  use_device(index, "cuda::device_free_memory");
  const size_t used = g_used.load();
  return used >= memory_limit() ? 0 : memory_limit() - used;
}

void copy_host_to_device(void* dst, const void* src, size_t bytes, int index) {
  use_device(index, "to(cuda)");
  if (bytes) std::memcpy(dst, src, bytes);
}
void copy_device_to_host(void* dst, const void* src, size_t bytes, int index) {
  use_device(index, "to(cpu)");
  if (bytes == 0) return;
  detail::count_host_wait();
  std::memcpy(dst, src, bytes);
  raise_deferred_errors(index);  // the host has "waited": report a failed device-side check
}
void copy_device_to_device(void* dst, const void* src, size_t bytes, int index) {
  use_device(index, "copy_");
  if (bytes) std::memmove(dst, src, bytes);
}
void synchronize(int index) {
  use_device(index, "cuda::synchronize");
  detail::count_host_wait();
  raise_deferred_errors(index);
}

}  // namespace glassbox::cuda
