// Row sort on CUDA (the network and its two paths: kernels/sort.cuh). The host picks the
// path by the padded row length and, for long rows, queues one launch per network step.
#include "cuda/common.h"
#include "cuda/gpu_kernels.h"
#include "cuda/kernels/sort.cuh"
#include "cuda/launch.h"

namespace glassbox::gpu {

std::pair<Tensor, Tensor> sort_rows(const Tensor& a, bool descending) {
  const int64_t rows = a.size(0), n = a.size(1);
  Tensor values = empty_on(a.shape(), a.dtype(), a.device());
  Tensor indices = empty_on(a.shape(), kInt64, a.device());
  if (rows == 0 || n == 0) return {values, indices};
  int64_t P = 1;
  while (P < n) P *= 2;
  cudaStream_t stream = stream_of(a);
  GB_DISPATCH_NUMERIC(a.dtype(), "sort", [&] {
    using T = scalar_t;
    const T* in = ptr_of<const T>(a);
    T* out_v = ptr_of<T>(values);
    int64_t* out_i = ptr_of<int64_t>(indices);
    if (P <= kSharedSortMax) {
      int64_t threads = P / 2 < 32 ? 32 : P / 2;  // <= 1024: kSharedSortMax / 2
      const size_t smem = size_t(P) * (sizeof(int64_t) + sizeof(T));
      const int64_t blocks = rows < 65535 ? rows : 65535;
      auto kernel = &sort_rows_shared_kernel<T>;
      GB_LAUNCH(kernel, unsigned(blocks), unsigned(threads), smem, stream, rows, n, P, descending,
                in, out_v, out_i);
      return;
    }
    Tensor v = empty_on({rows, P}, a.dtype(), a.device());
    Tensor ix = empty_on({rows, P}, kInt64, a.device());
    auto pad = &sort_pad_kernel<T>;
    GB_LAUNCH(pad, grid_for(rows * P), kBlock, 0, stream, rows, n, P, in, ptr_of<T>(v),
              ptr_of<int64_t>(ix));
    auto step = &sort_step_kernel<T>;
    for (int64_t k = 2; k <= P; k <<= 1)
      for (int64_t j = k >> 1; j > 0; j >>= 1)
        GB_LAUNCH(step, grid_for(rows * P / 2), kBlock, 0, stream, rows, n, P, k, j, descending,
                  ptr_of<T>(v), ptr_of<int64_t>(ix));
    auto unpad = &sort_unpad_kernel<T>;
    GB_LAUNCH(unpad, grid_for(rows * n), kBlock, 0, stream, rows, n, P, ptr_of<const T>(v),
              ptr_of<const int64_t>(ix), out_v, out_i);
  });
  return {values, indices};
}

}  // namespace glassbox::gpu
