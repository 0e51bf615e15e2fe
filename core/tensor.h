#pragma once
// Tensor: a cheap-to-copy handle to a strided view of a Storage, plus autograd state.
// Copying a Tensor shares the data (like torch::Tensor); use clone() for a deep copy.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/storage.h"

namespace glassbox {

namespace autograd {
struct Node;
}

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape sizes;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::Float32;
  // autograd: a leaf the user marked, or an op output with grad_fn set.
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<autograd::Node> grad_fn;
};

// The dims of a reduction: a list, or one dim, as LibTorch's IntArrayRef takes them:
// sum(x, 1), sum(x, {0, 2}), sum(x, {}) (every dim), sum(x, std::vector<int64_t>{..}).
// A bool is refused at compile time, so var(x, true) cannot silently mean dim 1.
class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<int64_t> dims) : dims_(dims) {}
  Dims(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  Dims(I dim) : dims_{static_cast<int64_t>(dim)} {}
  const std::vector<int64_t>& vec() const { return dims_; }
  operator const std::vector<int64_t>&() const { return dims_; }

 private:
  std::vector<int64_t> dims_;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // --- metadata ---
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& sizes() const { return shape(); }
  int64_t size(int64_t dim) const;
  const Shape& strides() const;
  int64_t stride(int64_t dim) const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t numel() const;
  int64_t offset() const;
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }
  std::string shape_str() const;
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

  // --- raw data (CPU) ---
  // Pointer to the first element of this view; throws on dtype or device mismatch.
  template <class T>
  T* data_ptr() const;
  void* raw_data() const;  // any dtype, any device
  template <class T>
  T item() const;       // a one-element tensor's value, converted to T
  double item() const;  // as double
  template <class T>
  std::vector<T> to_vector() const;  // elements in row-major order (any strides)

  // --- autograd ---
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const;
  Tensor grad() const;  // undefined until a backward reaches this leaf
  void set_grad(const Tensor& g);
  void zero_grad();       // zeroes the gradient in place (keeps its memory)
  Tensor detach() const;  // same data, no history
  // Accumulates d(this)/d(leaf) into every leaf's grad(). A non-scalar needs `gradient`.
  // Without retain_graph the tape entries this walked, and all they saved, are freed.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  std::string grad_fn_name() const;  // "MulBackward", or "" for leaves

  // --- views (no copy; differentiable) ---
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;  // a view when strides allow, else a copy
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;  // 2-D transpose
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;  // removes `dim`
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor expand(const Shape& shape) const;  // -1 keeps a size
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor contiguous() const;  // itself when already contiguous

  // --- copies and conversion ---
  Tensor clone() const;
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  Tensor cpu() const { return to(kCPU); }
  Tensor cuda(int index = 0) const { return to(Device{DeviceType::CUDA, index}); }

  // --- in-place (not recorded on the tape; use under no_grad for parameters) ---
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);  // broadcasts src, converts dtype
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& sub_(const Tensor& other, double alpha = 1.0) { return add_(other, -alpha); }
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(double s);
  Tensor& add_(double s);
  // Compound assignment: in place, and recorded on the tape (core/tensor.cpp explains when
  // it is refused instead). other broadcasts to this tensor's shape and shares its dtype.
  Tensor& operator+=(const Tensor& other);
  Tensor& operator-=(const Tensor& other);
  Tensor& operator*=(const Tensor& other);
  Tensor& operator/=(const Tensor& other);
  Tensor& operator+=(double s);
  Tensor& operator-=(double s);
  Tensor& operator*=(double s);
  Tensor& operator/=(double s);

  // --- math (differentiable; same as the free functions) ---
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor pow(double exponent) const;
  Tensor relu() const;
  Tensor sigmoid() const;
  Tensor tanh() const;
  Tensor abs() const;
  Tensor square() const;
  Tensor clamp(std::optional<double> min, std::optional<double> max = std::nullopt) const;
  Tensor clamp_min(double min) const;
  Tensor clamp_max(double max) const;
  Tensor sum() const;
  Tensor sum(const Dims& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const Dims& dims, bool keepdim = false) const;
  Tensor var(const Dims& dims = {}, bool unbiased = true, bool keepdim = false) const;
  Tensor std(const Dims& dims = {}, bool unbiased = true, bool keepdim = false) const;
  Tensor norm(double p = 2.0, const Dims& dims = {}, bool keepdim = false) const;
  Tensor max() const;
  std::pair<Tensor, Tensor> max(int64_t dim, bool keepdim = false) const;  // values, indices
  Tensor min() const;
  std::pair<Tensor, Tensor> min(int64_t dim, bool keepdim = false) const;
  Tensor argmax(int64_t dim, bool keepdim = false) const;
  Tensor argmin(int64_t dim, bool keepdim = false) const;
  std::pair<Tensor, Tensor> sort(int64_t dim = -1, bool descending = false) const;
  std::pair<Tensor, Tensor> topk(int64_t k, int64_t dim = -1, bool largest = true,
                                 bool sorted = true) const;

  // --- indexing (differentiable) ---
  Tensor operator[](int64_t index) const;        // select(0, index); negative counts from the end
  Tensor operator[](const Tensor& index) const;  // index(index)
  // LibTorch's x.index({t}) for one tensor: a bool mask -> masked_select (1-D), an int64
  // tensor -> rows of dim 0 (result shape: index.shape() + the remaining dims).
  Tensor index(const Tensor& index) const;
  Tensor index_select(int64_t dim, const Tensor& index) const;
  Tensor masked_select(const Tensor& mask) const;
  Tensor masked_fill(const Tensor& mask, double value) const;
  Tensor matmul(const Tensor& other) const;

 private:
  void check_defined(const char* op) const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::string to_string(const Tensor& t);

