#pragma once
// The differentiable math API. Each op is defined, forward next to backward, in
// autograd/functions/<group>.cpp; its kernels sit behind core/kernels.h.
#include <string>
#include <optional>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace glassbox {

// --- element-wise, with NumPy/PyTorch broadcasting (operands share a dtype) ---
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& exponent);
Tensor pow(const Tensor& a, double exponent);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor abs(const Tensor& a);
// min <= x <= max, a missing bound is no bound (at least one is needed); the gradient is 1
// where min <= x <= max (bounds included) and 0 outside, as PyTorch's
Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max = std::nullopt);
Tensor clamp_min(const Tensor& a, double min);
Tensor clamp_max(const Tensor& a, double max);
Tensor square(const Tensor& a);
// condition ? a : b per element, all three broadcast; condition is bool (e.g. x > 0)
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& condition, const Tensor& a, double b);
Tensor where(const Tensor& condition, double a, const Tensor& b);
// a 0-d tensor holding `v` in t's dtype and device, for tensor-scalar ops
Tensor scalar_like(const Tensor& t, double v);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double s);
Tensor operator-(const Tensor& a, double s);
Tensor operator*(const Tensor& a, double s);
Tensor operator/(const Tensor& a, double s);
Tensor operator+(double s, const Tensor& a);
Tensor operator-(double s, const Tensor& a);
Tensor operator*(double s, const Tensor& a);
Tensor operator/(double s, const Tensor& a);

// --- comparisons: bool results, not differentiable ---
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, double s);
Tensor operator!=(const Tensor& a, double s);
Tensor operator<(const Tensor& a, double s);
Tensor operator<=(const Tensor& a, double s);
Tensor operator>(const Tensor& a, double s);
Tensor operator>=(const Tensor& a, double s);

// --- reductions (`dims`: one dim, a list, or {} for all dims; see Dims in core/tensor.h) ---
Tensor sum(const Tensor& a, const Dims& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& a, const Dims& dims = {}, bool keepdim = false);
// Two passes (the mean, then the squared deviations), so no E[x^2] - E[x]^2 cancellation.
// unbiased divides by N - 1 (PyTorch's default), else by N.
Tensor var(const Tensor& a, const Dims& dims = {}, bool unbiased = true, bool keepdim = false);
Tensor std(const Tensor& a, const Dims& dims = {}, bool unbiased = true, bool keepdim = false);
// The vector p-norm over dims: p = 2, 1, INFINITY, -INFINITY, 0 (count of non-zeros) or any
// other p; "fro" is p = 2. The gradient at a zero norm is 0 (a subgradient, as PyTorch).
Tensor norm(const Tensor& a, double p = 2.0, const Dims& dims = {}, bool keepdim = false);
Tensor norm(const Tensor& a, const std::string& p, const Dims& dims = {}, bool keepdim = false);
Tensor max(const Tensor& a);  // over everything
Tensor min(const Tensor& a);
std::pair<Tensor, Tensor> max(const Tensor& a, int64_t dim, bool keepdim = false);
std::pair<Tensor, Tensor> min(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& a, int64_t dim, bool keepdim = false);
// Stable sort along dim (ties keep their order; NaN sorts as the largest value, as in
// PyTorch): (values, int64 indices into dim). Differentiable in the values.
std::pair<Tensor, Tensor> sort(const Tensor& a, int64_t dim = -1, bool descending = false);
// The k largest (smallest when !largest) along dim, in sorted order (`sorted` = false is
// accepted and also sorts). Ties keep the lower index first.
std::pair<Tensor, Tensor> topk(const Tensor& a, int64_t k, int64_t dim = -1, bool largest = true,
                               bool sorted = true);

// --- linear algebra: 1-D, 2-D and batched (batch dims broadcast), like torch.matmul ---
Tensor matmul(const Tensor& a, const Tensor& b);

// --- joining and indexing ---
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);  // index: 1-D int64
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);        // index: int64
// The elements of `a` where `mask` (bool, broadcast with a) is true, as a 1-D tensor in
// row-major order. The output's size depends on the data: a CUDA mask is read on the host.
Tensor masked_select(const Tensor& a, const Tensor& mask);
// a with `value` where mask (bool, broadcast with a) is true; the gradient is 0 there.
Tensor masked_fill(const Tensor& a, const Tensor& mask, double value);

}  // namespace glassbox
