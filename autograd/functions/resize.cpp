// Adaptive pooling and interpolate (nn/functional_resize.h): each forward validates its
// arguments with an error naming the op, the values and the shapes, runs its kernel
// (core/kernels_nn.h) on the input viewed as planes [N * C, H, W], and records its backward
// right below.
#include <cmath>
#include <string>

#include "autograd/node.h"
#include "core/kernels_nn.h"
#include "nn/functional.h"

namespace glassbox::nn::functional {
using autograd::needs_grad;
using autograd::record;

namespace {

std::string pair_str(std::array<int64_t, 2> a) { return str("(", a[0], ", ", a[1], ")"); }

void check_image(const char* op, const Tensor& input, bool allow_3d) {
  GB_CHECK(input.defined(), op, ": input is undefined");
  GB_CHECK(is_floating(input.dtype()), op, ": expected a floating-point input, got ",
           dtype_name(input.dtype()), " ", input.shape_str());
  if (allow_3d)
    GB_CHECK(input.dim() == 3 || input.dim() == 4, op,
             ": expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got ", input.shape_str());
  else
    GB_CHECK(input.dim() == 4, op,
             ": expected a 4-D [N, C, H, W] input (nearest and bilinear resize the last two "
             "dims; PyTorch reads a 3-D input as [N, C, L]: unsqueeze(0) one image), got ",
             input.shape_str());
  GB_CHECK(input.size(-1) > 0 && input.size(-2) > 0, op, ": input ", input.shape_str(),
           " has an empty spatial dim");
}

// [N * C, H, W] and the output shape with the same leading dims
struct Planes {
  int64_t P, H, W;
  Shape out_shape;
};
Planes planes_of(const Tensor& input, std::array<int64_t, 2> out) {
  Planes pl{1, input.size(-2), input.size(-1), {}};
  for (int64_t d = 0; d < input.dim() - 2; ++d) {
    pl.P *= input.size(d);
    pl.out_shape.push_back(input.size(d));
  }
  pl.out_shape.push_back(out[0]);
  pl.out_shape.push_back(out[1]);
  return pl;
}

void check_output_size(const char* op, const Tensor& input, std::array<int64_t, 2> out) {
  GB_CHECK(out[0] > 0 && out[1] > 0, op, ": output_size must be positive, got ", pair_str(out),
           " (input ", input.shape_str(), ")");
}

}  // namespace

// ---------------------------------------------------------------- adaptive pooling
Tensor adaptive_avg_pool2d(const Tensor& input, std::array<int64_t, 2> output_size) {
  check_image("adaptive_avg_pool2d", input, true);
  check_output_size("adaptive_avg_pool2d", input, output_size);
  const Planes pl = planes_of(input, output_size);
  Tensor out = kernels::adaptive_avg_pool2d(input.detach().reshape({pl.P, pl.H, pl.W}), output_size)
                   .view(pl.out_shape);
  if (needs_grad({input})) {
    record("AdaptiveAvgPool2DBackward", out, {input},
           [pl, output_size, shape = input.shape()](const Tensor& g) {
             Tensor g3 = g.reshape({pl.P, output_size[0], output_size[1]});
             return std::vector<Tensor>{
                 kernels::adaptive_avg_pool2d_backward(g3, {pl.P, pl.H, pl.W}).view(shape)};
           });
  }
  return out;
}

std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& input,
                                                           std::array<int64_t, 2> output_size) {
  check_image("adaptive_max_pool2d", input, true);
  check_output_size("adaptive_max_pool2d", input, output_size);
  const Planes pl = planes_of(input, output_size);
  auto [values, indices] =
      kernels::adaptive_max_pool2d(input.detach().reshape({pl.P, pl.H, pl.W}), output_size);
  Tensor out = values.view(pl.out_shape);
  if (needs_grad({input})) {
    record(
        "AdaptiveMaxPool2DBackward", out, {input},
        [indices = indices, pl, output_size, shape = input.shape()](const Tensor& g) {
          Tensor g3 = g.reshape({pl.P, output_size[0], output_size[1]});
          return std::vector<Tensor>{
              kernels::adaptive_max_pool2d_backward(g3, indices, {pl.P, pl.H, pl.W}).view(shape)};
        });
  }
  return {out, indices.view(pl.out_shape)};
}

