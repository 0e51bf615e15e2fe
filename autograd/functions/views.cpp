// View ops: new shape/strides/offset over the same Storage, no copy. Each records a backward
// that maps the gradient back onto the base's shape.
#include <algorithm>
#include <optional>

#include "autograd/node.h"
#include "core/kernels.h"
#include "core/ops.h"

namespace glassbox {
using autograd::needs_grad;
using autograd::record;

namespace {

Tensor make_view(const Tensor& base, Shape sizes, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->sizes = std::move(sizes);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(impl);
}

// Fills in one -1 and checks the element count.
Shape infer_shape(const Shape& shape, int64_t numel, const char* op, const Tensor& t) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      GB_CHECK(infer < 0, op, ": only one dimension can be -1, got ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      GB_CHECK(out[i] >= 0, op, ": invalid size ", out[i], " in ", shape_str(shape));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    GB_CHECK(known != 0 && numel % known == 0, op, ": shape ", shape_str(shape),
             " is invalid for input ", t.shape_str(), " of ", numel, " elements");
    out[infer] = numel / known;
  }
  GB_CHECK(numel_of(out) == numel, op, ": shape ", shape_str(shape), " is invalid for input ",
           t.shape_str(), " of ", numel, " elements");
  return out;
}

// Strides for viewing (sizes, strides) as `target` without a copy, if any exist. Groups of
// old dims that are contiguous with each other may be split or merged freely.
std::optional<Shape> view_strides(const Shape& sizes, const Shape& strides, const Shape& target) {
  if (numel_of(sizes) == 0 || sizes.empty()) return contiguous_strides(target);
  Shape out(target.size());
  int64_t view_d = static_cast<int64_t>(target.size()) - 1;
  int64_t chunk_base = strides.back(), tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    tensor_numel *= sizes[d];
    if (d == 0 || (sizes[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || target[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base;
        view_numel *= target[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

void record_reshape(const char* name, const Tensor& out, const Tensor& in) {
  if (needs_grad({in}))
    record(name, out, {in},
           [shape = in.shape()](const Tensor& g) { return std::vector<Tensor>{g.reshape(shape)}; });
}

}  // namespace

Tensor Tensor::view(const Shape& shape) const {
  check_defined("view");
  Shape target = infer_shape(shape, numel(), "view", *this);
  auto st = view_strides(sizes(), strides(), target);
  GB_CHECK(st.has_value(), "view: shape ", glassbox::shape_str(target),
           " is not compatible with input ", shape_str(), " and its strides ",
           glassbox::shape_str(strides()),
           " (at least one dimension spans two non-contiguous chunks); use reshape() instead");
  Tensor out = make_view(*this, target, *st, offset());
  record_reshape("ViewBackward", out, *this);
  return out;
}

Tensor Tensor::reshape(const Shape& shape) const {
  check_defined("reshape");
  Shape target = infer_shape(shape, numel(), "reshape", *this);
  if (view_strides(sizes(), strides(), target)) return view(target);
  return contiguous().view(target);
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  check_defined("flatten");
  if (dim() == 0) return reshape({1});
  int64_t s = wrap_dim(start_dim, shape(), "flatten"), e = wrap_dim(end_dim, shape(), "flatten");
  GB_CHECK(s <= e, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim, " (input ",
           shape_str(), ")");
  Shape target(sizes().begin(), sizes().begin() + s);
  int64_t merged = 1;
  for (int64_t d = s; d <= e; ++d) merged *= size(d);
  target.push_back(merged);
  target.insert(target.end(), sizes().begin() + e + 1, sizes().end());
  return reshape(target);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  check_defined("permute");
  GB_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute: got ", dims.size(),
           " dims for a tensor of shape ", shape_str());
  Shape sz(dim()), st(dim());
  std::vector<int64_t> inverse(dim(), -1);
  for (int64_t i = 0; i < dim(); ++i) {
    int64_t d = wrap_dim(dims[i], shape(), "permute");
    GB_CHECK(inverse[d] < 0, "permute: dim ", d, " repeated (input ", shape_str(), ")");
    inverse[d] = i;
    sz[i] = size(d);
    st[i] = stride(d);
  }
  Tensor out = make_view(*this, sz, st, offset());
  if (needs_grad({*this}))
    record("PermuteBackward", out, {*this},
           [inverse](const Tensor& g) { return std::vector<Tensor>{g.permute(inverse)}; });
  return out;
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  check_defined("transpose");
  if (dim() == 0) return *this;
  std::vector<int64_t> order(dim());
  for (int64_t i = 0; i < dim(); ++i) order[i] = i;
  std::swap(order[wrap_dim(d0, shape(), "transpose")], order[wrap_dim(d1, shape(), "transpose")]);
  return permute(order);
}

Tensor Tensor::t() const {
  check_defined("t");
  GB_CHECK(dim() <= 2, "t: expects a tensor with at most 2 dims, got ", shape_str(),
           "; use transpose(d0, d1)");
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  check_defined("slice");
  GB_CHECK(dim() > 0, "slice: cannot slice a 0-d tensor");
  d = wrap_dim(d, shape(), "slice");
  GB_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t n = size(d);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape sz = sizes(), st = strides();
  sz[d] = (end - start + step - 1) / step;
  st[d] *= step;
  Tensor out = make_view(*this, sz, st, offset() + start * stride(d));
  if (needs_grad({*this}))
    record("SliceBackward", out, {*this}, [shape = sizes(), d, start, end, step](const Tensor& g) {
      Tensor gi = zeros(shape, glassbox::dtype(g.dtype()).set_device(g.device()));
      gi.slice(d, start, end, step).copy_(g);
      return std::vector<Tensor>{gi};
    });
  return out;
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  check_defined("narrow");
  GB_CHECK(dim() > 0, "narrow: cannot narrow a 0-d tensor");
  d = wrap_dim(d, shape(), "narrow");
  if (start < 0) start += size(d);
  GB_CHECK(start >= 0 && length >= 0 && start + length <= size(d), "narrow: start ", start,
           " + length ", length, " exceeds dim ", d, " of size ", size(d), " (input ", shape_str(),
           ")");
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  check_defined("select");
  GB_CHECK(dim() > 0, "select: cannot select from a 0-d tensor");
  d = wrap_dim(d, shape(), "select");
  GB_CHECK(index >= -size(d) && index < size(d), "select: index ", index, " out of range for dim ",
           d, " of size ", size(d), " (input ", shape_str(), ")");
  if (index < 0) index += size(d);
  return narrow(d, index, 1).squeeze(d);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  check_defined("unsqueeze");
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape sz = sizes(), st = strides();
  int64_t new_stride = d < dim() ? sz[d] * st[d] : 1;
  sz.insert(sz.begin() + d, 1);
  st.insert(st.begin() + d, new_stride);
  Tensor out = make_view(*this, sz, st, offset());
  record_reshape("UnsqueezeBackward", out, *this);
  return out;
}

Tensor Tensor::squeeze() const {
  check_defined("squeeze");
  Shape sz, st;
  for (int64_t d = 0; d < dim(); ++d)
    if (size(d) != 1) sz.push_back(size(d)), st.push_back(stride(d));
  Tensor out = make_view(*this, sz, st, offset());
  record_reshape("SqueezeBackward", out, *this);
  return out;
}

Tensor Tensor::squeeze(int64_t d) const {
  check_defined("squeeze");
  if (dim() == 0) return *this;
  d = wrap_dim(d, shape(), "squeeze");
  if (size(d) != 1) return *this;
  Shape sz = sizes(), st = strides();
  sz.erase(sz.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = make_view(*this, sz, st, offset());
  record_reshape("SqueezeBackward", out, *this);
  return out;
}

Tensor Tensor::expand(const Shape& shape) const {
  check_defined("expand");
  GB_CHECK(static_cast<int64_t>(shape.size()) >= dim(), "expand: target ",
           glassbox::shape_str(shape), " has fewer dims than input ", shape_str());
  const size_t lead = shape.size() - dim();
  Shape sz(shape.size()), st(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      GB_CHECK(shape[i] >= 0, "expand: -1 not allowed in a new leading dim (target ",
               glassbox::shape_str(shape), ")");
      sz[i] = shape[i];
      continue;
    }
    int64_t have = size(i - lead), want = shape[i] == -1 ? have : shape[i];
    GB_CHECK(want >= 0, "expand: invalid size ", shape[i], " in target ",
             glassbox::shape_str(shape), " (input ", shape_str(), ")");
    GB_CHECK(have == want || have == 1, "expand: cannot expand input ", shape_str(), " to ",
             glassbox::shape_str(shape), " (dim ", i, ": ", have, " -> ", want, ")");
    sz[i] = want;
    st[i] = have == want ? stride(i - lead) : 0;
  }
  if (sz == sizes()) return *this;
  Tensor out = make_view(*this, sz, st, offset());
  if (needs_grad({*this}))
    record("ExpandBackward", out, {*this}, [shape = sizes()](const Tensor& g) {
      return std::vector<Tensor>{autograd::sum_to(g, shape)};
    });
  return out;
}

Tensor Tensor::contiguous() const {
  check_defined("contiguous");
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  check_defined("clone");
  Tensor out = empty(sizes(), TensorOptions().set_dtype(dtype()).set_device(device()));
  kernels::copy(out, *this);
  if (needs_grad({*this}))
    record("CloneBackward", out, {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return out;
}

}  // namespace glassbox
