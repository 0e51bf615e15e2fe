// The transforms and TransformedDataset. All loops are plain C++ over contiguous bytes: they
// run on the DataLoader's thread, where OpenMP kernels and the default generator are off
// limits (datasets/dataset.h).
#include "datasets/transforms.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "core/error.h"

namespace glassbox::datasets {
namespace transforms {
namespace {

std::string list_str(const std::vector<int64_t>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  os << "]";
  return os.str();
}

// Uniform in [0, n) from 64 random bits (Lemire's multiply-shift).
int64_t below(Generator& gen, int64_t n) {
  return static_cast<int64_t>(
      (static_cast<unsigned __int128>(gen.next_u64()) * static_cast<uint64_t>(n)) >> 64);
}

void check_example(const char* op, const Tensor& x, int64_t min_dim, const char* layout) {
  GB_CHECK(x.defined(), op, ": the example is undefined");
  GB_CHECK(x.device().type == DeviceType::CPU, op, ": expects CPU examples, got one on ",
           x.device().str());
  GB_CHECK(x.dim() >= min_dim, op, ": expects an example ", layout, ", got ", x.shape_str());
}

}  // namespace

Tensor ToFloat::operator()(const Tensor& x, Generator&) const {
  check_example("ToFloat", x, 0, "of any shape");
  const Tensor c = x.contiguous();
  if (c.dtype() == DType::Float32) return c;
  GB_CHECK(c.dtype() == DType::UInt8 || c.dtype() == DType::Float64,
           "ToFloat: expects uint8 (scaled by 1/255) or floating-point examples, got ",
           dtype_name(c.dtype()), " ", c.shape_str());
  Tensor out = empty(c.shape(), dtype(DType::Float32));
  float* o = out.data_ptr<float>();
  const int64_t n = c.numel();
  if (c.dtype() == DType::UInt8) {
    const uint8_t* p = c.data_ptr<uint8_t>();
    for (int64_t i = 0; i < n; ++i) o[i] = static_cast<float>(p[i] / 255.0);
  } else {
    const double* p = c.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i) o[i] = static_cast<float>(p[i]);
  }
  return out;
}

Normalize::Normalize(std::vector<double> mean, std::vector<double> std)
    : mean_(std::move(mean)), std_(std::move(std)) {
  GB_CHECK(!mean_.empty() && !std_.empty(), "Normalize: mean and std need at least one value, ",
           "got ", mean_.size(), " and ", std_.size());
  for (double s : std_) GB_CHECK(s > 0, "Normalize: every std must be positive, got ", s);
}

Tensor Normalize::operator()(const Tensor& x, Generator&) const {
  check_example("Normalize", x, 1, "[C,...] (channels first)");
  const int64_t channels = x.size(0);
  for (size_t n : {mean_.size(), std_.size()})
    GB_CHECK(n == 1 || int64_t(n) == channels, "Normalize: ", mean_.size(), " mean and ",
             std_.size(), " std values for an example with ", channels, " channels (dim 0 of ",
             x.shape_str(), "); give 1 or ", channels, " of each");
  GB_CHECK(is_floating(x.dtype()), "Normalize: expects a floating-point example, got ",
           dtype_name(x.dtype()), " ", x.shape_str(), " (put ToFloat first)");
  const Tensor c = x.contiguous();
  Tensor out = empty(c.shape(), dtype(c.dtype()));
  const int64_t plane = channels > 0 ? c.numel() / channels : 0;
  GB_DISPATCH_FLOAT(c.dtype(), "Normalize", [&] {
    const scalar_t* p = c.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    for (int64_t ch = 0; ch < channels; ++ch) {
      const double m = mean_[mean_.size() == 1 ? 0 : size_t(ch)];
      const double s = std_[std_.size() == 1 ? 0 : size_t(ch)];
      for (int64_t i = ch * plane; i < (ch + 1) * plane; ++i)
        o[i] = static_cast<scalar_t>((p[i] - m) / s);
    }
  });
  return out;
}

RandomCrop::RandomCrop(int64_t size, int64_t padding)
    : RandomCrop(std::vector<int64_t>{size}, std::vector<int64_t>{padding}) {}

RandomCrop::RandomCrop(std::vector<int64_t> size, std::vector<int64_t> padding, double fill)
    : fill_(fill) {
  GB_CHECK(size.size() == 1 || size.size() == 2, "RandomCrop: size must be {s} or {h, w}, got ",
           list_str(size));
  h_ = size[0];
  w_ = size.back();
  GB_CHECK(h_ > 0 && w_ > 0, "RandomCrop: size must be positive, got ", list_str(size));
  const size_t np = padding.size();
  GB_CHECK(np == 1 || np == 2 || np == 4, "RandomCrop: padding must be {p}, {left/right, ",
           "top/bottom} or {left, top, right, bottom}, got ", list_str(padding));
  for (int64_t p : padding)
    GB_CHECK(p >= 0, "RandomCrop: padding must be >= 0, got ", list_str(padding));
  left_ = padding[0];
  top_ = padding[np == 1 ? 0 : 1];
  right_ = padding[np == 4 ? 2 : 0];
  bottom_ = padding[np == 4 ? 3 : (np == 2 ? 1 : 0)];
}

// Output pixel (y, x) of window (i, j) in the padded image is input pixel
// (y + i - top, x + j - left), or `fill` where that falls in the padding.
Tensor RandomCrop::operator()(const Tensor& x, Generator& gen) const {
  check_example("RandomCrop", x, 2, "[..., H, W]");
  const int64_t H = x.size(-2), W = x.size(-1);
  const int64_t hp = H + top_ + bottom_, wp = W + left_ + right_;
  GB_CHECK(h_ <= hp && w_ <= wp, "RandomCrop: crop size [", h_, ",", w_,
           "] is larger than the padded example [", hp, ",", wp, "] (example ", x.shape_str(),
           ", padding left ", left_, " top ", top_, " right ", right_, " bottom ", bottom_, ")");
  const int64_t i = below(gen, hp - h_ + 1);
  const int64_t j = below(gen, wp - w_ + 1);
  const Tensor c = x.contiguous();
  Shape shape = c.shape();
  shape[shape.size() - 2] = h_;
  shape[shape.size() - 1] = w_;
  Tensor out = empty(shape, dtype(c.dtype()));
  const int64_t planes = H * W > 0 ? c.numel() / (H * W) : 0;
  GB_DISPATCH_ALL(c.dtype(), "RandomCrop", [&] {
    const scalar_t* p = c.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    const auto fill = static_cast<scalar_t>(fill_);
    for (int64_t k = 0; k < planes; ++k)
      for (int64_t y = 0; y < h_; ++y) {
        const int64_t sy = y + i - top_;
        scalar_t* row = o + (k * h_ + y) * w_;
        for (int64_t xx = 0; xx < w_; ++xx) {
          const int64_t sx = xx + j - left_;
          row[xx] = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? p[(k * H + sy) * W + sx] : fill;
        }
      }
  });
  return out;
}

RandomHorizontalFlip::RandomHorizontalFlip(double p) : p_(p) {
  GB_CHECK(p >= 0 && p <= 1, "RandomHorizontalFlip: p must be in [0, 1], got ", p);
}

Tensor RandomHorizontalFlip::operator()(const Tensor& x, Generator& gen) const {
  check_example("RandomHorizontalFlip", x, 1, "[..., W]");
  const Tensor c = x.contiguous();
  if (!(gen.uniform() < p_)) return c;
  Tensor out = empty(c.shape(), dtype(c.dtype()));
  const int64_t W = c.size(-1), rows = W > 0 ? c.numel() / W : 0;
  const size_t e = dtype_size(c.dtype());
  const auto* p = static_cast<const char*>(c.raw_data());
  auto* o = static_cast<char*>(out.raw_data());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t xx = 0; xx < W; ++xx)
      std::memcpy(o + size_t(r * W + xx) * e, p + size_t(r * W + (W - 1 - xx)) * e, e);
  return out;
}

