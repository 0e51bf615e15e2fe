// Reductions. The input is viewed as [kept dims..., reduced dims...]; each output element
// walks its reduced sub-space with an odometer. Sums accumulate in double (or int64), so a
// float32 sum over a whole MNIST epoch stays accurate.
#include <cmath>
#include <limits>
#include <numeric>

#include "core/cpu/cpu_kernels.h"
#include "core/parallel.h"

namespace glassbox::cpu {
namespace {

struct ReducePlan {
  Shape out_shape;                 // with or without the kept size-1 dims
  Shape kept_sizes, kept_strides;  // in elements of the input
  Shape red_sizes, red_strides;
  int64_t reduced_count = 1;
};

ReducePlan plan_reduce(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  ReducePlan p;
  std::vector<bool> is_reduced(a.dim(), false);
  for (int64_t d : dims) is_reduced[d] = true;
  for (int64_t d = 0; d < a.dim(); ++d) {
    if (is_reduced[d]) {
      p.red_sizes.push_back(a.size(d));
      p.red_strides.push_back(a.stride(d));
      p.reduced_count *= a.size(d);
      if (keepdim) p.out_shape.push_back(1);
    } else {
      p.kept_sizes.push_back(a.size(d));
      p.kept_strides.push_back(a.stride(d));
      p.out_shape.push_back(a.size(d));
    }
  }
  return p;
}

// Offset (elements) of the i-th element of an index space given sizes/strides, row-major.
int64_t offset_of(int64_t i, const Shape& sizes, const Shape& strides) {
  int64_t off = 0;
  for (size_t d = sizes.size(); d-- > 0;) {
    off += (i % sizes[d]) * strides[d];
    i /= sizes[d];
  }
  return off;
}

// Visits the reduced sub-space starting at `base`, calling f(value, flat_index).
template <class T, class F>
void walk_reduced(const T* base, const ReducePlan& p, F&& f) {
  const size_t nd = p.red_sizes.size();
  if (nd == 0) {
    f(base[0], 0);
    return;
  }
  if (p.reduced_count == 0) return;  // a size-0 outer dim: the first row does not exist
  const int64_t inner = p.red_sizes[nd - 1], inner_stride = p.red_strides[nd - 1];
  std::vector<int64_t> idx(nd, 0);
  const T* row = base;
  int64_t flat = 0;
  while (true) {
    for (int64_t i = 0; i < inner; ++i) f(row[i * inner_stride], flat + i);
    flat += inner;
    size_t d = nd - 1;
    while (d-- > 0) {
      row += p.red_strides[d];
      if (++idx[d] < p.red_sizes[d]) break;
      row -= p.red_strides[d] * p.red_sizes[d];
      idx[d] = 0;
    }
    if (d == size_t(-1)) return;  // odometer wrapped: done
  }
}

template <class T>
using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// s + v; integer sums wrap on overflow (two's complement, like PyTorch) instead of being UB.
template <class Acc>
Acc acc_add(Acc s, Acc v) {
  if constexpr (std::is_integral_v<Acc>)
    return static_cast<Acc>(static_cast<uint64_t>(s) + static_cast<uint64_t>(v));
  else
    return s + v;
}

}  // namespace

Tensor reduce(Reduce op, const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  const char* name = op == Reduce::Sum ? "sum" : op == Reduce::Max ? "max" : "min";
  ReducePlan p = plan_reduce(a, dims, keepdim);
  const int64_t outputs = numel_of(p.kept_sizes);
  GB_CHECK(op == Reduce::Sum || p.reduced_count > 0 || outputs == 0, name,
           ": cannot reduce over an empty dimension (input ", a.shape_str(), ")");
  // integer and bool sums widen to int64, like PyTorch
  DType out_dtype = (op == Reduce::Sum && !is_floating(a.dtype())) ? kInt64 : a.dtype();
  Tensor out = empty(p.out_shape, dtype(out_dtype));
  GB_DISPATCH_ALL(a.dtype(), name, [&] {
    using T = scalar_t;
    const T* src = a.data_ptr<T>();
    if (op == Reduce::Sum) {
      using Acc = acc_t<T>;
      using Out = std::conditional_t<std::is_floating_point_v<T>, T, int64_t>;
      Out* dst = out.data_ptr<Out>();
      if (outputs == 1 && a.is_contiguous() && p.reduced_count > kParallelGrain) {
        // whole-tensor sum: split the flat buffer into fixed-size chunks summed in parallel,
        // then add the partials in order. The chunking must not depend on the thread count,
        // or set_num_threads would change the rounding of the result.
        const int64_t n = p.reduced_count;
        const int64_t chunks = (n + kParallelGrain - 1) / kParallelGrain;
        std::vector<Acc> partial(chunks, Acc(0));
        parallel_for(chunks, n / chunks, [&](int64_t b, int64_t e) {
          for (int64_t c = b; c < e; ++c) {
            Acc s = 0;
            for (int64_t i = n * c / chunks; i < n * (c + 1) / chunks; ++i)
              s = acc_add(s, Acc(src[i]));
            partial[c] = s;
          }
        });
        dst[0] =
            static_cast<Out>(std::accumulate(partial.begin(), partial.end(), Acc(0), acc_add<Acc>));
        return;
      }
      parallel_for(outputs, p.reduced_count, [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) {
          Acc s = 0;
          walk_reduced(src + offset_of(o, p.kept_sizes, p.kept_strides), p,
                       [&](T v, int64_t) { s = acc_add(s, Acc(v)); });
          dst[o] = static_cast<Out>(s);
        }
      });
    } else {
      if constexpr (std::is_same_v<T, bool>) {
        fail(str(name, ": not supported for bool tensors"));
      } else {
        T* dst = out.data_ptr<T>();
        const bool want_max = op == Reduce::Max;
        parallel_for(outputs, p.reduced_count, [&](int64_t b, int64_t e) {
          for (int64_t o = b; o < e; ++o) {
            T best{};
            bool first = true, nan = false;
            walk_reduced(src + offset_of(o, p.kept_sizes, p.kept_strides), p, [&](T v, int64_t) {
              if (nan) return;
              if (v != v) {  // NaN wins, as in PyTorch
                best = v;
                nan = true;
              } else if (first || (want_max ? v > best : v < best)) {
                best = v;
              }
              first = false;
            });
            dst[o] = best;
          }
        });
      }
    }
  });
  return out;
}