// ---------------------------------------------------------------------------------------
// Factories. `requires_grad` marks the result as a leaf that collects gradients.
struct TensorOptions {
  DType dtype = kFloat32;
  Device device = kCPU;
  bool requires_grad = false;
  TensorOptions& set_dtype(DType d) {
    dtype = d;
    return *this;
  }
  TensorOptions& set_device(Device d) {
    device = d;
    return *this;
  }
  TensorOptions& set_requires_grad(bool r) {
    requires_grad = r;
    return *this;
  }
};
inline TensorOptions dtype(DType d) { return TensorOptions().set_dtype(d); }

Tensor empty(const Shape& shape, TensorOptions opts = {});
Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
Tensor full(const Shape& shape, double value, TensorOptions opts = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor empty_like(const Tensor& t);
Tensor scalar_tensor(double value, TensorOptions opts = {});  // 0-d
// [start, end) with step; float dtype unless opts says otherwise.
// Length ceil((end - start) / step), as PyTorch. arange(7.) is float32 and arange(7) int64,
// as in PyTorch; so are arange(0, 12) and arange(0, 12, 3) (all integers: int64) against
// arange(0, 1.5) and arange(0., 1., 0.25) (any real: float32). An explicit opts decides.
Tensor arange(double start, double end, double step = 1.0, TensorOptions opts = {});
template <class A, class B, class S = int64_t,
          std::enable_if_t<std::is_integral_v<A> && std::is_integral_v<B> &&
                               std::is_integral_v<S> && !std::is_same_v<A, bool> &&
                               !std::is_same_v<B, bool> && !std::is_same_v<S, bool>,
                           int> = 0>
Tensor arange(A start, B end, S step = 1) {
  return arange(static_cast<double>(start), static_cast<double>(end), static_cast<double>(step),
                dtype(kInt64));
}
Tensor arange(double end, TensorOptions opts = {});
template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
Tensor arange(I end, TensorOptions opts = dtype(kInt64)) {
  return arange(0.0, static_cast<double>(end), 1.0, opts);
}
class Generator;
Tensor rand(const Shape& shape, TensorOptions opts = {}, Generator* gen = nullptr);   // U[0,1)
Tensor randn(const Shape& shape, TensorOptions opts = {}, Generator* gen = nullptr);  // N(0,1)
Tensor uniform(const Shape& shape, double lo, double hi, TensorOptions opts = {},
               Generator* gen = nullptr);
// A random permutation of 0..n-1 (Fisher-Yates over draws from `gen`, the default generator
// when null): the same permutation for a seed on every device and thread count.
Tensor randperm(int64_t n, TensorOptions opts = dtype(kInt64), Generator* gen = nullptr);
// Copies the values; shape defaults to 1-D.
template <class T>
Tensor from_vector(const std::vector<T>& values, Shape shape = {}, bool requires_grad = false);
template <>
Tensor from_vector<bool>(const std::vector<bool>& values, Shape shape, bool requires_grad);
// Copies `shape`'s worth of T from a raw buffer.
Tensor from_blob(const void* data, const Shape& shape, DType dtype);
// Nested-literal convenience: tensor({1.f, 2.f}), tensor({{1., 2.}, {3., 4.}}).
Tensor tensor(std::initializer_list<float> values);
Tensor tensor(std::initializer_list<std::initializer_list<float>> rows);
Tensor tensor(std::initializer_list<double> values);
Tensor tensor(std::initializer_list<int64_t> values);
Tensor tensor(std::initializer_list<int> values);  // int64, like torch.tensor([1, 2])

// Numerically compares two tensors (same shape; any dtypes): |a-b| <= atol + rtol*|b|.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
bool equal(const Tensor& a, const Tensor& b);  // same shape and identical values

}  // namespace glassbox
