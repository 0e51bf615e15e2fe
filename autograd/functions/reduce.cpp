// Reductions and their backward: a sum's gradient is broadcast back over the reduced dims;
// a max/min's goes to the winning element (ties share it evenly for the whole-tensor form,
// as in PyTorch). var/std/norm compose existing kernels forward and record one node each.
#include <algorithm>
#include <cmath>
#include <string>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "core/kernels.h"
#include "core/ops.h"

namespace glassbox {
using autograd::needs_grad;
using autograd::record;
using kernels::Reduce;

namespace {

std::vector<int64_t> normalize_dims(const Tensor& a, std::vector<int64_t> dims, const char* op) {
  GB_CHECK(a.defined(), op, ": undefined tensor");
  if (dims.empty()) {
    for (int64_t d = 0; d < a.dim(); ++d) dims.push_back(d);
    return dims;
  }
  for (auto& d : dims) d = wrap_dim(d, a.shape(), op);
  std::vector<int64_t> sorted = dims;
  std::sort(sorted.begin(), sorted.end());
  GB_CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), op,
           ": a dim appears twice in the reduction list (input ", a.shape_str(), ")");
  if (a.dim() == 0) return {};
  return sorted;
}

// The shape `a` would have after reducing `dims` with keepdim=true.
Shape kept_shape(const Tensor& a, const std::vector<int64_t>& dims) {
  Shape s = a.shape();
  for (int64_t d : dims) s[d] = 1;
  return s;
}

void check_floating(const Tensor& a, const char* op) {
  GB_CHECK(a.defined(), op, ": undefined tensor");
  GB_CHECK(is_floating(a.dtype()), op, ": expected a floating-point tensor, got ",
           dtype_name(a.dtype()), " ", a.shape_str());
}

int64_t reduced_count(const Tensor& a, const std::vector<int64_t>& dims) {
  int64_t count = 1;
  for (int64_t d : dims) count *= a.size(d);
  return count;
}

}  // namespace

Tensor sum(const Tensor& a, const Dims& dims_in, bool keepdim) {
  std::vector<int64_t> dims = normalize_dims(a, dims_in, "sum");
  Tensor out = kernels::reduce(Reduce::Sum, a, dims, keepdim);
  if (needs_grad({a}))
    record("SumBackward", out, {a},
           [shape = a.shape(), kept = kept_shape(a, dims)](const Tensor& g) {
             return std::vector<Tensor>{g.reshape(kept).expand(shape)};
           });
  return out;
}

Tensor mean(const Tensor& a, const Dims& dims_in, bool keepdim) {
  GB_CHECK(a.defined(), "mean: undefined tensor");
  GB_CHECK(is_floating(a.dtype()), "mean: expected a floating-point tensor, got ",
           dtype_name(a.dtype()), " ", a.shape_str());
  std::vector<int64_t> dims = normalize_dims(a, dims_in, "mean");
  int64_t count = 1;
  for (int64_t d : dims) count *= a.size(d);
  return sum(a, dims.empty() && a.dim() > 0 ? std::vector<int64_t>{} : dims, keepdim) /
         static_cast<double>(count);
}

static Tensor full_extremum(const Tensor& a, bool is_max) {
  const char* name = is_max ? "max" : "min";
  GB_CHECK(a.defined(), name, ": undefined tensor");
  GB_CHECK(a.numel() > 0, name, ": cannot take the ", name, " of an empty tensor ", a.shape_str());
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < a.dim(); ++d) dims.push_back(d);
  Tensor out = kernels::reduce(is_max ? Reduce::Max : Reduce::Min, a, dims, false);
  if (needs_grad({a})) {
    Tensor sa = a.detach(), so = out.detach();
    record(is_max ? "MaxBackward" : "MinBackward", out, {a},
           [sa, so](const Tensor& g) {
             Tensor hits = eq(sa, so).to(g.dtype());
             return std::vector<Tensor>{hits * (g / sum(hits))};
           },
           {a});
  }
  return out;
}
Tensor max(const Tensor& a) { return full_extremum(a, true); }
Tensor min(const Tensor& a) { return full_extremum(a, false); }

// `name`: the op the user called (max, argmax, ...), for every error message.
static std::pair<Tensor, Tensor> dim_extremum(const Tensor& a, int64_t dim, bool keepdim,
                                              bool is_max, const char* name) {
  GB_CHECK(a.defined(), name, ": undefined tensor");
  GB_CHECK(a.dtype() != kBool, name, ": not supported for bool tensors (input ", a.shape_str(),
           "); convert with .to(kUInt8)");
  dim = wrap_dim(dim, a.shape(), name);
  GB_CHECK(a.dim() == 0 || a.size(dim) > 0, name, ": cannot reduce over dim ", dim,
           " of size 0 (input ", a.shape_str(), ")");
  if (a.dim() == 0) return {a.clone(), zeros({}, dtype(kInt64).set_device(a.device()))};
  auto [values, indices] =
      kernels::reduce_with_index(is_max ? Reduce::Max : Reduce::Min, a, dim, keepdim);
  if (needs_grad({a})) {
    Tensor idx = keepdim ? indices : indices.unsqueeze(dim);
    record(is_max ? "MaxBackward" : "MinBackward", values, {a},
           [idx, dim, keepdim, shape = a.shape()](const Tensor& g) {
             Tensor gi = zeros(shape, dtype(g.dtype()).set_device(g.device()));
             kernels::scatter_add_(gi, dim, idx, keepdim ? g : g.unsqueeze(dim));
             return std::vector<Tensor>{gi};
           });
  }
  return {values, indices};
}
std::pair<Tensor, Tensor> max(const Tensor& a, int64_t dim, bool keepdim) {
  return dim_extremum(a, dim, keepdim, true, "max");
}
std::pair<Tensor, Tensor> min(const Tensor& a, int64_t dim, bool keepdim) {
  return dim_extremum(a, dim, keepdim, false, "min");
}
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim) {
  NoGradGuard ng;
  return dim_extremum(a, dim, keepdim, true, "argmax").second;
}
Tensor argmin(const Tensor& a, int64_t dim, bool keepdim) {
  NoGradGuard ng;
  return dim_extremum(a, dim, keepdim, false, "argmin").second;
}

