#include "predict.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "datasets/image.h"

namespace glassbox::predict {

namespace {

constexpr int kSide = 28;

// One axis of the box filter: output i covers the source interval [i*n/m, (i+1)*n/m); each
// source pixel j (the interval [j, j+1)) weighs by its overlap, divided by the interval's
// length. Row i of the result holds (source index, weight) pairs summing to 1.
using Weights = std::vector<std::vector<std::pair<int, float>>>;

Weights box_weights(int n, int m) {
  Weights w(static_cast<size_t>(m));
  const double scale = double(n) / m;
  for (int i = 0; i < m; ++i) {
    const double lo = i * scale, hi = (i + 1) * scale;
    for (int j = int(std::floor(lo)); j < n && j < hi; ++j) {
      const double overlap = std::min(hi, j + 1.0) - std::max(lo, double(j));
      if (overlap > 1e-12) w[size_t(i)].push_back({j, float(overlap / scale)});
    }
  }
  return w;
}

// resize_area of the image padded to a side x side square with `background` (the shorter side
// padded equally on both sides), without building the square: a 100000x1 image would make it
// 10^10 floats. Rows first: output column x weighs the square's columns j by weights[x]; those
// outside the image all hold the background, so their weights are summed once per x and a row
// costs only its own w pixels (a 1x131072 strip would otherwise cost h * side = 1.7e10 steps).
// Rows outside the image are all background too: one padding row stands for them in the column
// pass. The sums are regrouped, so the result equals padding-then-resizing up to float rounding.
std::vector<float> resize_padded(const std::vector<uint8_t>& px, int w, int h, bool invert,
                                 float background) {
  const int side = std::max(w, h), left = (side - w) / 2, top = (side - h) / 2;
  const auto weights = box_weights(side, kSide);                  // both axes of the square
  std::vector<std::vector<std::pair<int, float>>> inside(kSide);  // (image column, weight)
  std::vector<float> padding(kSide, 0.f);  // a row's value at x from its padding columns alone
  std::vector<float> background_row(kSide, 0.f);  // a padding row's value at x
  for (int x = 0; x < kSide; ++x)
    for (auto [j, weight] : weights[size_t(x)]) {
      background_row[size_t(x)] += weight * background;
      if (j >= left && j < left + w)
        inside[size_t(x)].push_back({j - left, weight});
      else
        padding[size_t(x)] += weight * background;
    }
  std::vector<float> rows(size_t(h) * kSide, 0.f);
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = &px[size_t(y) * w];
    for (int x = 0; x < kSide; ++x) {
      float acc = padding[size_t(x)];
      for (auto [i, weight] : inside[size_t(x)])
        acc += weight * (invert ? 255.f - float(row[i]) : float(row[i]));
      rows[size_t(y) * kSide + x] = acc;
    }
  }
  std::vector<float> out(size_t(kSide) * kSide, 0.f);
  for (int y = 0; y < kSide; ++y)
    for (auto [j, weight] : weights[size_t(y)]) {
      const float* row =
          (j >= top && j < top + h) ? &rows[size_t(j - top) * kSide] : background_row.data();
      for (int x = 0; x < kSide; ++x) out[size_t(y) * kSide + x] += weight * row[x];
    }
  return out;
}

}  // namespace

std::vector<float> resize_area(const std::vector<float>& src, int w, int h, int out_w, int out_h) {
  GB_CHECK(w > 0 && h > 0 && out_w > 0 && out_h > 0 && src.size() == size_t(w) * size_t(h),
           "resize_area: a ", w, "x", h, " image of ", src.size(), " pixels cannot become ", out_w,
           "x", out_h);
  // Rows first (w -> out_w), then columns (h -> out_h): the filter is separable.
  const auto wx = box_weights(w, out_w), wy = box_weights(h, out_h);
  std::vector<float> rows(size_t(out_w) * size_t(h), 0.f);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < out_w; ++x)
      for (auto [j, weight] : wx[size_t(x)])
        rows[size_t(y) * out_w + x] += weight * src[size_t(y) * w + j];
  std::vector<float> out(size_t(out_w) * size_t(out_h), 0.f);
  for (int y = 0; y < out_h; ++y)
    for (auto [j, weight] : wy[size_t(y)])
      for (int x = 0; x < out_w; ++x)
        out[size_t(y) * out_w + x] += weight * rows[size_t(j) * out_w + x];
  return out;
}

Tensor load_image_for_mnist(const std::string& path, bool invert_auto,
                            datasets::Normalize normalize) {
  const image::Image img = image::read(path, /*want_channels=*/1);
  const int w = int(img.width), h = int(img.height);  // within image::Limits::max_side
  const std::vector<uint8_t>& px = img.pixels;

  // The background: the mean of the outermost ring of pixels (exact: a sum of integers).
  double border = 0;
  int64_t count = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; x += (y == 0 || y == h - 1 || w == 1) ? 1 : w - 1) {
      border += px[size_t(y) * w + x];
      ++count;
    }
  border /= double(count);
  const bool invert = invert_auto && border > 127;  // dark on light: make it light on dark
  if (invert) border = 255 - border;

  std::vector<float> small = resize_padded(px, w, h, invert, float(border));
  for (float& v : small) v = float((v / 255.0 - normalize.mean) / normalize.std);
  return from_vector(small, {1, 1, kSide, kSide});
}

void load_weights(mnist::MnistNet& net, const std::string& path) {
  TensorMap file = load_safetensors(path);
  TensorMap state;
  if (file.count("model.conv1.weight")) {  // a training checkpoint: keep only "model.*"
    const std::string prefix = "model.";
    for (const auto& [name, tensor] : file)
      if (name.compare(0, prefix.size(), prefix) == 0) state[name.substr(prefix.size())] = tensor;
  } else {
    state = std::move(file);
  }
  try {
    net->load_state_dict(state, /*strict=*/true);
  } catch (const Error& e) {
    fail(str(path, " does not hold the notebook network's weights: ", e.what()));
  }
}

std::vector<Prediction> top_k(const Tensor& log_probs_row, int k) {
  GB_CHECK(log_probs_row.dim() == 1 || (log_probs_row.dim() == 2 && log_probs_row.size(0) == 1),
           "top_k: expected one row of log-probabilities ([C] or [1,C]), got ",
           log_probs_row.shape_str());
  GB_CHECK(k >= 1, "top_k: k must be at least 1, got ", k);
  std::vector<double> lp = log_probs_row.to_vector<double>();
  std::vector<Prediction> all;
  for (size_t i = 0; i < lp.size(); ++i) all.push_back({int64_t(i), std::exp(lp[i])});
  const size_t n = std::min(all.size(), size_t(k));
  std::partial_sort(
      all.begin(), all.begin() + n, all.end(), [](const Prediction& a, const Prediction& b) {
        return a.probability != b.probability ? a.probability > b.probability : a.label < b.label;
      });
  all.resize(n);
  return all;
}

}  // namespace glassbox::predict