std::pair<Tensor, Tensor> reduce_with_index(Reduce op, const Tensor& a, int64_t dim, bool keepdim) {
  const char* name = op == Reduce::Max ? "max" : "min";
  ReducePlan p = plan_reduce(a, {dim}, keepdim);
  const int64_t outputs = numel_of(p.kept_sizes);
  GB_CHECK(p.reduced_count > 0 || outputs == 0, name, ": cannot reduce over dim ", dim,
           " of size 0 (input ", a.shape_str(), ")");
  Tensor values = empty(p.out_shape, dtype(a.dtype()));
  Tensor indices = empty(p.out_shape, dtype(kInt64));
  GB_DISPATCH_NUMERIC(a.dtype(), name, [&] {
    using T = scalar_t;
    const T* src = a.data_ptr<T>();
    T* vals = values.data_ptr<T>();
    int64_t* idxs = indices.data_ptr<int64_t>();
    const bool want_max = op == Reduce::Max;
    parallel_for(outputs, p.reduced_count, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        T best{};
        int64_t best_i = 0;
        bool first = true, nan = false;
        walk_reduced(src + offset_of(o, p.kept_sizes, p.kept_strides), p, [&](T v, int64_t i) {
          if (nan) return;
          if (v != v) {
            best = v, best_i = i, nan = true;
          } else if (first || (want_max ? v > best : v < best)) {
            best = v, best_i = i;
          }
          first = false;
        });
        vals[o] = best;
        idxs[o] = best_i;
      }
    });
  });
  return {values, indices};
}

}  // namespace glassbox::cpu
