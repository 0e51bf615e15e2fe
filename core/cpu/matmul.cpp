// Batched matrix multiply on Eigen. Operands are mapped in place whenever one of their two
// matrix strides is 1 (row-major or column-major, e.g. a transposed view), so x.t() costs
// no copy. Many batches: OpenMP over batches (Eigen runs single-threaded inside a parallel
// region); one batch: Eigen's own threaded GEMM.
#include <Eigen/Core>

#include "core/cpu/cpu_kernels.h"
#include "core/parallel.h"

namespace glassbox::cpu {
namespace {

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ColMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using Outer = Eigen::OuterStride<>;

// A matrix operand is usable in place when its rows or its columns are unit-stride.
bool mappable(const Tensor& t) {
  int64_t s1 = t.stride(1), s2 = t.stride(2);
  return (s2 == 1 && s1 >= std::max<int64_t>(t.size(2), 1)) ||
         (s1 == 1 && s2 >= std::max<int64_t>(t.size(1), 1));
}

template <class T, class F>
void with_matrix(const T* p, const Tensor& t, F&& f) {
  int64_t rows = t.size(1), cols = t.size(2);
  if (t.stride(2) == 1 && t.stride(1) >= std::max<int64_t>(cols, 1)) {
    f(Eigen::Map<const RowMat<T>, 0, Outer>(p, rows, cols, Outer(t.stride(1))));
  } else {
    f(Eigen::Map<const ColMat<T>, 0, Outer>(p, rows, cols, Outer(t.stride(2))));
  }
}

}  // namespace

Tensor bmm(const Tensor& a_in, const Tensor& b_in) {
  Tensor a = mappable(a_in) ? a_in : a_in.contiguous();
  Tensor b = mappable(b_in) ? b_in : b_in.contiguous();
  const int64_t batch = a.size(0), n = a.size(1), k = a.size(2), m = b.size(2);
  Tensor out = empty({batch, n, m}, dtype(a.dtype()));
  GB_DISPATCH_FLOAT(a.dtype(), "matmul", [&] {
    using T = scalar_t;
    const T* pa = a.data_ptr<T>();
    const T* pb = b.data_ptr<T>();
    T* po = out.data_ptr<T>();
    auto one = [&](int64_t i) {
      Eigen::Map<RowMat<T>> o(po + i * n * m, n, m);
      if (k == 0) {
        o.setZero();
        return;
      }
      with_matrix(pa + i * a.stride(0), a, [&](const auto& ma) {
        with_matrix(pb + i * b.stride(0), b, [&](const auto& mb) { o.noalias() = ma * mb; });
      });
    };
    if (batch == 1) {
      one(0);
    } else {
      parallel_for(batch, n * m * std::max<int64_t>(k, 1), [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) one(i);
      });
    }
  });
  return out;
}

}  // namespace glassbox::cpu
