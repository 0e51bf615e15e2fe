#pragma once
// The device-dispatch layer: one entry point per kernel, routing to core/cpu/ or cuda/.
// Nothing here records autograd history; the differentiable ops in autograd/functions/
// call these for their forward and backward math.
#include <initializer_list>
#include <utility>
#include <vector>

#include "core/philox.h"
#include "core/tensor.h"

namespace glassbox::kernels {

// The dtype rule of every binary op and comparison: both operands share one dtype.
void check_same_dtype(const Tensor& a, const Tensor& b, const char* name);

// PassIfPositive: a where b > 0, else 0 (ReLU's backward: the gradient where the output is
// positive), in one pass.
enum class Binary { Add, Sub, Mul, Div, Pow, Maximum, Minimum, PassIfPositive };
enum class Unary {
  Neg,
  Exp,
  Log,
  Sqrt,
  Relu,
  Sigmoid,
  Tanh,
  Abs,
  PowScalar,
  Sign,
  // activations (p = param, q = param2): LeakyRelu slope p; Elu alpha p; Softplus beta p,
  // threshold q; Clamp to [p, q] (+-inf for a missing bound; also Hardtanh)
  Silu,
  Gelu,
  GeluTanh,
  LeakyRelu,
  Elu,
  Softplus,
  Mish,
  Clamp,
  // their derivatives d/dx at x (backward multiplies by the incoming gradient), same params;
  // InClosedRange / InOpenRange: 1 where p <= x <= q (clamp) / p < x < q (hardtanh), else 0
  SiluGrad,
  GeluGrad,
  GeluTanhGrad,
  LeakyReluGrad,
  EluGrad,
  SoftplusGrad,
  MishGrad,
  InClosedRange,
  InOpenRange
};
enum class Compare { Eq, Ne, Lt, Le, Gt, Ge };
enum class Reduce { Sum, Max, Min };

// dst[i] = src[broadcast i], converting dtype. Shapes must broadcast to dst.
void copy(const Tensor& dst, const Tensor& src);
void fill(const Tensor& dst, double value);
// out = cond ? a : b with broadcasting of all three; cond is bool, a and b share a dtype.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// out = a op b with broadcasting; a and b share a dtype.
Tensor binary(Binary op, const Tensor& a, const Tensor& b, const char* name);
// dst = dst op src (src broadcast to dst), in place.
void binary_(Binary op, const Tensor& dst, const Tensor& src, const char* name);
// dst += alpha * src (src broadcast to dst), in place.
void axpy_(const Tensor& dst, const Tensor& src, double alpha);
Tensor unary(Unary op, const Tensor& a, double param = 0.0, double param2 = 0.0);
const char* unary_name(Unary op);  // "exp", ... for error messages
Tensor compare(Compare op, const Tensor& a, const Tensor& b, const char* name);
// Sum/max/min over `dims` (already wrapped, unique); keepdim keeps size-1 dims.
Tensor reduce(Reduce op, const Tensor& a, const std::vector<int64_t>& dims, bool keepdim);
// Max/min over one dim with the index of the winner (first on ties).
std::pair<Tensor, Tensor> reduce_with_index(Reduce op, const Tensor& a, int64_t dim, bool keepdim);
// Batched matmul: a [B,n,k], b [B,k,m] -> [B,n,m]. Any strides.
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);
// dst.index_add_(dim, index, src): dst[.., index[i], ..] += src[.., i, ..]
void index_add_(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src);
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);
// dst.scatter_add_(dim, index, src): dst[.., index[..], ..] += src[..]
void scatter_add_(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src);
// Sorts every row of a contiguous [rows, n] tensor, stably, NaN as the largest value:
// (values, int64 indices within the row), both contiguous [rows, n].
std::pair<Tensor, Tensor> sort_rows(const Tensor& a, bool descending);
// dst[i] = value where mask[i]; dst contiguous, mask a contiguous bool of dst's shape.
void masked_fill_(const Tensor& dst, const Tensor& mask, double value);
// out (contiguous, float32 or float64) = draws of `dist` from Philox blocks base_offset.. of the
// stream keyed by `seed`, element i from block base_offset + i / (16 / element size)
// (core/philox.h); the same bits on every device. Generator::reserve hands out base_offset.
void random_fill(const Tensor& out, const RandomDist& dist, uint64_t seed, uint64_t base_offset);

}  // namespace glassbox::kernels
