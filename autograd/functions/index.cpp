// Joining and indexing: cat/stack (backward: narrow the gradient back apart),
// index_select (backward: index_add), gather (backward: scatter_add; used by NLLLoss),
// masked_select / x.index(mask) (an index_select of the true positions) and masked_fill.
#include "autograd/node.h"
#include "core/kernels.h"
#include "core/ops.h"

namespace glassbox {
using autograd::needs_grad;
using autograd::record;
using autograd::sum_to;

// A 1-D tensor of size 0 joins anything (PyTorch's legacy rule, so that an empty
// accumulator can be cat-ed onto): it is skipped by the shape checks and contributes nothing.
static bool legacy_empty(const Tensor& t) { return t.dim() == 1 && t.size(0) == 0; }

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  GB_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i)
    GB_CHECK(tensors[i].defined(), "cat: tensor ", i, " is undefined");
  size_t ref_i = 0;  // the tensor the others are checked against
  while (ref_i + 1 < tensors.size() && legacy_empty(tensors[ref_i])) ++ref_i;
  const Tensor& first = tensors[ref_i];
  GB_CHECK(first.dim() > 0, "cat: zero-dimensional tensors cannot be joined (tensor ", ref_i,
           " is 0-d); unsqueeze them or use stack");
  dim = wrap_dim(dim, first.shape(), "cat");
  Shape out_shape = first.shape();
  out_shape[dim] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    GB_CHECK(t.dtype() == first.dtype() && t.device() == first.device(), "cat: tensor ", i, " is ",
             dtype_name(t.dtype()), " on ", t.device().str(), " but tensor ", ref_i, " is ",
             dtype_name(first.dtype()), " on ", first.device().str(), "; convert with .to()");
    if (legacy_empty(t) && !legacy_empty(first)) continue;
    bool same = t.dim() == first.dim();
    for (int64_t d = 0; same && d < t.dim(); ++d) same = d == dim || t.size(d) == first.size(d);
    GB_CHECK(same, "cat: tensor ", i, " has shape ", t.shape_str(), " but tensor ", ref_i, " has ",
             first.shape_str(), "; they must match except in dim ", dim);
    out_shape[dim] += t.size(dim);
  }
  Tensor out =
      empty(out_shape, TensorOptions().set_dtype(first.dtype()).set_device(first.device()));
  std::vector<int64_t> lengths;  // -1: a skipped legacy empty tensor
  int64_t at = 0;
  for (const Tensor& t : tensors) {
    if (legacy_empty(t) && !legacy_empty(first)) {
      lengths.push_back(-1);
      continue;
    }
    kernels::copy(out.detach().narrow(dim, at, t.size(dim)), t);
    lengths.push_back(t.size(dim));
    at += t.size(dim);
  }
  if (needs_grad(tensors))
    record("CatBackward", out, tensors, [dim, lengths](const Tensor& g) {
      std::vector<Tensor> grads;
      int64_t pos = 0;
      for (int64_t len : lengths) {
        if (len < 0) {
          grads.push_back(zeros({0}, dtype(g.dtype()).set_device(g.device())));
          continue;
        }
        grads.push_back(g.narrow(dim, pos, len));
        pos += len;
      }
      return grads;
    });
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  GB_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  GB_CHECK(tensors[0].defined(), "stack: tensor 0 is undefined");
  dim = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    GB_CHECK(tensors[i].defined(), "stack: tensor ", i, " is undefined");
    GB_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i, " has shape ",
             tensors[i].shape_str(), " but tensor 0 has ", tensors[0].shape_str(),
             "; stack needs equal shapes");
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

namespace {

// The mask broadcast against a, contiguous; checks dtype and device and names `op`.
Tensor broadcast_mask(const char* op, const Tensor& a, const Tensor& mask, Shape& shape) {
  GB_CHECK(a.defined() && mask.defined(), op, ": undefined tensor");
  GB_CHECK(mask.dtype() == kBool, op, ": mask must be bool, got ", dtype_name(mask.dtype()),
           " (input ", a.shape_str(), ", mask ", mask.shape_str(), "); make one with a comparison");
  GB_CHECK(mask.device() == a.device(), op, ": the input is on ", a.device().str(),
           " but the mask is on ", mask.device().str(), " (input ", a.shape_str(), ", mask ",
           mask.shape_str(), ")");
  shape = broadcast_shapes(a.shape(), mask.shape(), op);
  return mask.expand(shape).contiguous();
}

// The flat positions of the true entries of a contiguous bool mask, as int64 on `device`.
// Their count decides the output size, so a device mask is read on the host.
Tensor true_positions(const Tensor& mask, Device device) {
  Tensor host = mask.to(kCPU).contiguous();
  const bool* m = host.data_ptr<bool>();
  std::vector<int64_t> pos;
  for (int64_t i = 0; i < host.numel(); ++i)
    if (m[i]) pos.push_back(i);
  Tensor out = from_vector(pos, {static_cast<int64_t>(pos.size())});
  return out.to(device);
}

}  // namespace

