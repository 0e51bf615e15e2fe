// softmax / log_softmax over one dim, and their backward. The tensor is viewed as
// [outer, n, inner] with the softmax dim in the middle; each (outer, inner) pair is one row of
// n elements, `inner` apart. Rows are independent and split across threads. The row max is
// subtracted before exponentiating (no overflow), and sums accumulate in double.
#include <cmath>

#include "core/cpu/nn_kernels.h"
#include "core/parallel.h"

namespace glassbox::cpu {
namespace {

using kernels::rows_of;
using kernels::RowView;

}  // namespace

Tensor softmax(const Tensor& input, int64_t dim, bool log) {
  Tensor in = input.contiguous();
  Tensor out = empty(in.shape(), dtype(in.dtype()));
  if (in.numel() == 0) return out;
  const RowView v = rows_of(in.shape(), dim);
  GB_DISPATCH_FLOAT(in.dtype(), log ? "log_softmax" : "softmax", [&] {
    const scalar_t* src = in.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    parallel_for(v.outer * v.inner, v.n * 4, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t base = (r / v.inner) * v.n * v.inner + r % v.inner, st = v.inner;
        const scalar_t* x = src + base;
        scalar_t* y = dst + base;
        scalar_t mx = x[0];
        for (int64_t j = 1; j < v.n; ++j)
          mx = x[j * st] > mx || std::isnan(x[j * st]) ? x[j * st] : mx;
        double sum = 0.0;
        for (int64_t j = 0; j < v.n; ++j) sum += std::exp(double(x[j * st] - mx));
        if (log) {
          const scalar_t shift = mx + scalar_t(std::log(sum));
          for (int64_t j = 0; j < v.n; ++j) y[j * st] = x[j * st] - shift;
        } else {
          const double inv = 1.0 / sum;
          for (int64_t j = 0; j < v.n; ++j)
            y[j * st] = scalar_t(std::exp(double(x[j * st] - mx)) * inv);
        }
      }
    });
  });
  return out;
}

Tensor softmax_backward(const Tensor& grad_out, const Tensor& out, int64_t dim, bool log) {
  Tensor g = grad_out.contiguous(), o = out.contiguous();
  Tensor gi = empty(o.shape(), dtype(o.dtype()));
  if (o.numel() == 0) return gi;
  const RowView v = rows_of(o.shape(), dim);
  GB_DISPATCH_FLOAT(o.dtype(), log ? "log_softmax backward" : "softmax backward", [&] {
    const scalar_t* gp = g.data_ptr<scalar_t>();
    const scalar_t* op = o.data_ptr<scalar_t>();
    scalar_t* dst = gi.data_ptr<scalar_t>();
    parallel_for(v.outer * v.inner, v.n * 4, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t base = (r / v.inner) * v.n * v.inner + r % v.inner, st = v.inner;
        const scalar_t *gr = gp + base, *y = op + base;
        scalar_t* dx = dst + base;
        double s = 0.0;
        if (log) {  // d/dx_j = g_j - exp(y_j) * sum_k g_k
          for (int64_t j = 0; j < v.n; ++j) s += gr[j * st];
          for (int64_t j = 0; j < v.n; ++j)
            dx[j * st] = scalar_t(gr[j * st] - std::exp(double(y[j * st])) * s);
        } else {  // d/dx_j = y_j * (g_j - sum_k g_k y_k)
          for (int64_t j = 0; j < v.n; ++j) s += double(gr[j * st]) * y[j * st];
          for (int64_t j = 0; j < v.n; ++j) dx[j * st] = scalar_t(y[j * st] * (gr[j * st] - s));
        }
      }
    });
  });
  return gi;
}

}  // namespace glassbox::cpu
