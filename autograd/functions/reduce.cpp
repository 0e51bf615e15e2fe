// Reductions and their backward: a sum's gradient is broadcast back over the reduced dims;
// a max/min's goes to the winning element (ties share it evenly for the whole-tensor form,
// as in PyTorch).
#include <algorithm>

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

}  // namespace

Tensor sum(const Tensor& a, std::vector<int64_t> dims, bool keepdim) {
  dims = normalize_dims(a, std::move(dims), "sum");
  Tensor out = kernels::reduce(Reduce::Sum, a, dims, keepdim);
  if (needs_grad({a}))
    record("SumBackward", out, {a},
           [shape = a.shape(), kept = kept_shape(a, dims)](const Tensor& g) {
             return std::vector<Tensor>{g.reshape(kept).expand(shape)};
           });
  return out;
}

Tensor mean(const Tensor& a, std::vector<int64_t> dims, bool keepdim) {
  GB_CHECK(is_floating(a.dtype()), "mean: expected a floating-point tensor, got ",
           dtype_name(a.dtype()), " ", a.shape_str());
  dims = normalize_dims(a, std::move(dims), "mean");
  int64_t count = 1;
  for (int64_t d : dims) count *= a.size(d);
  return sum(a, dims.empty() && a.dim() > 0 ? std::vector<int64_t>{} : dims, keepdim) /
         static_cast<double>(count);
}

static Tensor full_extremum(const Tensor& a, bool is_max) {
  const char* name = is_max ? "max" : "min";
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

static std::pair<Tensor, Tensor> dim_extremum(const Tensor& a, int64_t dim, bool keepdim,
                                              bool is_max) {
  const char* name = is_max ? "max" : "min";
  dim = wrap_dim(dim, a.shape(), name);
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
  return dim_extremum(a, dim, keepdim, true);
}
std::pair<Tensor, Tensor> min(const Tensor& a, int64_t dim, bool keepdim) {
  return dim_extremum(a, dim, keepdim, false);
}
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim) {
  NoGradGuard ng;
  return dim_extremum(a, dim, keepdim, true).second;
}
Tensor argmin(const Tensor& a, int64_t dim, bool keepdim) {
  NoGradGuard ng;
  return dim_extremum(a, dim, keepdim, false).second;
}

}  // namespace glassbox
