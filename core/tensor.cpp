// Tensor handle: metadata, element access, autograd entry points, in-place ops and the
// member spellings of the free math functions.
#include "core/tensor.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "core/kernels.h"
#include "core/ops.h"

namespace glassbox {

void Tensor::check_defined(const char* op) const {
  GB_CHECK(impl_ != nullptr, op, ": called on an undefined tensor");
}

const Shape& Tensor::shape() const {
  check_defined("shape");
  return impl_->sizes;
}
const Shape& Tensor::strides() const {
  check_defined("strides");
  return impl_->strides;
}
int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, shape(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, shape(), "stride")]; }
int64_t Tensor::numel() const { return numel_of(shape()); }
int64_t Tensor::offset() const {
  check_defined("offset");
  return impl_->offset;
}
DType Tensor::dtype() const {
  check_defined("dtype");
  return impl_->dtype;
}
Device Tensor::device() const {
  check_defined("device");
  return impl_->storage->device();
}
std::string Tensor::shape_str() const {
  return defined() ? glassbox::shape_str(shape()) : "[undefined]";
}

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // no element to be out of place
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (impl_->sizes[d] == 1) continue;
    if (impl_->strides[d] != expected) return false;
    expected *= impl_->sizes[d];
  }
  return true;
}

void* Tensor::raw_data() const {
  check_defined("data");
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * dtype_size(impl_->dtype);
}

template <class T>
T* Tensor::data_ptr() const {
  check_defined("data_ptr");
  GB_CHECK(dtype() == dtype_of<T>::value, "data_ptr: tensor is ", dtype_name(dtype()), " but ",
           dtype_name(dtype_of<T>::value), " was requested (shape ", shape_str(), ")");
  GB_CHECK(device().is_cpu(), "data_ptr: tensor is on ", device().str(),
           "; call .cpu() to read it on the host");
  return static_cast<T*>(raw_data());
}

template <class T>
T Tensor::item() const {
  check_defined("item");
  GB_CHECK(numel() == 1, "item: tensor has ", numel(), " elements (shape ", shape_str(),
           "), item() needs exactly one");
  Tensor c = detach().cpu().to(dtype_of<T>::value);
  return *c.data_ptr<T>();
}
double Tensor::item() const { return item<double>(); }

template <class T>
std::vector<T> Tensor::to_vector() const {
  check_defined("to_vector");
  Tensor c = detach().cpu().to(dtype_of<T>::value).contiguous();
  const T* p = c.data_ptr<T>();
  return std::vector<T>(p, p + c.numel());
}

#define GB_INSTANTIATE(T)                  \
  template T* Tensor::data_ptr<T>() const; \
  template T Tensor::item<T>() const;      \
  template std::vector<T> Tensor::to_vector<T>() const;
GB_INSTANTIATE(float)
GB_INSTANTIATE(double)
GB_INSTANTIATE(int64_t)
GB_INSTANTIATE(uint8_t)
GB_INSTANTIATE(bool)
#undef GB_INSTANTIATE

// ---------------------------------------------------------------- autograd
bool Tensor::requires_grad() const {
  return defined() && (impl_->requires_grad || impl_->grad_fn != nullptr);
}

Tensor& Tensor::requires_grad_(bool on) {
  check_defined("requires_grad_");
  GB_CHECK(!impl_->grad_fn,
           "requires_grad_: only leaf tensors can be marked; this one was "
           "produced by ",
           grad_fn_name(), " (use detach() to start a new leaf)");
  GB_CHECK(!on || is_floating(dtype()),
           "requires_grad_: only floating-point tensors can "
           "require gradients, this one is ",
           dtype_name(dtype()), " ", shape_str());
  impl_->requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return defined() && impl_->grad_fn == nullptr; }

Tensor Tensor::grad() const {
  check_defined("grad");
  return impl_->grad ? Tensor(impl_->grad) : Tensor();
}

void Tensor::set_grad(const Tensor& g) {
  check_defined("set_grad");
  if (!g.defined()) {
    impl_->grad.reset();
    return;
  }
  GB_CHECK(g.shape() == shape() && g.dtype() == dtype(), "set_grad: gradient ", g.shape_str(), " ",
           dtype_name(g.dtype()), " does not match tensor ", shape_str(), " ", dtype_name(dtype()));
  impl_->grad = g.impl_ptr();
}