Tensor masked_select(const Tensor& a, const Tensor& mask) {
  Shape shape;
  Tensor m = broadcast_mask("masked_select", a, mask, shape);
  return index_select(a.expand(shape).reshape({-1}), 0, true_positions(m, a.device()));
}

Tensor masked_fill(const Tensor& a, const Tensor& mask, double value) {
  Shape shape;
  Tensor m = broadcast_mask("masked_fill", a, mask, shape);
  Tensor out = empty(shape, TensorOptions().set_dtype(a.dtype()).set_device(a.device()));
  kernels::copy(out, a);
  kernels::masked_fill_(out, m, value);
  if (needs_grad({a}))
    record("MaskedFillBackward", out, {a},
           [m, a_shape = a.shape()](const Tensor& g) {
             Tensor gi = g.detach().clone();
             kernels::masked_fill_(gi, m, 0.0);
             return std::vector<Tensor>{sum_to(gi, a_shape)};
           },
           {m});  // m may be the caller's mask itself: an in-place change to it is caught
  return out;
}

Tensor Tensor::operator[](int64_t index) const {
  check_defined("operator[]");
  GB_CHECK(dim() > 0, "operator[]: cannot index a 0-d tensor (use item())");
  GB_CHECK(index >= -size(0) && index < size(0), "operator[]: index ", index,
           " is out of range for dim 0 of size ", size(0), " (input ", shape_str(), ")");
  return select(0, index);
}
Tensor Tensor::operator[](const Tensor& index) const { return this->index(index); }

// x.index(mask): the mask covers the leading mask.dim() dims (PyTorch's x[mask]), giving
// [count, remaining dims...]. x.index(idx) with int64 idx: rows of dim 0, negative ones
// counted from the end, giving idx.shape() + the remaining dims.
Tensor Tensor::index(const Tensor& index) const {
  check_defined("index");
  GB_CHECK(index.defined(), "index: undefined index tensor");
  GB_CHECK(dim() > 0, "index: cannot index a 0-d tensor ", shape_str());
  if (index.dtype() == kBool) {
    const int64_t k = index.dim();
    bool leading = k >= 1 && k <= dim();
    for (int64_t d = 0; leading && d < k; ++d) leading = index.size(d) == size(d);
    GB_CHECK(leading, "index: mask ", index.shape_str(), " does not match the leading dims of the ",
             "input ", shape_str());
    GB_CHECK(index.device() == device(), "index: the input is on ", device().str(),
             " but the mask is on ", index.device().str());
    Tensor rows = flatten(0, k - 1);
    return glassbox::index_select(rows, 0, true_positions(index.contiguous(), device()));
  }
  GB_CHECK(index.dtype() == kInt64, "index: expected an int64 or bool index tensor, got ",
           dtype_name(index.dtype()), " (input ", shape_str(), ", index ", index.shape_str(), ")");
  Tensor flat = index.reshape({-1});
  // negative rows count from the end, as in x[idx] in PyTorch
  Tensor wrapped = flat + (flat < 0.0).to(kInt64) * scalar_like(flat, double(size(0)));
  Tensor picked = glassbox::index_select(*this, 0, wrapped);
  Shape out_shape = index.shape();
  for (int64_t d = 1; d < dim(); ++d) out_shape.push_back(size(d));
  return picked.reshape(out_shape);
}
Tensor Tensor::index_select(int64_t d, const Tensor& index) const {
  return glassbox::index_select(*this, d, index);
}
Tensor Tensor::masked_select(const Tensor& mask) const {
  return glassbox::masked_select(*this, mask);
}
Tensor Tensor::masked_fill(const Tensor& mask, double value) const {
  return glassbox::masked_fill(*this, mask, value);
}

}  // namespace glassbox
