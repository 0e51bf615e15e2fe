// The emulator's out-of-bounds planted bug: a kernel writes one element past its device
// buffer. Emulated device memory is host memory from the caching allocator, with the slack
// past the requested bytes poisoned, so AddressSanitizer must stop this program with a
// heap-buffer-overflow report (the ctest entry passes only on that report).
#include <cstdio>

#include "core/allocator.h"
#include "cuda/launch.h"

__global__ void write_past_end(float* p, int n) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (i <= n) p[i] = 1.0f;  // the bug: <= instead of <
}

int main() {
  const int n = 100;
  float* p = static_cast<float*>(glassbox::detail::allocate(
      n * sizeof(float), glassbox::Device{glassbox::DeviceType::CUDA, 0}));
  GB_LAUNCH(write_past_end, 1, 128, 0, nullptr, p, n);
  std::printf("the out-of-bounds write was not caught\n");
  return 0;
}
