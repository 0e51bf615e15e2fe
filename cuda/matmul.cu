// Batched matmul on CUDA through the one GEMM wrapper (cuda/blas.h, cuBLAS on a GPU).
//
// cuBLAS is column-major; our tensors are row-major. A row-major n x m matrix is the same
// bytes as a column-major m x n one (its transpose), so C = A * B (row-major) is computed as
// C^T = B^T * A^T in column-major terms: cuBLAS's first operand is our B, its second our A,
// its m is our m (columns of C) and its n our n (rows of C). An operand whose columns are
// unit-stride (row-major, leading dimension = its row stride) goes in as is (op N); one whose
// rows are unit-stride (a transposed view such as w.t(), leading dimension = its column
// stride) goes in as op T; anything else is made contiguous first. Batch dims are one
// stride each (0 for a broadcast batch).
#include "cuda/blas.h"
#include "cuda/common.h"
#include "cuda/gpu_kernels.h"

namespace glassbox::gpu {
namespace {

struct Operand {
  Tensor t;
  cuda::Trans trans;  // as cuBLAS's operand for the column-major view of this matrix
  int64_t ld;
};

// t is [batch, rows, cols] row-major-indexed.
Operand as_operand(const Tensor& t_in) {
  const int64_t rows = t_in.size(1), cols = t_in.size(2);
  if (t_in.stride(2) == 1 && t_in.stride(1) >= std::max<int64_t>(cols, 1))
    return {t_in, cuda::Trans::N, t_in.stride(1)};
  if (t_in.stride(1) == 1 && t_in.stride(2) >= std::max<int64_t>(rows, 1))
    return {t_in, cuda::Trans::T, t_in.stride(2)};
  Tensor c = t_in.contiguous();
  return {c, cuda::Trans::N, std::max<int64_t>(cols, 1)};
}

}  // namespace

Tensor bmm(const Tensor& a_in, const Tensor& b_in) {
  const int64_t batch = a_in.size(0), n = a_in.size(1), k = a_in.size(2), m = b_in.size(2);
  Tensor out = empty_on({batch, n, m}, a_in.dtype(), a_in.device());
  if (out.numel() == 0) return out;
  if (k == 0) {  // an empty sum: zeros, without asking cuBLAS to read nothing
    fill(out, 0.0);
    return out;
  }
  Operand a = as_operand(a_in), b = as_operand(b_in);
  cuda::GemmArgs g;
  g.trans_a = b.trans, g.trans_b = a.trans;
  g.m = m, g.n = n, g.k = k;
  g.lda = b.ld, g.ldb = a.ld, g.ldc = m;
  g.stride_a = b.t.stride(0), g.stride_b = a.t.stride(0), g.stride_c = n * m;
  g.batch = batch;
  GB_DISPATCH_FLOAT(a_in.dtype(), "matmul", [&] {
    cuda::gemm(g, scalar_t(1), ptr_of<const scalar_t>(b.t), ptr_of<const scalar_t>(a.t),
               scalar_t(0), ptr_of<scalar_t>(out), device_of(out));
  });
  return out;
}

}  // namespace glassbox::gpu