Tensor adaptive_max_pool2d(const Tensor& input, std::array<int64_t, 2> output_size) {
  return adaptive_max_pool2d_with_indices(input, output_size).first;
}

// ---------------------------------------------------------------- interpolate
const char* mode_name(InterpolateMode mode) {
  return mode == InterpolateMode::Bilinear ? "bilinear" : "nearest";
}

// PyTorch 1.13's torch.nn.functional.interpolate for 4-D input: the output size comes from
// `size`, or is floor(in * scale_factor) (in double); the scale_factor itself also goes to
// the kernel, which then places samples with 1 / scale_factor instead of in / out (the two
// differ when in * scale_factor is not an integer), unless recompute_scale_factor.
Tensor interpolate(const Tensor& input, const InterpolateFuncOptions& o) {
  const char* op = "interpolate";
  check_image(op, input, false);
  const std::string mode = mode_name(o.mode());
  const bool bilinear = o.mode() == InterpolateMode::Bilinear;
  GB_CHECK(bilinear || !o.align_corners().has_value(), op,
           ": align_corners can only be set with the interpolating modes (bilinear), not with "
           "mode ",
           mode, " (input ", input.shape_str(), ")");
  GB_CHECK(!(o.size() && o.scale_factor()), op,
           ": only one of size or scale_factor should be defined (input ", input.shape_str(), ")");
  GB_CHECK(o.size() || o.scale_factor(), op,
           ": either size or scale_factor should be defined (input ", input.shape_str(), ")");
  GB_CHECK(!(o.size() && o.recompute_scale_factor().value_or(false)), op,
           ": recompute_scale_factor is not meaningful with an explicit size (input ",
           input.shape_str(), ")");
  const int64_t H = input.size(2), W = input.size(3);
  kernels::Resize2d r;
  r.bilinear = bilinear;
  r.align_corners = o.align_corners().value_or(false);
  if (o.size()) {
    const std::vector<int64_t>& s = *o.size();
    GB_CHECK(s.size() == 2, op,
             ": size must have 2 values (one per spatial dim) or be one "
             "number, got ",
             s.size(), " values (input ", input.shape_str(), ")");
    GB_CHECK(s[0] > 0 && s[1] > 0, op, ": size must be positive, got (", s[0], ", ", s[1],
             ") (input ", input.shape_str(), ")");
    r.out = {s[0], s[1]};
  } else {
    const std::vector<double>& f = *o.scale_factor();
    GB_CHECK(f.size() == 2, op,
             ": scale_factor must have 2 values (one per spatial dim) or be "
             "one number, got ",
             f.size(), " values (input ", input.shape_str(), ")");
    const int64_t in[2] = {H, W};
    for (int d = 0; d < 2; ++d) {
      GB_CHECK(std::isfinite(f[d]) && f[d] > 0, op,
               ": scale_factor must be positive and finite, got (", f[0], ", ", f[1], ") (input ",
               input.shape_str(), ")");
      const double size = std::floor(double(in[d]) * f[d]);
      GB_CHECK(size >= 1 && size < 9.2e18, op, ": scale_factor (", f[0], ", ", f[1],
               ") gives an output of ", size, " along spatial dim ", d, " for input ",
               input.shape_str(), "; the output needs at least one element");
      r.out[d] = static_cast<int64_t>(size);
      if (!o.recompute_scale_factor().value_or(false)) r.scale_factor[d] = f[d];
    }
  }
  const Planes pl = planes_of(input, r.out);
  Tensor out =
      kernels::upsample2d(input.detach().reshape({pl.P, pl.H, pl.W}), r).view(pl.out_shape);
  if (needs_grad({input})) {
    record(bilinear ? "UpsampleBilinear2DBackward" : "UpsampleNearest2DBackward", out, {input},
           [pl, r, shape = input.shape()](const Tensor& g) {
             Tensor g3 = g.reshape({pl.P, r.out[0], r.out[1]});
             return std::vector<Tensor>{
                 kernels::upsample2d_backward(g3, {pl.P, pl.H, pl.W}, r).view(shape)};
           });
  }
  return out;
}

}  // namespace glassbox::nn::functional