Lambda::Lambda(std::function<Tensor(const Tensor&, Generator&)> fn) : fn_(std::move(fn)) {
  GB_CHECK(fn_ != nullptr, "Lambda: the function is empty");
}

Compose::Compose(std::vector<std::shared_ptr<const Transform>> transforms)
    : transforms_(std::move(transforms)) {
  for (size_t i = 0; i < transforms_.size(); ++i)
    GB_CHECK(transforms_[i] != nullptr, "Compose: transform ", i, " is null");
}

Tensor Compose::operator()(const Tensor& x, Generator& gen) const {
  Tensor y = x;
  for (const auto& t : transforms_) y = (*t)(y, gen);
  return y;
}

}  // namespace transforms

namespace {
uint64_t mix64(uint64_t z) {  // splitmix64's finaliser: a bijection that scatters every bit
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

Generator example_generator(uint64_t seed, int64_t epoch, int64_t index) {
  const uint64_t s =
      mix64(mix64(mix64(seed) ^ static_cast<uint64_t>(epoch)) ^ static_cast<uint64_t>(index));
  return Generator(s);
}

TransformedDataset::TransformedDataset(std::shared_ptr<const Dataset> dataset,
                                       std::shared_ptr<const transforms::Transform> transform,
                                       uint64_t seed)
    : dataset_(std::move(dataset)), transform_(std::move(transform)), seed_(seed) {
  GB_CHECK(dataset_ != nullptr, "transformed: the data set is null");
  GB_CHECK(transform_ != nullptr, "transformed: the transform is null");
}

Batch TransformedDataset::get_batch(const std::vector<int64_t>& indices) const {
  return get_batch_for_epoch(indices, 0);
}

Batch TransformedDataset::get_batch_for_epoch(const std::vector<int64_t>& indices,
                                              int64_t epoch) const {
  Batch in = dataset_->get_batch_for_epoch(indices, epoch);
  const Tensor& d = in.data;
  const int64_t b = static_cast<int64_t>(indices.size());
  GB_CHECK(d.defined() && d.dim() >= 1 && d.size(0) == b && d.device().type == DeviceType::CPU &&
               d.is_contiguous(),
           "transformed: the data set gave data ", d.defined() ? d.shape_str() : "undefined",
           " for a batch of ", b, " examples; expected a contiguous CPU tensor [", b, ", ...]");
  const Tensor& c = d;
  Shape example_shape(c.shape().begin() + 1, c.shape().end());
  const size_t in_bytes = b > 0 ? c.nbytes() / size_t(b) : 0;
  const auto* src = static_cast<const char*>(c.raw_data());
  Tensor out;
  for (int64_t i = 0; i < b; ++i) {
    // Copied out, not a view: select() would go through the autograd machinery.
    Tensor x = empty(example_shape, dtype(c.dtype()));
    std::memcpy(x.raw_data(), src + size_t(i) * in_bytes, in_bytes);
    Generator gen = example_generator(seed_, epoch, indices[size_t(i)]);
    Tensor y = (*transform_)(x, gen);
    GB_CHECK(y.defined() && y.device().type == DeviceType::CPU,
             "transformed: the transform gave an undefined or non-CPU example");
    if (i == 0) {
      Shape shape = y.shape();
      shape.insert(shape.begin(), b);
      out = empty(shape, dtype(y.dtype()));
    }
    GB_CHECK(y.dtype() == out.dtype() && y.numel() * b == out.numel() &&
                 Shape(out.shape().begin() + 1, out.shape().end()) == y.shape(),
             "transformed: example ", indices[size_t(i)], " became ", dtype_name(y.dtype()), " ",
             y.shape_str(), " but the batch's first became ", dtype_name(out.dtype()), " ",
             out.shape_str(), "; every example must come out the same shape and dtype");
    const Tensor yc = y.contiguous();
    std::memcpy(static_cast<char*>(out.raw_data()) + size_t(i) * yc.nbytes(), yc.raw_data(),
                yc.nbytes());
  }
  if (b == 0) out = c;  // nothing to transform: keep the (empty) input
  return {out, in.target};
}

std::shared_ptr<TransformedDataset> transformed(std::shared_ptr<const Dataset> dataset,
                                                std::shared_ptr<const transforms::Transform> t,
                                                uint64_t seed) {
  return std::make_shared<TransformedDataset>(std::move(dataset), std::move(t), seed);
}

}  // namespace glassbox::datasets
