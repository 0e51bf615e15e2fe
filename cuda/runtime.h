#pragma once
// The CUDA runtime as glassbox sees it: device discovery, device memory, one stream per
// device, and copies. Three builds of it:
//   runtime.cu           the real GPU (nvcc, libcudart);
//   runtime_emu.cpp      the emulated device (GLASSBOX_CUDA_EMU): host memory, reports
//                        itself as one device named "glassbox-emu";
//   runtime_cpu_only.cpp no CUDA: every call that needs a GPU throws a glassbox::Error
//                        saying how to get one.
// Work is queued on the device's stream and runs asynchronously; copies to the host and
// synchronize() wait for it.
#include <cstddef>
#include <cstdint>
#include <string>

namespace glassbox::cuda {

bool is_available();  // a device is present (or emulated)
int device_count();
bool built_with_cuda();  // real or emulated CUDA backend compiled in
bool is_emulated();      // the GLASSBOX_CUDA_EMU build
std::string device_name(int index);

// Raw device memory; tensors go through core/allocator.h's caching allocator instead.
// device_malloc returns nullptr when the device is out of memory (the allocator then
// empties its cache and retries); any other failure throws.
void* device_malloc(size_t bytes, int index);
void device_free(void* ptr, size_t bytes, int index);  // bytes: as passed to device_malloc
size_t device_free_memory(int index);                  // bytes the device reports free

void copy_host_to_device(void* dst, const void* src, size_t bytes, int index);
void copy_device_to_host(void* dst, const void* src, size_t bytes, int index);
void copy_device_to_device(void* dst, const void* src, size_t bytes, int index);
// Waits for all queued work on the device; surfaces asynchronous kernel errors.
void synchronize(int index);

// How many times the host has waited for a device since the process started: synchronize(),
// every copy to the host (item(), .cpu(), an index check's flag), and every host-to-device
// copy too large for the pinned staging buffer. A warm training step should add none; the
// bench counts them (bench/bench_notebook.cpp).
int64_t host_waits();
namespace detail {
void count_host_wait();  // called by the runtimes where the host blocks
}

}  // namespace glassbox::cuda
