#pragma once
// Internal to cuda/: the device's stream, and error checks that name the call and the site.
#include <cstddef>

#if defined(GLASSBOX_CUDA_EMU)
#include "cuda/emu/emu.h"
#else
#include <cuda_runtime.h>
#endif

namespace glassbox::cuda {

// The one stream all of a device's work is queued on (nullptr on the emulator).
cudaStream_t stream(int index);
// Makes `index` the current device, checking it exists; `op` names the caller in errors.
void use_device(int index, const char* op);

#if !defined(GLASSBOX_CUDA_EMU)
// Throws glassbox::Error "what (file:line): CUDA's message" unless err is cudaSuccess.
void check_call(cudaError_t err, const char* what, const char* file, int line);
#define GB_CUDA_CHECK(call) ::glassbox::cuda::check_call((call), #call, __FILE__, __LINE__)
#endif

}  // namespace glassbox::cuda
