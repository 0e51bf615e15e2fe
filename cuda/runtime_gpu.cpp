// The real CUDA runtime: checked wrappers, one non-blocking stream per device, and host<->
// device copies staged through pinned (page-locked) buffers. Every failure becomes a
// glassbox::Error naming the call, the site and CUDA's message, never an abort.
//
// Why staging: cudaMemcpyAsync from pageable memory is a synchronous, half-speed copy
// through a driver buffer. Copying the batch into our own pinned buffer first lets the DMA
// engine run at full speed and the host return at once; the buffer is reused after an
// event says the previous transfer from it has finished.
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "cuda/context.h"
#include "cuda/launch.h"
#include "cuda/checks.h"
#include "cuda/runtime.h"

namespace glassbox::cuda {

void check_call(cudaError_t err, const char* what, const char* file, int line) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so later calls are not poisoned
  fail(str(what, " (", file, ":", line, "): ", cudaGetErrorString(err)));
}

namespace {

constexpr int kMaxDevices = 64;

struct DeviceState {
  std::once_flag init;
  cudaStream_t stream = nullptr;
  std::mutex staging_mutex;
  void* staging = nullptr;  // pinned
  size_t staging_bytes = 0;
  cudaEvent_t staging_free = nullptr;  // recorded after the last copy that used `staging`
};

DeviceState& state(int index) {
  static DeviceState* states = new DeviceState[kMaxDevices];  // leaked: outlives every tensor
  DeviceState& s = states[index];
  std::call_once(s.init, [&] {
    GB_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    GB_CUDA_CHECK(cudaEventCreateWithFlags(&s.staging_free, cudaEventDisableTiming));
  });
  return s;
}

// Copies larger than this go straight from pageable memory instead of doubling the pinned
// footprint.
constexpr size_t kMaxStaging = size_t{256} << 20;

// Grows the pinned buffer to `bytes` once the previous transfer from it is done.
void* staging_buffer(DeviceState& s, size_t bytes) {
  const cudaError_t done = cudaEventQuery(s.staging_free);
  if (done == cudaErrorNotReady)
    detail::count_host_wait();
  else
    GB_CUDA_CHECK(done);
  GB_CUDA_CHECK(cudaEventSynchronize(s.staging_free));
  if (s.staging_bytes < bytes) {
    if (s.staging) GB_CUDA_CHECK(cudaFreeHost(s.staging));
    s.staging = nullptr;
    s.staging_bytes = 0;
    GB_CUDA_CHECK(cudaMallocHost(&s.staging, bytes));
    s.staging_bytes = bytes;
  }
  return s.staging;
}

bool sync_every_launch() {
  static const bool on = [] {
    const char* env = std::getenv("GLASSBOX_CUDA_SYNC");
    return env && std::strcmp(env, "1") == 0;
  }();
  return on;
}

}  // namespace

void check_launch(const char* kernel, const char* file, int line) {
  cudaError_t err = cudaGetLastError();
  // GLASSBOX_CUDA_SYNC=1 waits after every launch, so an error inside a kernel is reported
  // at its own launch instead of at a later copy (like CUDA_LAUNCH_BLOCKING=1).
  if (err == cudaSuccess && sync_every_launch()) err = cudaDeviceSynchronize();
  if (err != cudaSuccess)
    fail(str("kernel ", kernel, " (", file, ":", line, "): ", cudaGetErrorString(err)));
}

bool built_with_cuda() { return true; }
bool is_emulated() { return false; }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

bool is_available() { return device_count() > 0; }

void use_device(int index, const char* op) {
  static const int n = device_count();
  GB_CHECK(index >= 0 && index < n && index < kMaxDevices, op, ": cuda:", index, " requested but ",
           n, " CUDA device(s) present");
  GB_CUDA_CHECK(cudaSetDevice(index));
}

cudaStream_t stream(int index) {
  use_device(index, "cuda::stream");
  return state(index).stream;
}

std::string device_name(int index) {
  use_device(index, "cuda::device_name");
  cudaDeviceProp prop{};
  GB_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return prop.name;
}

void* device_malloc(size_t bytes, int index) {
  use_device(index, "cuda::device_malloc");
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, bytes == 0 ? 1 : bytes);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    return nullptr;  // the allocator empties its cache and retries
  }
  GB_CUDA_CHECK(err);
  return p;
}

void device_free(void* ptr, size_t, int index) {
  if (!ptr) return;
  cudaSetDevice(index);
  cudaFree(ptr);  // errors here cannot be acted on by the caller (destructor path)
}

size_t device_free_memory(int index) {
  use_device(index, "cuda::device_free_memory");
  size_t free_bytes = 0, total = 0;
  GB_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
  return free_bytes;
}

void copy_host_to_device(void* dst, const void* src, size_t bytes, int index) {
  use_device(index, "to(cuda)");
  if (bytes == 0) return;
  DeviceState& s = state(index);
  if (bytes > kMaxStaging) {
    GB_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s.stream));
    detail::count_host_wait();
    GB_CUDA_CHECK(cudaStreamSynchronize(s.stream));  // src may be freed once we return
    return;
  }
  std::lock_guard<std::mutex> lock(s.staging_mutex);
  void* pinned = staging_buffer(s, bytes);
  std::memcpy(pinned, src, bytes);
  GB_CUDA_CHECK(cudaMemcpyAsync(dst, pinned, bytes, cudaMemcpyHostToDevice, s.stream));
  GB_CUDA_CHECK(cudaEventRecord(s.staging_free, s.stream));
}

void copy_device_to_host(void* dst, const void* src, size_t bytes, int index) {
  use_device(index, "to(cpu)");
  if (bytes == 0) return;
  detail::count_host_wait();
  DeviceState& s = state(index);
  if (bytes > kMaxStaging) {
    GB_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s.stream));
    GB_CUDA_CHECK(cudaStreamSynchronize(s.stream));
  } else {
    std::lock_guard<std::mutex> lock(s.staging_mutex);
    void* pinned = staging_buffer(s, bytes);
    GB_CUDA_CHECK(cudaMemcpyAsync(pinned, src, bytes, cudaMemcpyDeviceToHost, s.stream));
    GB_CUDA_CHECK(cudaEventRecord(s.staging_free, s.stream));
    GB_CUDA_CHECK(cudaStreamSynchronize(s.stream));  // waits for every kernel before the copy too
    std::memcpy(dst, pinned, bytes);
  }
  raise_deferred_errors(index);  // the host has waited: report a failed device-side check
}

void copy_device_to_device(void* dst, const void* src, size_t bytes, int index) {
  use_device(index, "copy_");
  if (bytes == 0) return;
  GB_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, state(index).stream));
}

void synchronize(int index) {
  use_device(index, "cuda::synchronize");
  detail::count_host_wait();
  GB_CUDA_CHECK(cudaStreamSynchronize(state(index).stream));
  raise_deferred_errors(index);
}

}  // namespace glassbox::cuda
