// cuda::gemm on the emulator: the reference column-major GEMM, after the same argument checks
// as cuBLAS gets (blas_check.cpp). Accumulates in double (long double for double inputs) so
// it is a yardstick, not a second opinion. Like cuBLAS, beta == 0 means C is not read: NaNs
// already in C must not leak into the result.
#include <type_traits>

#include "cuda/blas.h"

namespace glassbox::cuda {
namespace {

template <class T>
void reference_gemm(const GemmArgs& g, T alpha, const T* a, const T* b, T beta, T* c) {
  check_gemm_args(g, "gemm");
  using Acc = std::conditional_t<std::is_same_v<T, float>, double, long double>;
  // element (i, l) of op(A) and (l, j) of op(B), column-major with leading dimensions
  auto at = [](const T* m, Trans t, int64_t ld, int64_t row, int64_t col) {
    return t == Trans::N ? m[row + col * ld] : m[col + row * ld];
  };
  for (int64_t p = 0; p < g.batch; ++p) {
    const T* ap = a + p * g.stride_a;
    const T* bp = b + p * g.stride_b;
    T* cp = c + p * g.stride_c;
    for (int64_t j = 0; j < g.n; ++j)
      for (int64_t i = 0; i < g.m; ++i) {
        Acc s = 0;
        for (int64_t l = 0; l < g.k; ++l)
          s += Acc(at(ap, g.trans_a, g.lda, i, l)) * Acc(at(bp, g.trans_b, g.ldb, l, j));
        T& out = cp[i + j * g.ldc];
        out = beta == T(0) ? T(Acc(alpha) * s) : T(Acc(alpha) * s + Acc(beta) * Acc(out));
      }
  }
}

}  // namespace

void gemm(const GemmArgs& g, float alpha, const float* a, const float* b, float beta, float* c,
          int) {
  reference_gemm(g, alpha, a, b, beta, c);
}
void gemm(const GemmArgs& g, double alpha, const double* a, const double* b, double beta, double* c,
          int) {
  reference_gemm(g, alpha, a, b, beta, c);
}

}  // namespace glassbox::cuda
