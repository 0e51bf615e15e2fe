// Convolution ops: conv2d and conv_transpose2d, forward and backward side by side, plus the
// choice of algorithm. The math lives behind core/kernels_conv.h, phrased for conv2d:
//
//                       forward              input gradient        weight gradient
//   conv2d              forward(x, w)        grad_input(dy, w)     grad_weight(x, dy)
//   conv_transpose2d    grad_input(x, w)     forward(dy, w)        grad_weight(dy, x)
//
// conv_transpose2d is the adjoint of the conv2d whose input has conv_transpose2d's output
// shape, so one geometry describes both and every algorithm serves both.
#include <algorithm>
#include <atomic>
#include <cctype>

#include "autograd/node.h"
#include "core/kernels.h"
#include "core/kernels_conv.h"
#include "nn/functional.h"

namespace glassbox::nn::functional {
using autograd::needs_grad;
using autograd::record;
using kernels::ConvGeometry;
using kernels::ConvKernel;

// ---------------------------------------------------------------- algorithm names, default

const char* conv_algo_name(ConvAlgo a) {
  switch (a) {
    case ConvAlgo::Auto:
      return "auto";
    case ConvAlgo::Direct:
      return "direct";
    case ConvAlgo::ShiftGemm:
      return "shiftgemm";
    case ConvAlgo::Im2col:
      return "im2col";
    case ConvAlgo::Flat:
      return "flat";
  }
  return "?";
}

ConvAlgo parse_conv_algo(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (ConvAlgo a :
       {ConvAlgo::Auto, ConvAlgo::Direct, ConvAlgo::ShiftGemm, ConvAlgo::Im2col, ConvAlgo::Flat})
    if (lower == conv_algo_name(a)) return a;
  fail(str("parse_conv_algo: unknown convolution algorithm \"", name,
           "\"; expected one of auto, direct, shiftgemm, im2col, flat"));
}

namespace {
std::atomic<ConvAlgo> g_default_algo{ConvAlgo::Auto};
}  // namespace

void set_default_conv_algo(ConvAlgo a) { g_default_algo.store(a); }
ConvAlgo default_conv_algo() { return g_default_algo.load(); }

// ---------------------------------------------------------------- checks and geometry
namespace {

std::string shapes(const Shape& input, const Shape& weight) {
  return str("(input ", shape_str(input), ", weight ", shape_str(weight), ")");
}

// Validates the shapes and parameters of conv2d (transposed = false) or conv_transpose2d and
// returns the geometry of the conv2d that both are phrased in (see the file comment).
ConvGeometry make_geometry(const Shape& input, const Shape& weight, const ConvParams& p,
                           bool transposed, const char* op) {
  const std::string where = shapes(input, weight);
  GB_CHECK(input.size() == 4, op, ": input must be 4-D [N, C_in, H, W], got ", input.size(), "-D ",
           where);
  GB_CHECK(weight.size() == 4, op, ": weight must be 4-D ",
           transposed ? "[C_in, C_out/groups, kH, kW]" : "[C_out, C_in/groups, kH, kW]", ", got ",
           weight.size(), "-D ", where);
  for (int a = 0; a < 2; ++a) {
    GB_CHECK(p.stride[a] > 0, op, ": stride must be positive, got ", p.stride[0], "x", p.stride[1],
             " ", where);
    GB_CHECK(p.dilation[a] > 0, op, ": dilation must be positive, got ", p.dilation[0], "x",
             p.dilation[1], " ", where);
    GB_CHECK(p.output_padding[a] >= 0, op, ": output_padding must be non-negative, got ",
             p.output_padding[0], "x", p.output_padding[1], " ", where);
  }
  for (int64_t pad : p.padding)
    GB_CHECK(pad >= 0, op, ": padding must be non-negative, got (top ", p.padding[0], ", bottom ",
             p.padding[1], ", left ", p.padding[2], ", right ", p.padding[3], ") ", where);
  GB_CHECK(p.groups > 0, op, ": groups must be positive, got ", p.groups, " ", where);
  for (int64_t s : weight) GB_CHECK(s > 0, op, ": weight sizes must be positive ", where);
  GB_CHECK(input[0] >= 0 && input[1] > 0, op, ": input needs at least one channel ", where);

  const int64_t groups = p.groups, channels = input[1];
  GB_CHECK(channels % groups == 0, op, ": input has ", channels,
           " channels, which is not divisible by groups=", groups, " ", where);
  ConvGeometry g;
  g.batch = input[0];
  g.kernel_h = weight[2];
  g.kernel_w = weight[3];
  g.stride_h = p.stride[0];
  g.stride_w = p.stride[1];
  g.pad_top = p.padding[0];
  g.pad_left = p.padding[2];
  g.dilation_h = p.dilation[0];
  g.dilation_w = p.dilation[1];
  g.groups = groups;
  const int64_t extent_h = p.dilation[0] * (weight[2] - 1) + 1;  // the dilated kernel
  const int64_t extent_w = p.dilation[1] * (weight[3] - 1) + 1;

  if (!transposed) {
    GB_CHECK(p.output_padding[0] == 0 && p.output_padding[1] == 0, op,
             ": output_padding is only for conv_transpose2d, got ", p.output_padding[0], "x",
             p.output_padding[1], " ", where);
    if (groups == 1)
      GB_CHECK(weight[1] == channels, op, ": input has ", channels, " channels, weight expects ",
               weight[1], " ", where);
    else
      GB_CHECK(weight[1] * groups == channels, op, ": input has ", channels,
               " channels, weight expects ", weight[1] * groups, " (", weight[1],
               " per group x groups=", groups, ") ", where);
    GB_CHECK(weight[0] % groups == 0, op, ": weight has ", weight[0],
             " output channels, which is not divisible by groups=", groups, " ", where);
    const int64_t padded_h = input[2] + p.padding[0] + p.padding[1];
    const int64_t padded_w = input[3] + p.padding[2] + p.padding[3];
    GB_CHECK(extent_h <= padded_h && extent_w <= padded_w, op, ": kernel ", weight[2], "x",
             weight[3], " (", extent_h, "x", extent_w,
             " with dilation) is larger than the padded input ", padded_h, "x", padded_w, " ",
             where);
    g.in_channels = channels;
    g.in_h = input[2];
    g.in_w = input[3];
    g.out_channels = weight[0];
    g.out_h = (padded_h - extent_h) / p.stride[0] + 1;
    g.out_w = (padded_w - extent_w) / p.stride[1] + 1;
    return g;
  }

  GB_CHECK(weight[0] == channels, op, ": input has ", channels, " channels, weight expects ",
           weight[0], " (weight is [C_in, C_out/groups, kH, kW]) ", where);
  for (int a = 0; a < 2; ++a)
    GB_CHECK(p.output_padding[a] < p.stride[a] || p.output_padding[a] < p.dilation[a], op,
             ": output_padding must be smaller than either stride or dilation, got "
             "output_padding ",
             p.output_padding[0], "x", p.output_padding[1], ", stride ", p.stride[0], "x",
             p.stride[1], ", dilation ", p.dilation[0], "x", p.dilation[1], " ", where);
  const int64_t out_h =
      (input[2] - 1) * p.stride[0] - p.padding[0] - p.padding[1] + extent_h + p.output_padding[0];
  const int64_t out_w =
      (input[3] - 1) * p.stride[1] - p.padding[2] - p.padding[3] + extent_w + p.output_padding[1];
  GB_CHECK(out_h > 0 && out_w > 0, op, ": the output would be ", out_h, "x", out_w,
           "; padding (top ", p.padding[0], ", bottom ", p.padding[1], ", left ", p.padding[2],
           ", right ", p.padding[3], ") is too large ", where);
  // the conv2d this is the adjoint of: its input is our output and its output our input
  g.in_channels = weight[1] * groups;
  g.in_h = out_h;
  g.in_w = out_w;
  g.out_channels = channels;
  g.out_h = input[2];
  g.out_w = input[3];
  return g;
}

void check_tensors(const Tensor& input, const Tensor& weight, const Tensor& bias, int64_t bias_size,
                   const char* op) {
  const std::string where = shapes(input.shape(), weight.shape());
  GB_CHECK(is_floating(input.dtype()), op, ": expected a floating-point input, got ",
           dtype_name(input.dtype()), " ", where);
  GB_CHECK(weight.dtype() == input.dtype(), op, ": weight is ", dtype_name(weight.dtype()),
           " but input is ", dtype_name(input.dtype()), " ", where);
  if (!bias.defined()) return;
  GB_CHECK(bias.dtype() == input.dtype(), op, ": bias is ", dtype_name(bias.dtype()),
           " but input is ", dtype_name(input.dtype()), " ", where);
  GB_CHECK(bias.dim() == 1 && bias.size(0) == bias_size, op, ": bias has shape ", bias.shape_str(),
           ", expected [", bias_size, "] ", where);
}

// ---------------------------------------------------------------- choosing an algorithm

// The heuristic behind Auto. It looks only at the geometry, so every call with the same
// shapes and parameters gets the same answer (nothing is timed, so there is nothing to cache).
// From timings of the algorithms on 2 cores (forward, and forward + both gradients) over
// typical layers, 1->8 to 128->128 channels, 8x8 to 32x32 images:
// - Flat wins forward everywhere at stride 1, and forward + backward up to 16 input and 32
//   output channels per group (2-9x ShiftGemm on the notebook's 1->3 ... 6->6 layers, 1.1-1.5x
//   the best GEMM-based one at 16->16 and 16->32). With more channels its register blocks
//   re-read the image once per 8 channels and GEMMs catch up; with stride > 1 it computes the
//   whole stride-1 grid.
// - Otherwise ShiftGemm is the fastest or within a few percent, except for few input channels
//   per group feeding many outputs (a 3->64 first layer): every tap is then a rank-1..7 update,
//   which Eigen does poorly, while Im2col folds all taps into one GEMM with inner size
//   C_in/groups * kH * kW. Direct is never competitive.
ConvAlgo heuristic(const ConvGeometry& g) {
  const int64_t G = g.in_per_group(), M = g.out_per_group();
  if (g.stride_h == 1 && g.stride_w == 1 && G <= 16 && M <= 32) return ConvAlgo::Flat;
  const bool fixed_size = G <= 4 && M <= 4;
  if (!fixed_size && G < 8) return ConvAlgo::Im2col;
  return ConvAlgo::ShiftGemm;
}

// On CUDA the tiled few-channel kernels (cuda/kernels/conv_tiled.cuh) hold one accumulator
// per channel of the group in registers, up to 32, at any stride; past that im2col's GEMM,
// where cuBLAS has enough inner dimension to work with, is the faster path.
ConvAlgo cuda_heuristic(const ConvGeometry& g) {
  return g.in_per_group() <= 32 && g.out_per_group() <= 32 ? ConvAlgo::Flat : ConvAlgo::Im2col;
}

ConvAlgo resolve(const ConvGeometry& g, ConvAlgo requested, Device device) {
  ConvAlgo a = requested != ConvAlgo::Auto ? requested : default_conv_algo();
  if (a != ConvAlgo::Auto) return a;
  return device.is_cuda() ? cuda_heuristic(g) : heuristic(g);
}

ConvKernel kernel_of(ConvAlgo a) {
  switch (a) {
    case ConvAlgo::Direct:
      return ConvKernel::Direct;
    case ConvAlgo::Im2col:
      return ConvKernel::Im2col;
    case ConvAlgo::Flat:
      return ConvKernel::Flat;
    case ConvAlgo::ShiftGemm:
    case ConvAlgo::Auto:
      break;
  }
  return ConvKernel::ShiftGemm;
}

}  // namespace

ConvAlgo conv_algo_for(const Shape& input, const Shape& weight, const ConvParams& params,
                       bool transposed, Device device) {
  const char* op = transposed ? "conv_transpose2d" : "conv2d";
  return resolve(make_geometry(input, weight, params, transposed, op), params.algo, device);
}

// ---------------------------------------------------------------- the ops

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const ConvParams& params) {
  GB_CHECK(input.defined() && weight.defined(), "conv2d: input and weight must be defined");
  const ConvGeometry g = make_geometry(input.shape(), weight.shape(), params, false, "conv2d");
  check_tensors(input, weight, bias, g.out_channels, "conv2d");
  const ConvKernel k = kernel_of(resolve(g, params.algo, input.device()));

  Tensor out = kernels::conv2d_forward(input, weight, bias, g, k, "conv2d");
  if (needs_grad({input, weight, bias})) {
    const bool gx = input.requires_grad(), gw = weight.requires_grad();
    const bool gb = bias.defined() && bias.requires_grad();
    Tensor x = gw ? input.detach() : Tensor();  // saved only when its gradient needs it
    Tensor w = gx ? weight.detach() : Tensor();
    record(
        "Conv2dBackward", out, {input, weight, bias},
        [x, w, g, k, gx, gw, gb](const Tensor& dy) {
          return std::vector<Tensor>{
              gx ? kernels::conv2d_grad_input(dy, w, Tensor(), g, k, "conv2d backward") : Tensor(),
              gw ? kernels::conv2d_grad_weight(x, dy, g, k, "conv2d backward") : Tensor(),
              gb ? kernels::conv2d_grad_bias(dy, "conv2d backward") : Tensor()};
        },
        {x, w});
  }
  return out;
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                        const ConvParams& params) {
  GB_CHECK(input.defined() && weight.defined(),
           "conv_transpose2d: input and weight must be defined");
  const ConvGeometry g =
      make_geometry(input.shape(), weight.shape(), params, true, "conv_transpose2d");
  check_tensors(input, weight, bias, g.in_channels, "conv_transpose2d");
  const ConvKernel k = kernel_of(resolve(g, params.algo, input.device()));

  Tensor out = kernels::conv2d_grad_input(input, weight, bias, g, k, "conv_transpose2d");
  if (needs_grad({input, weight, bias})) {
    const bool gx = input.requires_grad(), gw = weight.requires_grad();
    const bool gb = bias.defined() && bias.requires_grad();
    Tensor x = gw ? input.detach() : Tensor();
    Tensor w = gx ? weight.detach() : Tensor();
    record("ConvTranspose2dBackward", out, {input, weight, bias},
           [x, w, g, k, gx, gw, gb](const Tensor& dy) {
             const char* op = "conv_transpose2d backward";
             return std::vector<Tensor>{
                 gx ? kernels::conv2d_forward(dy, w, Tensor(), g, k, op) : Tensor(),
                 gw ? kernels::conv2d_grad_weight(dy, x, g, k, op) : Tensor(),
                 gb ? kernels::conv2d_grad_bias(dy, op) : Tensor()};
           },
           {x, w});
  }
  return out;
}

}  // namespace glassbox::nn::functional
