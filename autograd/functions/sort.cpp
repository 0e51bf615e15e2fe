// sort and topk. The kernel sorts the rows of a contiguous [rows, n] tensor (core/cpu/sort.cpp,
// cuda/kernels/sort.cuh), so the op moves `dim` last, sorts, and moves it back. Backward of
// both: the values are a gather along dim by the returned indices, so the gradient is the
// matching scatter_add into zeros of the input's shape (each index appears once per row).
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "core/kernels.h"
#include "core/ops.h"

namespace glassbox {
using autograd::needs_grad;
using autograd::record;

namespace {

// (values, indices) of a sorted along dim, in a's shape, contiguous, with no history.
std::pair<Tensor, Tensor> sorted_along(const Tensor& a, int64_t dim, bool descending) {
  Tensor moved = a.detach().transpose(dim, a.dim() - 1).contiguous();
  const int64_t n = moved.size(moved.dim() - 1);
  const int64_t rows = n > 0 ? moved.numel() / n : 0;
  auto [v, i] = kernels::sort_rows(moved.reshape({rows, n}), descending);
  return {v.view(moved.shape()).transpose(dim, a.dim() - 1).contiguous(),
          i.view(moved.shape()).transpose(dim, a.dim() - 1).contiguous()};
}

// Records the scatter backward on `values` (gathered from a along dim by `indices`).
void record_gather_backward(const char* name, const Tensor& values, const Tensor& a,
                            const Tensor& indices, int64_t dim) {
  record(name, values, {a}, [indices, dim, shape = a.shape()](const Tensor& g) {
    Tensor gi = zeros(shape, dtype(g.dtype()).set_device(g.device()));
    kernels::scatter_add_(gi, dim, indices, g.contiguous());
    return std::vector<Tensor>{gi};
  });
}

void check_sortable(const Tensor& a, const char* op) {
  GB_CHECK(a.defined(), op, ": undefined tensor");
  GB_CHECK(a.dtype() != kBool, op, ": not supported for bool tensors (input ", a.shape_str(),
           "); convert with .to(kUInt8)");
}

}  // namespace

std::pair<Tensor, Tensor> sort(const Tensor& a, int64_t dim, bool descending) {
  check_sortable(a, "sort");
  dim = wrap_dim(dim, a.shape(), "sort");
  if (a.dim() == 0) {
    Tensor values = a.clone();  // CloneBackward carries the gradient
    return {values, zeros({}, dtype(kInt64).set_device(a.device()))};
  }
  auto [values, indices] = sorted_along(a, dim, descending);
  if (needs_grad({a})) record_gather_backward("SortBackward", values, a, indices, dim);
  return {values, indices};
}

std::pair<Tensor, Tensor> topk(const Tensor& a, int64_t k, int64_t dim, bool largest, bool sorted) {
  (void)sorted;  // the result is always sorted, which `sorted = false` permits
  check_sortable(a, "topk");
  dim = wrap_dim(dim, a.shape(), "topk");
  const int64_t n = a.dim() == 0 ? 1 : a.size(dim);
  GB_CHECK(k >= 0 && k <= n, "topk: k ", k, " is out of range for dim ", dim, " of size ", n,
           " (input ", a.shape_str(), ")");
  if (a.dim() == 0) {  // as a 1-element row; k = 1 gives 0-d results, as in PyTorch
    auto [v, i] = topk(a.reshape({1}), k, 0, largest, sorted);
    if (k == 1) return {v.reshape({}), i.reshape({})};
    return {v, i};
  }
  auto [all_values, all_indices] = sorted_along(a, dim, largest);
  Tensor values = all_values.narrow(dim, 0, k).contiguous();
  Tensor indices = all_indices.narrow(dim, 0, k).contiguous();
  if (needs_grad({a})) record_gather_backward("TopkBackward", values, a, indices, dim);
  return {values, indices};
}

}  // namespace glassbox
