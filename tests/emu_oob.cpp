// The emulator's out-of-bounds planted bug: a kernel writes one element past its device
// buffer, and AddressSanitizer must stop the program with a heap-buffer-overflow report (the
// ctest entry passes only on that report). Emulated device memory is host memory from the
// caching allocator. The buffer fills its 512-byte size class exactly, so the stray write
// lands in ASan's redzone after the heap block: heap-buffer-overflow. (With slack inside the
// block, the write would hit the allocator's poisoned slack and read "use-after-poison".)
#include <cstdio>

#include "core/allocator.h"
#include "cuda/launch.h"

__global__ void write_past_end(float* p, int n) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (i <= n) p[i] = 1.0f;  // the bug: <= instead of <
}

int main() {
  const int n = 128;  // 512 bytes
  const glassbox::Device device{glassbox::DeviceType::CUDA, 0};
  float* p = static_cast<float*>(glassbox::detail::allocate(n * sizeof(float), device));
  GB_LAUNCH(write_past_end, 1, 256, 0, nullptr, p, n);
  glassbox::detail::deallocate(p, n * sizeof(float), device);
  std::printf("the out-of-bounds write was not caught (not an AddressSanitizer build?)\n");
  return 1;
}
