#pragma once
// What every kernel body includes: the CUDA language (CUDA's own headers under nvcc, the
// emulator's under GLASSBOX_CUDA_EMU) and the one way to declare dynamic shared memory.
// GB_UNROLL before a loop with a compile-time trip count: nvcc unrolls it (register arrays
// indexed by its counter then stay in registers); the host compiler is left to its own choice.
#if defined(GLASSBOX_CUDA_EMU)
#define GB_UNROLL
#include "cuda/emu/emu.h"
#define GB_DYN_SHARED(T, name) T* name = static_cast<T*>(::glassbox::cuda::emu::dynamic_shared())
#else
#define GB_UNROLL _Pragma("unroll")
#include <cuda_runtime.h>
#define GB_DYN_SHARED(T, name)                                 \
  extern __shared__ __align__(16) unsigned char gb_dyn_smem[]; \
  T* name = reinterpret_cast<T*>(gb_dyn_smem)
#endif
