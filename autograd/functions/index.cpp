// Joining and indexing: cat/stack (backward: narrow the gradient back apart),
// index_select (backward: index_add) and gather (backward: scatter_add; used by NLLLoss).
#include "autograd/node.h"
#include "core/kernels.h"
#include "core/ops.h"

namespace glassbox {
using autograd::needs_grad;
using autograd::record;

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  GB_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Tensor& first = tensors[0];
  GB_CHECK(first.defined() && first.dim() > 0, "cat: zero-dimensional tensors cannot be joined");
  dim = wrap_dim(dim, first.shape(), "cat");
  Shape out_shape = first.shape();
  out_shape[dim] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    GB_CHECK(t.defined(), "cat: tensor ", i, " is undefined");
    GB_CHECK(t.dtype() == first.dtype() && t.device() == first.device(), "cat: tensor ", i, " is ",
             dtype_name(t.dtype()), " on ", t.device().str(), " but tensor 0 is ",
             dtype_name(first.dtype()), " on ", first.device().str());
    bool same = t.dim() == first.dim();
    for (int64_t d = 0; same && d < t.dim(); ++d) same = d == dim || t.size(d) == first.size(d);
    GB_CHECK(same, "cat: tensor ", i, " has shape ", t.shape_str(), " but tensor 0 has ",
             first.shape_str(), "; they must match except in dim ", dim);
    out_shape[dim] += t.size(dim);
  }
  Tensor out =
      empty(out_shape, TensorOptions().set_dtype(first.dtype()).set_device(first.device()));
  std::vector<int64_t> lengths;
  int64_t at = 0;
  for (const Tensor& t : tensors) {
    kernels::copy(out.detach().narrow(dim, at, t.size(dim)), t);
    lengths.push_back(t.size(dim));
    at += t.size(dim);
  }
  if (needs_grad(tensors))
    record("CatBackward", out, tensors, [dim, lengths](const Tensor& g) {
      std::vector<Tensor> grads;
      int64_t pos = 0;
      for (int64_t len : lengths) {
        grads.push_back(g.narrow(dim, pos, len));
        pos += len;
      }
      return grads;
    });
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  GB_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  dim = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    GB_CHECK(tensors[i].defined() && tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i,
             " has shape ", tensors[i].shape_str(), " but tensor 0 has ", tensors[0].shape_str());
    parts.push_back(tensors[i].unsqueeze(dim));
  }
  return cat(parts, dim);
}

static void check_index(const char* op, const Tensor& a, const Tensor& index) {
  GB_CHECK(a.defined() && index.defined(), op, ": undefined tensor");
  GB_CHECK(index.dtype() == kInt64, op, ": index must be int64, got ", dtype_name(index.dtype()),
           " (input ", a.shape_str(), ", index ", index.shape_str(), ")");
  GB_CHECK(a.dim() > 0, op, ": input must have at least 1 dim");
}

Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index) {
  check_index("index_select", a, index);
  GB_CHECK(index.dim() <= 1, "index_select: index must be 1-D, got ", index.shape_str());
  dim = wrap_dim(dim, a.shape(), "index_select");
  Tensor idx = index.reshape({-1});
  Tensor out = kernels::index_select(a, dim, idx);
  if (needs_grad({a}))
    record("IndexSelectBackward", out, {a}, [idx, dim, shape = a.shape()](const Tensor& g) {
      Tensor gi = zeros(shape, dtype(g.dtype()).set_device(g.device()));
      kernels::index_add_(gi, dim, idx, g);
      return std::vector<Tensor>{gi};
    });
  return out;
}

Tensor gather(const Tensor& a, int64_t dim, const Tensor& index) {
  check_index("gather", a, index);
  dim = wrap_dim(dim, a.shape(), "gather");
  GB_CHECK(index.dim() == a.dim(), "gather: index has ", index.dim(), " dims but input has ",
           a.dim(), " (input ", a.shape_str(), ", index ", index.shape_str(), ")");
  for (int64_t d = 0; d < a.dim(); ++d)
    GB_CHECK(d == dim || index.size(d) <= a.size(d), "gather: index ", index.shape_str(),
             " is larger than input ", a.shape_str(), " in dim ", d);
  Tensor out = kernels::gather(a, dim, index);
  if (needs_grad({a}))
    record("GatherBackward", out, {a}, [index, dim, shape = a.shape()](const Tensor& g) {
      Tensor gi = zeros(shape, dtype(g.dtype()).set_device(g.device()));
      kernels::scatter_add_(gi, dim, index, g);
      return std::vector<Tensor>{gi};
    });
  return out;
}

}  // namespace glassbox
