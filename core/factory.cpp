// Tensor factories: allocation, constant fills, ranges, random draws and copies from host
// data. Random tensors are drawn on their own device from the Philox blocks a seeded
// Generator reserves (core/philox.h), so a seed gives the same numbers on every backend with
// no host draw and no upload.
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "core/generator.h"
#include "core/kernels.h"
#include "core/ops.h"

namespace glassbox {

Tensor empty(const Shape& shape, TensorOptions opts) {
  // `span`, the product of the non-zero dims, bounds numel and every stride: keep it far from
  // int64 overflow in every later index computation, also when a zero dim empties the tensor
  int64_t span = 1;
  for (int64_t d : shape) {
    GB_CHECK(d >= 0, "empty: negative dimension in shape ", shape_str(shape));
    GB_CHECK(d == 0 || span <= (int64_t{1} << 56) / d, "empty: shape ", shape_str(shape),
             " has too many elements");
    if (d > 0) span *= d;
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(numel_of(shape) * dtype_size(opts.dtype), opts.device);
  impl->sizes = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = opts.dtype;
  Tensor t(impl);
  if (opts.requires_grad) t.requires_grad_(true);
  return t;
}

Tensor full(const Shape& shape, double value, TensorOptions opts) {
  bool rg = opts.requires_grad;
  Tensor t = empty(shape, opts.set_requires_grad(false));
  kernels::fill(t, value);  // on the tensor's device: a GPU fill is one kernel, no transfer
  if (rg) t.requires_grad_(true);
  return t;
}
Tensor zeros(const Shape& shape, TensorOptions opts) { return full(shape, 0.0, opts); }
Tensor ones(const Shape& shape, TensorOptions opts) { return full(shape, 1.0, opts); }
Tensor scalar_tensor(double value, TensorOptions opts) { return full({}, value, opts); }
static TensorOptions like(const Tensor& t) {
  return TensorOptions().set_dtype(t.dtype()).set_device(t.device());
}
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), like(t)); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), like(t)); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), like(t)); }

Tensor arange(double start, double end, double step, TensorOptions opts) {
  GB_CHECK(step != 0.0 && std::isfinite(step) && std::isfinite(start) && std::isfinite(end),
           "arange: need finite start/end and a non-zero step (got ", start, ", ", end, ", ", step,
           ")");
  double count = std::ceil((end - start) / step);
  GB_CHECK(count < 1e12, "arange: ", count, " elements is too many");
  int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  Tensor host = empty({n}, dtype(kFloat64));
  double* p = host.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) p[i] = start + static_cast<double>(i) * step;
  Tensor out = empty({n}, TensorOptions(opts).set_requires_grad(false));
  Tensor typed = host.to(opts.dtype);
  kernels::copy(out, typed);
  if (opts.requires_grad) out.requires_grad_(true);
  return out;
}
Tensor arange(double end, TensorOptions opts) { return arange(0.0, end, 1.0, opts); }

// Fisher-Yates from the top: position i swaps with j = floor(u_i * (i + 1)) for one float64
// draw u_i per position, drawn up front from the generator's next blocks. The shuffle is one
// sequential host loop, so no thread count or device can change it; 53-bit draws keep the
// bias of j far below anything observable for any n that fits in memory.
Tensor randperm(int64_t n, TensorOptions opts, Generator* gen) {
  GB_CHECK(n >= 0, "randperm: n must be non-negative, got ", n);
  GB_CHECK(opts.dtype != kBool, "randperm: a bool tensor cannot hold a permutation");
  GB_CHECK(opts.dtype == kInt64 || opts.dtype == kFloat64 || n <= (int64_t{1} << 24) + 1,
           "randperm: ", n, " values do not all fit exactly in ", dtype_name(opts.dtype));
  GB_CHECK(opts.dtype != kUInt8 || n <= 256, "randperm: ", n, " values do not fit in uint8");
  Tensor draws = empty({n}, dtype(kFloat64));
  if (n > 0) random_fill_(draws, RandomDist::uniform(0.0, 1.0), gen);
  const double* u = draws.data_ptr<double>();
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = static_cast<int64_t>(u[i] * double(i + 1));
    if (j > i) j = i;  // u < 1, but a product can still round up
    std::swap(perm[i], perm[j]);
  }
  const bool rg = opts.requires_grad;
  Tensor out = from_vector(perm, {n}).to(opts.dtype).to(opts.device);
  if (rg) out.requires_grad_(true);
  return out;
}

