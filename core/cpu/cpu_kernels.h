#pragma once
// CPU implementations of core/kernels.h (same signatures; inputs already on the CPU).
#include <utility>
#include <vector>

#include "core/kernels.h"

namespace glassbox::cpu {
using kernels::Binary;
using kernels::Compare;
using kernels::Reduce;
using kernels::Unary;

// dst[i] = src[broadcast i], converting dtype. Shapes must broadcast to dst.
void copy(const Tensor& dst, const Tensor& src);
void fill(const Tensor& dst, double value);
// out = a op b with broadcasting; a and b share a dtype.
Tensor binary(Binary op, const Tensor& a, const Tensor& b, const char* name);
// dst = dst op src (src broadcast to dst), in place.
void binary_(Binary op, const Tensor& dst, const Tensor& src, const char* name);
// dst += alpha * src (src broadcast to dst), in place.
void axpy_(const Tensor& dst, const Tensor& src, double alpha);
Tensor unary(Unary op, const Tensor& a, double param = 0.0, double param2 = 0.0);
// out = cond ? a : b, all three broadcast; cond bool, a and b one dtype (checked by the caller).
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
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
std::pair<Tensor, Tensor> sort_rows(const Tensor& a, bool descending);
void masked_fill_(const Tensor& dst, const Tensor& mask, double value);
// out = draws of `dist` from Philox blocks base_offset.. (core/philox.h); out is contiguous
// and floating (checked by the dispatch layer).
void random_fill(const Tensor& out, const RandomDist& dist, uint64_t seed, uint64_t base_offset);

}  // namespace glassbox::cpu
