// cuBLAS's documented argument rules for gemm, checked before every call in every build
// (real cuBLAS would return CUBLAS_STATUS_INVALID_VALUE or silently read out of bounds).
#include <climits>

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
          ", k=", g.k, ", lda=", g.lda, ", ldb=", g.ldb, ", ldc=", g.ldc, ", strides ", g.stride_a,
          "/", g.stride_b, "/", g.stride_c, ", batch=", g.batch, ")");
  for (int64_t v : {g.m, g.n, g.k, g.batch, g.lda, g.ldb, g.ldc})
    GB_CHECK(v >= 0 && v <= INT_MAX, op, ": sizes and leading dimensions must be in [0, INT_MAX]",
             args);
  const int64_t rows_a = g.trans_a == Trans::N ? g.m : g.k;
  const int64_t rows_b = g.trans_b == Trans::N ? g.k : g.n;
  GB_CHECK(g.lda >= at_least_one(rows_a), op, ": lda must be >= max(1, ",
           g.trans_a == Trans::N ? "m" : "k", ") = ", at_least_one(rows_a), args);
  GB_CHECK(g.ldb >= at_least_one(rows_b), op, ": ldb must be >= max(1, ",
           g.trans_b == Trans::N ? "k" : "n", ") = ", at_least_one(rows_b), args);
  GB_CHECK(g.ldc >= at_least_one(g.m), op, ": ldc must be >= max(1, m) = ", at_least_one(g.m),
           args);
  GB_CHECK(g.stride_a >= 0 && g.stride_b >= 0 && g.stride_c >= 0, op,
           ": batch strides must be >= 0", args);
  GB_CHECK(g.batch <= 1 || g.stride_c >= g.ldc * g.n, op,
           ": output batches overlap (stride_c < ldc * n = ", g.ldc * g.n, ")", args);
}

}  // namespace glassbox::cuda
