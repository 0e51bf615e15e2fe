#pragma once
// CUDA implementations of core/kernels.h (same signatures; operands already on one CUDA
// device, checked by the dispatch layer). Built from cuda/*.cu by nvcc for a real GPU, or by
// the host compiler for the emulator (GLASSBOX_CUDA_EMU). Results are allocated on the
// operands' device; the work is queued on that device's stream.
#include <utility>
#include <vector>

#include "core/kernels.h"

namespace glassbox::gpu {
using kernels::Binary;
using kernels::Compare;
using kernels::Reduce;
using kernels::Unary;

void copy(const Tensor& dst, const Tensor& src);  // both on the same device
void fill(const Tensor& dst, double value);
Tensor binary(Binary op, const Tensor& a, const Tensor& b, const char* name);
void binary_(Binary op, const Tensor& dst, const Tensor& src, const char* name);
void axpy_(const Tensor& dst, const Tensor& src, double alpha);
Tensor unary(Unary op, const Tensor& a, double param = 0.0, double param2 = 0.0);
// out = cond ? a : b, all three broadcast; cond bool, a and b one dtype (checked by the caller).
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor compare(Compare op, const Tensor& a, const Tensor& b, const char* name);
Tensor reduce(Reduce op, const Tensor& a, const std::vector<int64_t>& dims, bool keepdim);
std::pair<Tensor, Tensor> reduce_with_index(Reduce op, const Tensor& a, int64_t dim, bool keepdim);
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);
void index_add_(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src);
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);
void scatter_add_(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src);
std::pair<Tensor, Tensor> sort_rows(const Tensor& a, bool descending);
void masked_fill_(const Tensor& dst, const Tensor& mask, double value);
void random_fill(const Tensor& out, const RandomDist& dist, uint64_t seed, uint64_t base_offset);

}  // namespace glassbox::gpu
