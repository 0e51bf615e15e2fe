#pragma once
// The one way glassbox launches a kernel (dynamic shared memory: kernels/device.cuh).
// Kernel bodies (cuda/kernels/*.cuh) are plain __global__ functions; the host code in
// cuda/*.cu launches them only through GB_LAUNCH, which is CUDA's <<<>>> plus an error check
// under nvcc, and a call into the emulator (cuda/emu/) in the GLASSBOX_CUDA_EMU build.
// A templated kernel is launched through a pointer: `auto k = &my_kernel<float>;` then
// GB_LAUNCH(k, ...), so the macro never sees a comma inside template brackets.
#include <cstddef>

#include "core/error.h"
#include "cuda/kernels/device.cuh"

#if defined(GLASSBOX_CUDA_EMU)

#define GB_LAUNCH(kernel, grid, block, smem, stream, ...)                                     \
  ::glassbox::cuda::emu::launch(#kernel, __FILE__, __LINE__, kernel, dim3(grid), dim3(block), \
                                size_t(smem), stream, __VA_ARGS__)
#define GB_SET_MAX_DYN_SHARED(kernel, bytes) \
  ::glassbox::cuda::emu::set_max_dynamic_shared(reinterpret_cast<const void*>(kernel), bytes)

#else
#include "cuda/context.h"

namespace glassbox::cuda {
// Throws glassbox::Error naming the kernel, the launch site and CUDA's message when the
// launch failed (a bad configuration) or an earlier asynchronous error surfaced.
void check_launch(const char* kernel, const char* file, int line);
}  // namespace glassbox::cuda

#define GB_LAUNCH(kernel, grid, block, smem, stream, ...)        \
  do {                                                           \
    kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__);  \
    ::glassbox::cuda::check_launch(#kernel, __FILE__, __LINE__); \
  } while (0)
#define GB_SET_MAX_DYN_SHARED(kernel, bytes)                                                 \
  ::glassbox::cuda::check_call(                                                              \
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)), \
      "cudaFuncSetAttribute", __FILE__, __LINE__)
#endif
