// Row sort on the CPU: each row of a contiguous [rows, n] input is sorted as a permutation
// of 0..n-1 with std::stable_sort, so ties keep their order, then values are gathered
// through it. The key order is a strict weak order with every NaN equivalent and above
// every number (PyTorch's NaN-largest rule): before(a, b) = !isnan(a) && (isnan(b) || a < b).
// Descending is the same order with the operands swapped, so it is stable too. Rows are
// independent, so the result does not depend on the thread count.
#include <algorithm>
#include <numeric>

#include "core/cpu/cpu_kernels.h"
#include "core/parallel.h"

namespace glassbox::cpu {
namespace {

template <class T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return v != v;
  else
    return false;
}

template <class T>
bool before(T a, T b) {
  return !is_nan(a) && (is_nan(b) || a < b);
}

}  // namespace

std::pair<Tensor, Tensor> sort_rows(const Tensor& a, bool descending) {
  const int64_t rows = a.size(0), n = a.size(1);
  Tensor values = empty(a.shape(), dtype(a.dtype()));
  Tensor indices = empty(a.shape(), dtype(kInt64));
  GB_DISPATCH_NUMERIC(a.dtype(), "sort", [&] {
    using T = scalar_t;
    const T* src = a.data_ptr<T>();
    T* vals = values.data_ptr<T>();
    int64_t* idx = indices.data_ptr<int64_t>();
    // log2(n) comparisons per element: the grain counts one row as n * 16 units of work
    parallel_for(rows, n * 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* row = src + r * n;
        int64_t* order = idx + r * n;
        std::iota(order, order + n, int64_t(0));
        if (descending)
          std::stable_sort(order, order + n,
                           [row](int64_t i, int64_t j) { return before(row[j], row[i]); });
        else
          std::stable_sort(order, order + n,
                           [row](int64_t i, int64_t j) { return before(row[i], row[j]); });
        for (int64_t i = 0; i < n; ++i) vals[r * n + i] = row[order[i]];
      }
    });
  });
  return {values, indices};
}

}  // namespace glassbox::cpu
