#pragma once
// Convolution kernels: the device dispatch behind F::conv2d and F::conv_transpose2d
// (autograd/functions/conv.cpp). Like core/kernels.h, nothing here records autograd history.
//
// Everything is phrased for conv2d. With x [N, C_in, H, W], w [C_out, C_in/groups, kH, kW]
// and G = C_in/groups input channels per group, the forward is
//
//   y[n, o, i, j] = b[o] + sum_{c < G, p < kH, q < kW} x[n, g*G + c, i*sh - pad_top + p*dh,
//                                                              j*sw - pad_left + q*dw]
//                                                        * w[o, c, p, q]
//
// where g = o / (C_out/groups) and x is zero outside the image. conv_transpose2d is the
// adjoint of that map, so it needs no kernels of its own: its forward is conv2d_grad_input,
// its input gradient is conv2d_forward and its weight gradient is conv2d_grad_weight with
// the roles of x and dy swapped.
#include "core/tensor.h"

namespace glassbox::kernels {

// The concrete algorithms (ConvAlgo::Auto is resolved by the caller). Each one supports every
// option; they agree to rounding.
enum class ConvKernel {
  Direct,     // plain nested loops: the reference the others are tested against
  ShiftGemm,  // channels-last image, one GEMM per kernel tap over the channels ("kn2row")
  Im2col,     // im2col buffer + one GEMM per group; col2im for the input gradient
  Flat,       // planes as flat vectors, a tap = an offset; register-blocked, for few channels
};
const char* conv_kernel_name(ConvKernel k);  // "direct", "shiftgemm", "im2col", "flat"

// The geometry of one conv2d. The output extent is stored, not re-derived, because
// conv_transpose2d with output_padding >= stride (allowed when < dilation) uses only a prefix
// of the outputs its conv2d would have. Bottom/right padding only decides out_h/out_w, so it
// is not needed here.
struct ConvGeometry {
  int64_t batch = 0;
  int64_t in_channels = 0, in_h = 0, in_w = 0;     // x
  int64_t out_channels = 0, out_h = 0, out_w = 0;  // y
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;

  int64_t in_per_group() const { return in_channels / groups; }
  int64_t out_per_group() const { return out_channels / groups; }
  Shape input_shape() const { return {batch, in_channels, in_h, in_w}; }
  Shape output_shape() const { return {batch, out_channels, out_h, out_w}; }
  Shape weight_shape() const { return {out_channels, in_per_group(), kernel_h, kernel_w}; }
};

// All three take any strides (they make contiguous copies where needed) and float32 or
// float64 operands of one dtype; `op` names the user-facing op in errors.
//
// y = conv2d(x, w) + b. x has input_shape(), w weight_shape(), b [C_out] or undefined.
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const ConvGeometry& g,
                      ConvKernel k, const char* op);
// dx = d<y, dy>/dx for dy of output_shape(); with b [C_in] defined, b[c] is added to every
// element of channel c (that is conv_transpose2d's forward with bias).
Tensor conv2d_grad_input(const Tensor& dy, const Tensor& w, const Tensor& b, const ConvGeometry& g,
                         ConvKernel k, const char* op);
// dw = d<y, dy>/dw: [C_out, C_in/groups, kH, kW].
Tensor conv2d_grad_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g, ConvKernel k,
                          const char* op);
// db[c] = sum of dy[n, c, i, j] over n, i, j, for a 4-D dy [N, C, H, W].
Tensor conv2d_grad_bias(const Tensor& dy, const char* op);

}  // namespace glassbox::kernels
