#pragma once
// nn::functional: the stateless layer ops the modules call (and users may call directly).
// Every op here is differentiable through the tape; shapes follow PyTorch (NCHW images,
// OIHW conv weights, [out, in] linear weights). Implementations:
//   conv2d / conv_transpose2d ......... autograd/functions/conv.cpp (+ core/cpu/conv_*.cpp)
//   everything else ................... autograd/functions/nn.cpp (+ core/cpu/nn_*.cpp)
#include <array>
#include <cstdint>
#include <string>

#include "core/generator.h"
#include "core/tensor.h"
#include "nn/expanding_array.h"

namespace glassbox::nn::functional {
using nn::ExpandingArray;
using nn::Padding2d;

// ---------------------------------------------------------------- convolution
// How a convolution is computed. All algorithms support every option and agree to rounding.
enum class ConvAlgo {
  Auto,       // a fixed rule on the shapes (Flat for few channels at stride 1, else a GEMM)
  Direct,     // the readable reference: plain nested loops
  ShiftGemm,  // channels-last image, one GEMM per kernel tap, accumulated into shifted slices
  Im2col,     // im2col + GEMM (col2im for the input gradient)
  Flat,       // channel planes as flat vectors, each tap an offset: few-channel direct sums
};
// "auto", "direct", "shiftgemm", "im2col", "flat"
const char* conv_algo_name(ConvAlgo a);
ConvAlgo parse_conv_algo(const std::string& name);  // inverse; throws on an unknown name

// The global default, used where a call or a layer does not force an algorithm. Starts as
// Auto.
void set_default_conv_algo(ConvAlgo a);
ConvAlgo default_conv_algo();

struct ConvParams {
  std::array<int64_t, 2> stride{1, 1};
  // explicit zero padding: `padding = 1` all sides, `{1, 2}` (height, width) as in PyTorch,
  // `{t, b, l, r}` asymmetric (needed for "same" with even kernels, where PyTorch puts the
  // extra row/column at the bottom/right); indexed padding[0..3] = top, bottom, left, right
  Padding2d padding;
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
  std::array<int64_t, 2> output_padding{0, 0};  // conv_transpose2d only
  ConvAlgo algo = ConvAlgo::Auto;               // Auto here means "use default_conv_algo()"

  // chained setters, LibTorch style
  ConvParams& set_stride(int64_t s) {
    stride = {s, s};
    return *this;
  }
  ConvParams& set_stride(int64_t sh, int64_t sw) {
    stride = {sh, sw};
    return *this;
  }
  ConvParams& set_padding(int64_t p) {
    padding = {p, p, p, p};
    return *this;
  }
  ConvParams& set_padding(int64_t ph, int64_t pw) {
    padding = {ph, pw};
    return *this;
  }
  ConvParams& set_padding(int64_t top, int64_t bottom, int64_t left, int64_t right) {
    padding = {top, bottom, left, right};
    return *this;
  }
  ConvParams& set_dilation(int64_t d) {
    dilation = {d, d};
    return *this;
  }
  ConvParams& set_dilation(int64_t dh, int64_t dw) {
    dilation = {dh, dw};
    return *this;
  }
  ConvParams& set_groups(int64_t g) {
    groups = g;
    return *this;
  }
  ConvParams& set_output_padding(int64_t p) {
    output_padding = {p, p};
    return *this;
  }
  ConvParams& set_output_padding(int64_t ph, int64_t pw) {
    output_padding = {ph, pw};
    return *this;
  }
  ConvParams& set_algo(ConvAlgo a) {
    algo = a;
    return *this;
  }
};

// input [N, C_in, H, W], weight [C_out, C_in/groups, kH, kW], bias [C_out] or undefined.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              const ConvParams& params = ConvParams());
// input [N, C_in, H, W], weight [C_in, C_out/groups, kH, kW] (PyTorch's layout), bias [C_out].
// The adjoint of conv2d: its forward is conv2d's input gradient.
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
                        const ConvParams& params = ConvParams());
// Which algorithm a call with these arguments runs on `device` (params.algo, else the
// default, else the Auto rule, which differs between the CPU and CUDA).
ConvAlgo conv_algo_for(const Shape& input, const Shape& weight, const ConvParams& params,
                       bool transposed = false, Device device = kCPU);

// ---------------------------------------------------------------- other layers
// input [..., in], weight [out, in], bias [out] or undefined
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor());
// NCHW pooling; stride 0 means "= kernel". Padding is implicit -inf (max) / 0 (avg). Each
// window argument is one number or one per dim, as the modules': max_pool2d(x, 3, 2, 1),
// avg_pool2d(x, {3, 3}, 2).
Tensor max_pool2d(const Tensor& input, ExpandingArray<2> kernel_size, ExpandingArray<2> stride = 0,
                  ExpandingArray<2> padding = 0, ExpandingArray<2> dilation = 1,
                  bool ceil_mode = false);
Tensor avg_pool2d(const Tensor& input, ExpandingArray<2> kernel_size, ExpandingArray<2> stride = 0,
                  ExpandingArray<2> padding = 0, bool ceil_mode = false,
                  bool count_include_pad = true);
// Zeroes each element with probability p and scales the survivors by 1/(1-p) when training;
// the identity otherwise.
Tensor dropout(const Tensor& input, double p, bool training, Generator* gen = nullptr);
Tensor log_softmax(const Tensor& input, int64_t dim);
Tensor softmax(const Tensor& input, int64_t dim);

// How a loss reduces its per-element values. The losses themselves (nll_loss, cross_entropy,
// mse_loss, binary_cross_entropy, ...) are in nn/functional_loss.h.
enum class Reduction { None, Mean, Sum };
// input [N, C, ...]. Training: normalises with the batch statistics (biased variance) and
// updates running_mean/var in place with `momentum` (unbiased variance, as PyTorch);
// eval: normalises with the running statistics. weight/bias [C] may be undefined.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum = 0.1,
                  double eps = 1e-5);

}  // namespace glassbox::nn::functional

namespace glassbox {
namespace F = nn::functional;
}

// The rest of nn::functional, by topic.
#include "nn/functional_activation.h"
#include "nn/functional_loss.h"
#include "nn/functional_norm.h"
#include "nn/functional_resize.h"
