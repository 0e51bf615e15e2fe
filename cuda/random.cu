// Random fills on CUDA: the output is drawn where it lives, from the Philox blocks the
// generator reserved on the host (only the seed and the base offset travel to the device),
// with the same per-block function as the CPU (core/philox.h), so a seed gives the same
// tensor on both. The dispatch layer has checked that out is contiguous and floating.
#include "cuda/common.h"
#include "cuda/gpu_kernels.h"
#include "cuda/kernels/random.cuh"
#include "cuda/launch.h"

namespace glassbox::gpu {

void random_fill(const Tensor& out, const RandomDist& dist, uint64_t seed, uint64_t base_offset) {
  const int64_t n = out.numel();
  if (n == 0) return;
  GB_DISPATCH_FLOAT(out.dtype(), "random_fill", [&] {
    const int64_t blocks = int64_t(philox::blocks_for(n, philox::kPerBlock<scalar_t>));
    auto kernel = &random_fill_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(blocks), kBlock, 0, stream_of(out), n, ptr_of<scalar_t>(out),
              philox::typed<scalar_t>(dist), seed, base_offset);
  });
}

}  // namespace glassbox::gpu
