// cuda::gemm on the emulator: the reference column-major GEMM, after the same argument checks
// as cuBLAS gets (blas_check.cpp). It accumulates in double (for double inputs in long double
// where that is the x87 80-bit type, not a slow software one), so it is a yardstick rather
// than a second opinion on rounding. Like cuBLAS, beta == 0 means C is not read: NaNs already
// in C must not leak into the result. Each column of C is summed in an accumulator column,
// walking op(A) down its stored columns when A is not transposed (contiguous loads) and along
// them as dot products when it is.
#include <algorithm>
#include <cfloat>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "cuda/blas.h"

namespace glassbox::cuda {
namespace {

#if LDBL_MANT_DIG == 64
using Wide = long double;
#else
using Wide = double;
#endif

template <class T>
void reference_gemm(const GemmArgs& g, T alpha, const T* a, const T* b, T beta, T* c) {
  check_gemm_args(g, "gemm");
  if (g.batch == 0 || g.m == 0 || g.n == 0) return;
  GB_CHECK(c, "gemm: C is null for a ", g.m, " x ", g.n, " product");
  GB_CHECK(g.k == 0 || (a && b), "gemm: A or B is null for a ", g.m, " x ", g.n, " x ", g.k,
           " product");
  using Acc = std::conditional_t<std::is_same_v<T, float>, double, Wide>;
  std::vector<Acc> acc(size_t(g.m));
  for (int64_t p = 0; p < g.batch; ++p) {
    const T* ap = a + p * g.stride_a;
    const T* bp = b + p * g.stride_b;
    T* cp = c + p * g.stride_c;
    for (int64_t j = 0; j < g.n; ++j) {
      // op(B)(l, j) for l < k
      auto b_at = [&](int64_t l) {
        return Acc(g.trans_b == Trans::N ? bp[l + j * g.ldb] : bp[j + l * g.ldb]);
      };
      if (g.trans_a == Trans::N) {  // op(A)(i, l) = A[i + l * lda]
        std::fill(acc.begin(), acc.end(), Acc(0));
        for (int64_t l = 0; l < g.k; ++l) {
          const Acc bl = b_at(l);
          const T* col = ap + l * g.lda;
          for (int64_t i = 0; i < g.m; ++i) acc[size_t(i)] += Acc(col[i]) * bl;
        }
      } else {  // op(A)(i, l) = A[l + i * lda]
        for (int64_t i = 0; i < g.m; ++i) {
          const T* row = ap + i * g.lda;
          Acc s = 0;
          for (int64_t l = 0; l < g.k; ++l) s += Acc(row[l]) * b_at(l);
          acc[size_t(i)] = s;
        }
      }
      T* out = cp + j * g.ldc;
      for (int64_t i = 0; i < g.m; ++i)
        out[i] = beta == T(0) ? T(Acc(alpha) * acc[size_t(i)])
                              : T(Acc(alpha) * acc[size_t(i)] + Acc(beta) * Acc(out[i]));
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
