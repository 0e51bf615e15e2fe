// cuBLAS's documented argument rules for gemm, checked before every call in every build (real
// cuBLAS would return CUBLAS_STATUS_INVALID_VALUE, or read and write out of bounds when a
// leading dimension is too small for the matrix it describes). No CUDA headers: the nvcc build
// links this file too.
#include <climits>
#include <utility>
#include <string>

#include "core/error.h"
#include "cuda/blas.h"

namespace glassbox::cuda {
namespace {
const char* name(Trans t) { return t == Trans::N ? "N" : "T"; }
int64_t at_least_one(int64_t v) { return v > 1 ? v : 1; }
}  // namespace

void check_gemm_args(const GemmArgs& g, const char* op) {
  const std::string args =
      str(" (transa=", name(g.trans_a), ", transb=", name(g.trans_b), ", m=", g.m, ", n=", g.n,
          ", k=", g.k, ", lda=", g.lda, ", ldb=", g.ldb, ", ldc=", g.ldc, ", stride_a=", g.stride_a,
          ", stride_b=", g.stride_b, ", stride_c=", g.stride_c, ", batch=", g.batch, ")");
  // cuBLAS takes every size and leading dimension as an int
  const std::pair<const char*, int64_t> sizes[] = {
      {"m", g.m},     {"n", g.n},     {"k", g.k},    {"batch", g.batch},
      {"lda", g.lda}, {"ldb", g.ldb}, {"ldc", g.ldc}};
  for (const auto& [what, v] : sizes)
    GB_CHECK(v >= 0 && v <= INT_MAX, op, ": ", what, " = ", v, " must be in [0, INT_MAX]", args);
  // a leading dimension spans a column of the stored matrix: op(A) = A is m x k, A^T is stored
  // k x m; likewise B (k x n) and C (m x n)
  const int64_t rows_a = g.trans_a == Trans::N ? g.m : g.k;
  const int64_t rows_b = g.trans_b == Trans::N ? g.k : g.n;
  GB_CHECK(g.lda >= at_least_one(rows_a), op, ": lda must be >= max(1, ",
           g.trans_a == Trans::N ? "m" : "k", ") = ", at_least_one(rows_a),
           " (the rows of A as stored)", args);
  GB_CHECK(g.ldb >= at_least_one(rows_b), op, ": ldb must be >= max(1, ",
           g.trans_b == Trans::N ? "k" : "n", ") = ", at_least_one(rows_b),
           " (the rows of B as stored)", args);
  GB_CHECK(g.ldc >= at_least_one(g.m), op, ": ldc must be >= max(1, m) = ", at_least_one(g.m),
           args);
  GB_CHECK(g.stride_a >= 0 && g.stride_b >= 0 && g.stride_c >= 0, op,
           ": batch strides must be >= 0", args);
  GB_CHECK(g.batch <= 1 || g.stride_c >= g.ldc * g.n, op,
           ": output batches overlap: stride_c must be >= ldc * n = ", g.ldc * g.n, args);
}

}  // namespace glassbox::cuda
