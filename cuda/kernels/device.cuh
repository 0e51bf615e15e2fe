#pragma once
// What every kernel body includes: the CUDA language (CUDA's own headers under nvcc, the
// emulator's under GLASSBOX_CUDA_EMU) and the one way to declare dynamic shared memory.
#if defined(GLASSBOX_CUDA_EMU)
#include "cuda/emu/emu.h"
#define GB_DYN_SHARED(T, name) T* name = static_cast<T*>(::glassbox::cuda::emu::dynamic_shared())
#else
#include <cuda_runtime.h>
#define GB_DYN_SHARED(T, name)                                 \
  extern __shared__ __align__(16) unsigned char gb_dyn_smem[]; \
  T* name = reinterpret_cast<T*>(gb_dyn_smem)
#endif
