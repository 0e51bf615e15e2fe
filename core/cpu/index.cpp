// index_select / gather and their adjoints index_add_ / scatter_add_, and masked_fill_.
// Every index is checked before any memory is touched, so a bad label gives an error
// instead of a wild read.
#include <cstring>

#include "core/convert.h"
#include "core/cpu/cpu_kernels.h"
#include "core/parallel.h"

namespace glassbox::cpu {
namespace {

void check_indices(const Tensor& index, int64_t limit, const char* op, const Tensor& a,
                   int64_t dim) {
  const int64_t* ix = index.data_ptr<int64_t>();  // index is contiguous here
  for (int64_t i = 0; i < index.numel(); ++i)
    GB_CHECK(ix[i] >= 0 && ix[i] < limit, op, ": index ", ix[i], " is out of range for dim ", dim,
             " with size ", limit, " (input ", a.shape_str(), ", index ", index.shape_str(), ")");
}

}  // namespace

Tensor index_select(const Tensor& a_in, int64_t dim, const Tensor& index_in) {
  Tensor a = a_in.contiguous(), index = index_in.contiguous();
  check_indices(index, a.size(dim), "index_select", a_in, dim);
  Shape out_shape = a.shape();
  out_shape[dim] = index.numel();
  Tensor out = empty(out_shape, dtype(a.dtype()));
  int64_t outer, inner;
  split_at(a.shape(), dim, outer, inner);
  const size_t es = dtype_size(a.dtype());
  const int64_t n = index.numel(), src_rows = a.size(dim);
  const int64_t* ix = index.data_ptr<int64_t>();
  const char* src = static_cast<const char*>(a.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  parallel_for(outer * n, inner, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t o = r / n, i = r % n;
      std::memcpy(dst + r * inner * es, src + (o * src_rows + ix[i]) * inner * es, inner * es);
    }
  });
  return out;
}

void index_add_(const Tensor& dst, int64_t dim, const Tensor& index_in, const Tensor& src_in) {
  GB_CHECK(dst.is_contiguous(), "index_add_: destination must be contiguous");
  Tensor index = index_in.contiguous(), src = src_in.contiguous();
  check_indices(index, dst.size(dim), "index_add_", dst, dim);
  int64_t outer, inner;
  split_at(dst.shape(), dim, outer, inner);
  const int64_t n = index.numel(), dst_rows = dst.size(dim);
  const int64_t* ix = index.data_ptr<int64_t>();
  GB_DISPATCH_FLOAT(dst.dtype(), "index_add_", [&] {
    using T = scalar_t;
    T* d = dst.data_ptr<T>();
    const T* s = src.data_ptr<T>();
    // parallel over `outer` only: repeated indices then never race
    parallel_for(outer, n * inner, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o)
        for (int64_t i = 0; i < n; ++i) {
          T* drow = d + (o * dst_rows + ix[i]) * inner;
          const T* srow = s + (o * n + i) * inner;
          for (int64_t j = 0; j < inner; ++j) drow[j] += srow[j];
        }
    });
  });
}

Tensor gather(const Tensor& a_in, int64_t dim, const Tensor& index_in) {
  Tensor a = a_in.contiguous(), index = index_in.contiguous();
  check_indices(index, a.size(dim), "gather", a_in, dim);
  Tensor out = empty(index.shape(), dtype(a.dtype()));
  const Shape& is = index.shape();
  int64_t outer, inner;
  split_at(is, dim, outer, inner);
  int64_t a_outer, a_inner;
  split_at(a.shape(), dim, a_outer, a_inner);
  const int64_t n = is[dim], a_rows = a.size(dim);
  const int64_t* ix = index.data_ptr<int64_t>();
  // index dims other than `dim` may be smaller than a's: map each index coordinate to a
  const Shape ashape = a.shape();
  GB_DISPATCH_ALL(a.dtype(), "gather", [&] {
    using T = scalar_t;
    const T* s = a.data_ptr<T>();
    T* d = out.data_ptr<T>();
    for (int64_t o = 0; o < outer; ++o) {
      // outer coordinate -> a's outer offset
      int64_t rem = o, a_o = 0, mult = 1;
      for (int64_t k = dim - 1; k >= 0; --k) {
        a_o += (rem % is[k]) * mult;
        rem /= is[k];
        mult *= ashape[k];
      }
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < inner; ++j) {
          int64_t rj = j, a_j = 0, m2 = 1;
          for (int64_t k = static_cast<int64_t>(is.size()) - 1; k > dim; --k) {
            a_j += (rj % is[k]) * m2;
            rj /= is[k];
            m2 *= ashape[k];
          }
          int64_t flat = (o * n + i) * inner + j;
          d[flat] = s[(a_o * a_rows + ix[flat]) * a_inner + a_j];
        }
    }
  });
  return out;
}

void scatter_add_(const Tensor& dst, int64_t dim, const Tensor& index_in, const Tensor& src_in) {
  GB_CHECK(dst.is_contiguous(), "scatter_add_: destination must be contiguous");
  Tensor index = index_in.contiguous(), src = src_in.contiguous();
  check_indices(index, dst.size(dim), "scatter_add_", dst, dim);
  const Shape& is = index.shape();
  int64_t outer, inner;
  split_at(is, dim, outer, inner);
  int64_t d_outer, d_inner;
  split_at(dst.shape(), dim, d_outer, d_inner);
  const int64_t n = is[dim], d_rows = dst.size(dim);
  const int64_t* ix = index.data_ptr<int64_t>();
  const Shape dshape = dst.shape();
  GB_DISPATCH_FLOAT(dst.dtype(), "scatter_add_", [&] {
    using T = scalar_t;
    T* d = dst.data_ptr<T>();
    const T* s = src.data_ptr<T>();
    for (int64_t o = 0; o < outer; ++o) {
      int64_t rem = o, d_o = 0, mult = 1;
      for (int64_t k = dim - 1; k >= 0; --k) {
        d_o += (rem % is[k]) * mult;
        rem /= is[k];
        mult *= dshape[k];
      }
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < inner; ++j) {
          int64_t rj = j, d_j = 0, m2 = 1;
          for (int64_t k = static_cast<int64_t>(is.size()) - 1; k > dim; --k) {
            d_j += (rj % is[k]) * m2;
            rj /= is[k];
            m2 *= dshape[k];
          }
          int64_t flat = (o * n + i) * inner + j;
          d[(d_o * d_rows + ix[flat]) * d_inner + d_j] += s[flat];
        }
    }
  });
}

void masked_fill_(const Tensor& dst, const Tensor& mask, double value) {
  const bool* m = mask.data_ptr<bool>();
  GB_DISPATCH_ALL(dst.dtype(), "masked_fill", [&] {
    using T = scalar_t;
    T* d = dst.data_ptr<T>();
    const T v = convert_value<T, double>(value);  // as fill_: saturating, NaN-safe
    parallel_for(dst.numel(), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        if (m[i]) d[i] = v;
    });
  });
}

}  // namespace glassbox::cpu