void Tensor::zero_grad() {
  check_defined("zero_grad");
  if (impl_->grad) kernels::fill(Tensor(impl_->grad), 0.0);
}

Tensor Tensor::detach() const {
  check_defined("detach");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->sizes = impl_->sizes;
  impl->strides = impl_->strides;
  impl->offset = impl_->offset;
  impl->dtype = impl_->dtype;
  return Tensor(impl);
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  check_defined("backward");
  autograd::run_backward(*this, gradient, retain_graph);
}

std::string Tensor::grad_fn_name() const {
  return defined() && impl_->grad_fn ? impl_->grad_fn->name : "";
}

// ---------------------------------------------------------------- conversion
Tensor Tensor::to(DType dt) const {
  check_defined("to");
  if (dt == dtype()) return *this;
  Tensor out = empty(shape(), TensorOptions().set_dtype(dt).set_device(device()));
  kernels::copy(out, *this);
  if (is_floating(dt) && autograd::needs_grad({*this}))
    autograd::record("ToDtypeBackward", out, {*this},
                     [from = dtype()](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
  return out;
}

Tensor Tensor::to(Device dev) const {
  check_defined("to");
  if (dev == device()) return *this;
  Tensor src = contiguous();
  Tensor out = empty(shape(), TensorOptions().set_dtype(dtype()).set_device(dev));
  kernels::copy(out, src);
  if (autograd::needs_grad({*this}))
    autograd::record("ToDeviceBackward", out, {*this}, [from = device()](const Tensor& g) {
      return std::vector<Tensor>{g.to(from)};
    });
  return out;
}

// ---------------------------------------------------------------- in-place
namespace {
// In-place writes are invisible to the tape, so they are refused where they would make a
// recorded gradient wrong, and refused on views where one element aliases several.
void check_writable(const Tensor& t, const char* op) {
  GB_CHECK(t.defined(), op, ": called on an undefined tensor");
  GB_CHECK(!(grad_enabled() && t.requires_grad()), op,
           ": in-place change of a tensor that "
           "requires grad (shape ",
           t.shape_str(),
           "); wrap it in glassbox::NoGradGuard, as "
           "optimizers do, or use the out-of-place op");
  for (int64_t d = 0; d < t.dim(); ++d)
    GB_CHECK(t.stride(d) != 0 || t.size(d) <= 1, op, ": the tensor ", t.shape_str(),
             " is an expanded view where several elements share memory; clone() it first");
  t.impl()->storage->bump_version();
}
}  // namespace

Tensor& Tensor::fill_(double value) {
  check_writable(*this, "fill_");
  kernels::fill(*this, value);
  return *this;
}
// A source that shares memory with the destination (x.copy_(x.t())) would be read while it
// is being overwritten; read it from a private copy instead.
static Tensor unaliased(const Tensor& dst, const Tensor& src) {
  if (src.impl()->storage != dst.impl()->storage) return src;
  bool same_view =
      src.offset() == dst.offset() && src.strides() == dst.strides() && src.shape() == dst.shape();
  return same_view ? src : src.detach().clone();
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_writable(*this, "copy_");
  GB_CHECK(src.defined(), "copy_: source is undefined");
  kernels::copy(*this, unaliased(*this, src));
  return *this;
}
Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_writable(*this, "add_");
  GB_CHECK(other.defined(), "add_: other is undefined");
  if (alpha == 1.0)
    kernels::binary_(kernels::Binary::Add, *this, unaliased(*this, other), "add_");
  else
    kernels::axpy_(*this, unaliased(*this, other), alpha);
  return *this;
}
Tensor& Tensor::mul_(const Tensor& other) {
  check_writable(*this, "mul_");
  GB_CHECK(other.defined(), "mul_: other is undefined");
  kernels::binary_(kernels::Binary::Mul, *this, unaliased(*this, other), "mul_");
  return *this;
}
Tensor& Tensor::mul_(double s) { return mul_(scalar_like(*this, s)); }
Tensor& Tensor::add_(double s) { return add_(scalar_like(*this, s)); }

// ---------------------------------------------------------------- compound assignment
// a += b (-=, *=, /=) follows PyTorch: it writes a's memory and bumps its storage version, so
// a graph that saved a's old value refuses backward. While grad mode is on and a or b requires
// grad:
//  - a leaf that requires grad is refused: its .grad() would belong to a value that is gone;
//  - otherwise a's history is rebased: a now reads as "(old a) op b" on the tape, recorded as
//    the out-of-place op would be, so backward reaches old a's history and b;
//  - unless a shares its memory with another tensor (a view of it, a value a backward saved):
//    that tensor's history cannot be rebased along, so its gradient would silently go wrong;
//    this is refused too (PyTorch tracks views for this; glassbox does not).
namespace {
Tensor& compound(Tensor& self, kernels::Binary op, const Tensor& other, const char* name) {
  GB_CHECK(self.defined(), name, ": called on an undefined tensor");
  GB_CHECK(other.defined(), name, ": the right-hand side is undefined (left ", self.shape_str(),
           ")");
  for (int64_t d = 0; d < self.dim(); ++d)
    GB_CHECK(self.stride(d) != 0 || self.size(d) <= 1, name, ": the tensor ", self.shape_str(),
             " is an expanded view where several elements share memory; clone() it first");
  const bool track = autograd::needs_grad({self, other});
  Tensor history, saved_other, old_self;
  if (track) {
    GB_CHECK(!(self.is_leaf() && self.requires_grad()), name,
             ": a leaf tensor that requires grad (shape ", self.shape_str(),
             ") cannot be changed in place; use x = x op y, or wrap it in NoGradGuard");
    GB_CHECK(self.impl()->storage.use_count() == 1, name, ": the tensor ", self.shape_str(),
             " shares its memory with another tensor (a view of it, or a value saved for "
             "backward), whose gradient would go wrong; use x = x op y instead");
    history = Tensor(std::make_shared<TensorImpl>(*self.impl()));  // old grad_fn, same memory
    saved_other = other.detach();
    if (saved_other.impl()->storage == self.impl()->storage) saved_other = saved_other.clone();
    // the right-hand side's gradient of * and / needs the old value: a private copy, so that
    // self keeps its memory to itself and can be written in place again
    if ((op == kernels::Binary::Mul || op == kernels::Binary::Div) && other.requires_grad())
      old_self = self.detach().clone();
  }
  kernels::binary_(op, self, unaliased(self, other), name);
  self.impl()->storage->bump_version();  // after the kernel: a refused write changes nothing
  if (!track) return self;
  const Shape sb = other.shape();
  const bool gb = other.requires_grad();
  autograd::BackwardFn fn;
  using kernels::Binary;
  switch (op) {
    case Binary::Add:
      fn = [sb](const Tensor& g) { return std::vector<Tensor>{g, autograd::sum_to(g, sb)}; };
      break;
    case Binary::Sub:
      fn = [sb](const Tensor& g) { return std::vector<Tensor>{g, autograd::sum_to(neg(g), sb)}; };
      break;
    case Binary::Mul:
      fn = [saved_other, old_self, sb, gb](const Tensor& g) {
        return std::vector<Tensor>{g * saved_other,
                                   gb ? autograd::sum_to(g * old_self, sb) : Tensor()};
      };
      break;
    default:  // Div: d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 (a: the old value)
      fn = [saved_other, old_self, sb, gb](const Tensor& g) {
        Tensor ga = g / saved_other;
        return std::vector<Tensor>{
            ga, gb ? autograd::sum_to(neg(ga * old_self / saved_other), sb) : Tensor()};
      };
  }
  static const char* const names[] = {"AddBackward", "SubBackward", "MulBackward", "DivBackward"};
  // what each backward reads: * and / the right-hand side (and their private copy of old a)
  std::vector<Tensor> saved;
  if (op == Binary::Mul || op == Binary::Div) saved = {other};
  autograd::record(names[static_cast<int>(op)], self, {history, other}, std::move(fn), saved);
  return self;
}
}  // namespace

Tensor& Tensor::operator+=(const Tensor& o) {
  return compound(*this, kernels::Binary::Add, o, "operator+=");
}
Tensor& Tensor::operator-=(const Tensor& o) {
  return compound(*this, kernels::Binary::Sub, o, "operator-=");
}
Tensor& Tensor::operator*=(const Tensor& o) {
  return compound(*this, kernels::Binary::Mul, o, "operator*=");
}
Tensor& Tensor::operator/=(const Tensor& o) {
  return compound(*this, kernels::Binary::Div, o, "operator/=");
}
Tensor& Tensor::operator+=(double s) { return *this += scalar_like(*this, s); }
Tensor& Tensor::operator-=(double s) { return *this -= scalar_like(*this, s); }
Tensor& Tensor::operator*=(double s) { return *this *= scalar_like(*this, s); }
Tensor& Tensor::operator/=(double s) { return *this /= scalar_like(*this, s); }

// ---------------------------------------------------------------- math members
Tensor Tensor::exp() const { return glassbox::exp(*this); }
Tensor Tensor::log() const { return glassbox::log(*this); }
Tensor Tensor::sqrt() const { return glassbox::sqrt(*this); }
Tensor Tensor::pow(double e) const { return glassbox::pow(*this, e); }
Tensor Tensor::relu() const { return glassbox::relu(*this); }
Tensor Tensor::sigmoid() const { return glassbox::sigmoid(*this); }
Tensor Tensor::tanh() const { return glassbox::tanh(*this); }
Tensor Tensor::abs() const { return glassbox::abs(*this); }
Tensor Tensor::square() const { return glassbox::square(*this); }
Tensor Tensor::clamp(std::optional<double> min, std::optional<double> max) const {
  return glassbox::clamp(*this, min, max);
}
Tensor Tensor::clamp_min(double min) const { return glassbox::clamp_min(*this, min); }
Tensor Tensor::clamp_max(double max) const { return glassbox::clamp_max(*this, max); }
Tensor Tensor::sum() const { return glassbox::sum(*this); }
Tensor Tensor::sum(const Dims& dims, bool keepdim) const {
  return glassbox::sum(*this, dims, keepdim);
}
Tensor Tensor::mean() const { return glassbox::mean(*this); }
Tensor Tensor::mean(const Dims& dims, bool keepdim) const {
  return glassbox::mean(*this, dims, keepdim);
}
Tensor Tensor::var(const Dims& dims, bool unbiased, bool keepdim) const {
  return glassbox::var(*this, dims, unbiased, keepdim);
}
Tensor Tensor::std(const Dims& dims, bool unbiased, bool keepdim) const {
  return glassbox::std(*this, dims, unbiased, keepdim);
}
Tensor Tensor::norm(double p, const Dims& dims, bool keepdim) const {
  return glassbox::norm(*this, p, dims, keepdim);
}
Tensor Tensor::max() const { return glassbox::max(*this); }
std::pair<Tensor, Tensor> Tensor::max(int64_t d, bool keepdim) const {
  return glassbox::max(*this, d, keepdim);
}
Tensor Tensor::min() const { return glassbox::min(*this); }
std::pair<Tensor, Tensor> Tensor::min(int64_t d, bool keepdim) const {
  return glassbox::min(*this, d, keepdim);
}
Tensor Tensor::argmax(int64_t d, bool keepdim) const { return glassbox::argmax(*this, d, keepdim); }
Tensor Tensor::argmin(int64_t d, bool keepdim) const { return glassbox::argmin(*this, d, keepdim); }
std::pair<Tensor, Tensor> Tensor::sort(int64_t d, bool descending) const {
  return glassbox::sort(*this, d, descending);
}
std::pair<Tensor, Tensor> Tensor::topk(int64_t k, int64_t d, bool largest, bool sorted) const {
  return glassbox::topk(*this, k, d, largest, sorted);
}
Tensor Tensor::matmul(const Tensor& other) const { return glassbox::matmul(*this, other); }

// ---------------------------------------------------------------- comparisons
bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  GB_CHECK(a.shape() == b.shape(), "allclose: shapes differ (", a.shape_str(), " vs ",
           b.shape_str(), ")");
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) return false;
    if (x[i] == y[i]) continue;  // also equal infinities
    if (!(std::abs(x[i] - y[i]) <= atol + rtol * std::abs(y[i]))) return false;
  }
  return true;
}

bool equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  return x == y;
}

}  // namespace glassbox
