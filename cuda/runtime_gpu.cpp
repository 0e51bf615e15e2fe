// Thin, checked wrappers over the CUDA runtime. Every failure becomes a glassbox::Error that
// names the call and CUDA's own message, never an abort.
#include <cuda_runtime.h>

#include "core/error.h"
#include "cuda/runtime.h"

namespace glassbox::cuda {
namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls are not poisoned
    fail(str(what, ": ", cudaGetErrorString(err)));
  }
}

void use_device(int index, const char* op) {
  int n = device_count();
  GB_CHECK(index >= 0 && index < n, op, ": cuda:", index, " requested but ", n,
           " CUDA device(s) present");
  check(cudaSetDevice(index), op);
}

}  // namespace

bool built_with_cuda() { return true; }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

bool is_available() { return device_count() > 0; }

std::string device_name(int index) {
  use_device(index, "cuda::device_name");
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties");
  return prop.name;
}

void* device_malloc(size_t bytes, int index) {
  use_device(index, "cuda::device_malloc");
  void* p = nullptr;
  check(cudaMalloc(&p, bytes == 0 ? 1 : bytes), "cudaMalloc");
  return p;
}

void device_free(void* ptr, int index) {
  if (!ptr) return;
  cudaSetDevice(index);
  cudaFree(ptr);  // errors here cannot be acted on by the caller (destructor path)
}

void copy_host_to_device(void* dst, const void* src, size_t bytes, int index) {
  use_device(index, "to(cuda)");
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy host->device");
}

void copy_device_to_host(void* dst, const void* src, size_t bytes, int index) {
  use_device(index, "to(cpu)");
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy device->host");
}

void copy_device_to_device(void* dst, const void* src, size_t bytes, int index) {
  use_device(index, "copy_");
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy device->device");
}

void synchronize(int index) {
  use_device(index, "cuda::synchronize");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace glassbox::cuda