// var, two passes through existing kernels: the mean m, then sum((x - m)^2) / (N - c) with
// c = 1 when unbiased. Squaring deviations never subtracts two large, nearly equal numbers,
// unlike E[x^2] - E[x]^2. Backward: d var / d x_i = 2 (x_i - m) / (N - c); m's own dependence
// on x_i drops out because the deviations sum to zero. N - c = 0 gives NaN, as in PyTorch.
static Tensor var_impl(const Tensor& a, const Dims& dims_in, bool unbiased, bool keepdim,
                       const char* op) {
  check_floating(a, op);
  const std::vector<int64_t> dims = normalize_dims(a, dims_in, op);
  const double denom = std::max(0.0, double(reduced_count(a, dims)) - (unbiased ? 1.0 : 0.0));
  Tensor out, dev;
  {
    NoGradGuard ng;
    Tensor x = a.detach();
    dev = x - mean(x, dims, true);
    out = sum(dev * dev, dims, keepdim) / denom;
  }
  if (needs_grad({a}))
    record("VarBackward", out, {a}, [dev, denom, kept = kept_shape(a, dims)](const Tensor& g) {
      return std::vector<Tensor>{g.reshape(kept) * dev * (2.0 / denom)};
    });
  return out;
}

Tensor var(const Tensor& a, const Dims& dims, bool unbiased, bool keepdim) {
  return var_impl(a, dims, unbiased, keepdim, "var");
}
// sqrt's backward gives g / (2 std) * d var: NaN where std = 0, as in PyTorch.
Tensor std(const Tensor& a, const Dims& dims, bool unbiased, bool keepdim) {
  return sqrt(var_impl(a, dims, unbiased, keepdim, "std"));
}

// norm_p(x) = (sum |x_i|^p)^(1/p); p = +-inf is max/min |x_i|, p = 0 counts non-zeros.
// Backward, with n the norm (PyTorch's norm_backward):
//   p = 1: sign(x);  p = 2: x / n;  p = +-inf: sign(x) where |x_i| = n, shared by the ties;
//   other p: sign(x) |x|^(p-1) / n^(p-1), with |x|^(p-1) read as 0 at x = 0 when p < 1.
// Where n = 0 the gradient is 0 (a subgradient) instead of 0/0.
Tensor norm(const Tensor& a, double p, const Dims& dims_in, bool keepdim) {
  check_floating(a, "norm");
  GB_CHECK(!std::isnan(p), "norm: p is NaN (input ", a.shape_str(), ")");
  const std::vector<int64_t> dims = normalize_dims(a, dims_in, "norm");
  const bool is_inf = std::isinf(p);
  const int64_t count = reduced_count(a, dims);
  int64_t outputs = 1;  // the kept dims' product (numel / count fails when count is 0)
  for (int64_t d = 0; d < a.dim(); ++d)
    if (std::find(dims.begin(), dims.end(), d) == dims.end()) outputs *= a.size(d);
  GB_CHECK(!is_inf || count > 0 || outputs == 0, "norm: the ", p,
           "-norm of an empty dimension is undefined (input ", a.shape_str(), ")");
  Tensor x = a.detach(), out;
  {
    NoGradGuard ng;
    if (p == 0.0)
      out = sum((x != 0.0).to(x.dtype()), dims, keepdim);
    else if (p == 1.0)
      out = sum(abs(x), dims, keepdim);
    else if (p == 2.0)
      out = sqrt(sum(x * x, dims, keepdim));
    else if (is_inf)
      out = kernels::reduce(p > 0 ? Reduce::Max : Reduce::Min, abs(x), dims, keepdim);
    else
      out = pow(sum(pow(abs(x), p), dims, keepdim), 1.0 / p);
  }
  if (needs_grad({a}))
    record("NormBackward", out, {a},
           [x, n_out = out.detach(), p, dims, kept = kept_shape(a, dims)](const Tensor& g) {
             const Tensor n = n_out.reshape(kept), gk = g.reshape(kept);
             const Tensor sign = kernels::unary(kernels::Unary::Sign, x);
             if (p == 0.0) return std::vector<Tensor>{zeros_like(x)};
             if (p == 1.0) return std::vector<Tensor>{sign * gk};
             if (std::isinf(p)) {
               Tensor hits = (abs(x) == n).to(x.dtype());
               return std::vector<Tensor>{sign * hits * (gk / sum(hits, dims, true))};
             }
             const Tensor zero_norm = n == 0.0;
             if (p == 2.0) return std::vector<Tensor>{x * masked_fill(gk / n, zero_norm, 0.0)};
             Tensor scaled = sign * pow(abs(x), p - 1.0);
             if (p < 1.0) scaled = masked_fill(scaled, x == 0.0, 0.0);
             return std::vector<Tensor>{scaled * masked_fill(gk / pow(n, p - 1.0), zero_norm, 0.0)};
           },
           {a});
  return out;
}

Tensor norm(const Tensor& a, const std::string& p, const Dims& dims, bool keepdim) {
  GB_CHECK(p == "fro", "norm: p \"", p, "\" is not supported; use a number or \"fro\" (input ",
           a.defined() ? a.shape_str() : std::string("undefined"), ")");
  return norm(a, 2.0, dims, keepdim);
}

}  // namespace glassbox