// The kernel checks `out`; the generator moves on only once the fill has been queued, so a
// refused fill leaves its stream where it was.
void random_fill_(const Tensor& out, const RandomDist& dist, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  kernels::random_fill(out, dist, g.seed(), g.offset());
  (void)g.reserve(philox::blocks_for(out.numel(), 16 / static_cast<int>(dtype_size(out.dtype()))));
}

static Tensor random_tensor(const Shape& shape, TensorOptions opts, Generator* gen,
                            const RandomDist& dist, const char* op) {
  GB_CHECK(is_floating(opts.dtype), op, ": needs a floating dtype, got ", dtype_name(opts.dtype));
  Tensor out = empty(shape, TensorOptions(opts).set_requires_grad(false));
  random_fill_(out, dist, gen);
  if (opts.requires_grad) out.requires_grad_(true);
  return out;
}

// float32 draws have 24 random bits and float64 draws 53: neither can round up to 1.
Tensor rand(const Shape& shape, TensorOptions opts, Generator* gen) {
  return random_tensor(shape, opts, gen, RandomDist::uniform(0.0, 1.0), "rand");
}
Tensor randn(const Shape& shape, TensorOptions opts, Generator* gen) {
  return random_tensor(shape, opts, gen, RandomDist::normal(0.0, 1.0), "randn");
}
Tensor uniform(const Shape& shape, double lo, double hi, TensorOptions opts, Generator* gen) {
  GB_CHECK(lo <= hi, "uniform: low ", lo, " is above high ", hi);
  return random_tensor(shape, opts, gen, RandomDist::uniform(lo, hi), "uniform");
}

Tensor from_blob(const void* data, const Shape& shape, DType dt) {
  Tensor t = empty(shape, dtype(dt));
  if (t.nbytes() > 0) {
    GB_CHECK(data != nullptr, "from_blob: null data pointer for shape ", shape_str(shape));
    std::memcpy(t.raw_data(), data, t.nbytes());
  }
  return t;
}

template <class T>
Tensor from_vector(const std::vector<T>& values, Shape shape, bool requires_grad) {
  if (shape.empty()) shape = {static_cast<int64_t>(values.size())};
  GB_CHECK(numel_of(shape) == static_cast<int64_t>(values.size()), "from_vector: ", values.size(),
           " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, dtype(dtype_of<T>::value));
  T* p = t.data_ptr<T>();
  for (size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  if (requires_grad) t.requires_grad_(true);
  return t;
}
template Tensor from_vector<float>(const std::vector<float>&, Shape, bool);
template Tensor from_vector<double>(const std::vector<double>&, Shape, bool);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, Shape, bool);
template Tensor from_vector<uint8_t>(const std::vector<uint8_t>&, Shape, bool);
template <>
Tensor from_vector<bool>(const std::vector<bool>& values, Shape shape, bool) {
  std::vector<uint8_t> bytes(values.begin(), values.end());
  return from_vector<uint8_t>(bytes, shape).to(kBool);
}

Tensor tensor(std::initializer_list<float> values) {
  return from_vector(std::vector<float>(values));
}
Tensor tensor(std::initializer_list<double> values) {
  return from_vector(std::vector<double>(values));
}
Tensor tensor(std::initializer_list<int64_t> values) {
  return from_vector(std::vector<int64_t>(values));
}
Tensor tensor(std::initializer_list<int> values) {
  return from_vector(std::vector<int64_t>(values.begin(), values.end()));
}
Tensor tensor(std::initializer_list<std::initializer_list<float>> rows) {
  std::vector<float> flat;
  int64_t cols = rows.size() ? static_cast<int64_t>(rows.begin()->size()) : 0;
  for (const auto& r : rows) {
    GB_CHECK(static_cast<int64_t>(r.size()) == cols, "tensor: rows have different lengths (", cols,
             " and ", r.size(), ")");
    flat.insert(flat.end(), r.begin(), r.end());
  }
  return from_vector(flat, {static_cast<int64_t>(rows.size()), cols});
}

}  // namespace glassbox
