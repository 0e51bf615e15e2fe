// Layer ops (nn::functional, except convolution): each forward validates shapes with an
// error naming the op and the shapes, calls its kernel (core/kernels_nn.h) or composes
// existing differentiable ops, and records its backward right below.
#include <cmath>
#include <sstream>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "core/generator.h"
#include "core/kernels.h"
#include "core/kernels_nn.h"
#include "core/ops.h"
#include "nn/functional.h"

namespace glassbox::nn::functional {
using autograd::needs_grad;
using autograd::record;

namespace {

std::string pair_str(std::array<int64_t, 2> a) { return str("(", a[0], ", ", a[1], ")"); }

void check_input(const char* op, const Tensor& t, const char* what = "input") {
  GB_CHECK(t.defined(), op, ": ", what, " is undefined");
  GB_CHECK(is_floating(t.dtype()), op, ": expected a floating-point ", what, ", got ",
           dtype_name(t.dtype()), " ", t.shape_str());
}

// PyTorch's pooling_output_shape: floor (or ceil) of the window count, where in ceil mode the
// last window must still start inside the input or its left padding.
int64_t pool_out_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dilation,
                      bool ceil_mode) {
  const int64_t span = in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t out = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// Validates a pooling call and works out its geometry; `dilation` is {1, 1} for avg.
kernels::Pool2d pool_params(const char* op, const Tensor& input, std::array<int64_t, 2> kernel,
                            std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                            std::array<int64_t, 2> dilation, bool ceil_mode) {
  check_input(op, input);
  GB_CHECK(input.dim() == 3 || input.dim() == 4, op,
           ": expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got ", input.shape_str());
  for (int64_t d = input.dim() - 3; d < input.dim(); ++d)
    GB_CHECK(input.size(d) > 0, op, ": input ", input.shape_str(),
             " has an empty channel or spatial dim");
  if (stride[0] == 0 && stride[1] == 0) stride = kernel;
  for (int i = 0; i < 2; ++i) {
    GB_CHECK(kernel[i] > 0, op, ": kernel_size must be positive, got ", pair_str(kernel),
             " (input ", input.shape_str(), ")");
    GB_CHECK(stride[i] > 0, op, ": stride must be positive, got ", pair_str(stride), " (input ",
             input.shape_str(), ")");
    GB_CHECK(dilation[i] > 0, op, ": dilation must be positive, got ", pair_str(dilation),
             " (input ", input.shape_str(), ")");
    GB_CHECK(padding[i] >= 0 && padding[i] <= kernel[i] / 2, op,
             ": padding should be at most half of the kernel size, got padding ", pair_str(padding),
             " for kernel_size ", pair_str(kernel), " (input ", input.shape_str(), ")");
  }
  kernels::Pool2d p;
  p.kernel = kernel;
  p.stride = stride;
  p.padding = padding;
  p.dilation = dilation;
  const int64_t H = input.size(-2), W = input.size(-1);
  p.out = {pool_out_size(H, kernel[0], padding[0], stride[0], dilation[0], ceil_mode),
           pool_out_size(W, kernel[1], padding[1], stride[1], dilation[1], ceil_mode)};
  GB_CHECK(p.out[0] > 0 && p.out[1] > 0, op, ": input ", input.shape_str(),
           " is too small for kernel_size ", pair_str(kernel), " with stride ", pair_str(stride),
           ", padding ", pair_str(padding), " and dilation ", pair_str(dilation),
           ": the output would be ", p.out[0], "x", p.out[1]);
  return p;
}

// Input as [planes, H, W] (planes = N * C), and the output shape with the same leading dims.
struct Planes {
  int64_t P, H, W;
  Shape out_shape;
};
Planes planes_of(const Tensor& input, const kernels::Pool2d& p) {
  Planes pl{1, input.size(-2), input.size(-1), {}};
  for (int64_t d = 0; d < input.dim() - 2; ++d) {
    pl.P *= input.size(d);
    pl.out_shape.push_back(input.size(d));
  }
  pl.out_shape.push_back(p.out[0]);
  pl.out_shape.push_back(p.out[1]);
  return pl;
}

}  // namespace

// ---------------------------------------------------------------- linear
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  check_input("linear", input);
  check_input("linear", weight, "weight");
  GB_CHECK(weight.dim() == 2, "linear: weight must be 2-D [out_features, in_features], got ",
           weight.shape_str(), " (input ", input.shape_str(), ")");
  GB_CHECK(input.dim() >= 1 && input.size(-1) == weight.size(1), "linear: input ",
           input.shape_str(), " does not match weight ", weight.shape_str(),
           ": the input's last dim must be in_features = ", weight.size(1));
  GB_CHECK(input.dtype() == weight.dtype(), "linear: input is ", dtype_name(input.dtype()),
           " but weight is ", dtype_name(weight.dtype()), " (input ", input.shape_str(),
           ", weight ", weight.shape_str(), ")");
  GB_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)), "linear: bias ",
           bias.shape_str(), " does not match weight ", weight.shape_str(), ": expected [",
           weight.size(0), "]");
  Tensor out = matmul(input, weight.t());
  return bias.defined() ? out + bias : out;
}

// ---------------------------------------------------------------- pooling
Tensor max_pool2d(const Tensor& input, ExpandingArray<2> kernel_size, ExpandingArray<2> stride,
                  ExpandingArray<2> padding, ExpandingArray<2> dilation, bool ceil_mode) {
  kernels::Pool2d p =
      pool_params("max_pool2d", input, *kernel_size, *stride, *padding, *dilation, ceil_mode);
  Planes pl = planes_of(input, p);
  auto [values, indices] = kernels::max_pool2d(input.detach().reshape({pl.P, pl.H, pl.W}), p);
  Tensor out = values.view(pl.out_shape);
  if (needs_grad({input})) {
    record("MaxPool2DBackward", out, {input},
           [indices = indices, pl, p, shape = input.shape()](const Tensor& g) {
             Tensor g3 = g.reshape({pl.P, p.out[0], p.out[1]});
             return std::vector<Tensor>{
                 kernels::max_pool2d_backward(g3, indices, {pl.P, pl.H, pl.W}, p).view(shape)};
           });
  }
  return out;
}

Tensor avg_pool2d(const Tensor& input, ExpandingArray<2> kernel_size, ExpandingArray<2> stride,
                  ExpandingArray<2> padding, bool ceil_mode, bool count_include_pad) {
  kernels::Pool2d p =
      pool_params("avg_pool2d", input, *kernel_size, *stride, *padding, {1, 1}, ceil_mode);
  p.count_include_pad = count_include_pad;
  Planes pl = planes_of(input, p);
  Tensor out =
      kernels::avg_pool2d(input.detach().reshape({pl.P, pl.H, pl.W}), p).view(pl.out_shape);
  if (needs_grad({input})) {
    record("AvgPool2DBackward", out, {input}, [pl, p, shape = input.shape()](const Tensor& g) {
      Tensor g3 = g.reshape({pl.P, p.out[0], p.out[1]});
      return std::vector<Tensor>{
          kernels::avg_pool2d_backward(g3, {pl.P, pl.H, pl.W}, p).view(shape)};
    });
  }
  return out;
}

// ---------------------------------------------------------------- dropout
Tensor dropout(const Tensor& input, double p, bool training, Generator* gen) {
  check_input("dropout", input);
  GB_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability has to be between 0 and 1, but got ", p,
           " (input ", input.shape_str(), ")");
  if (!training || p == 0.0) return input;
  if (p == 1.0) return input * 0.0;  // every element dropped; the gradient is zero too
  // keep each element with probability 1 - p (u < 1 - p for a uniform u of the input's
  // dtype) and scale the survivors by 1 / (1 - p): the mask in one kernel on the input's
  // device, from the generator's next blocks, so a seed gives the same mask on every device
  Tensor mask =
      empty(input.shape(), TensorOptions().set_dtype(input.dtype()).set_device(input.device()));
  random_fill_(mask, RandomDist::keep_mask(1.0 - p, 1.0 / (1.0 - p)), gen);
  Tensor out = kernels::binary(kernels::Binary::Mul, input, mask, "dropout");
  if (needs_grad({input}))
    record("DropoutBackward", out, {input}, [mask](const Tensor& g) {
      return std::vector<Tensor>{kernels::binary(kernels::Binary::Mul, g, mask, "dropout")};
    });
  return out;
}

// ---------------------------------------------------------------- softmax
static Tensor softmax_op(const Tensor& input, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_input(name, input);
  dim = wrap_dim(dim, input.shape(), name);
  if (input.dim() == 0) return softmax_op(input.reshape({1}), 0, log).reshape({});
  Tensor out = kernels::softmax(input.detach(), dim, log);
  if (needs_grad({input})) {
    Tensor so = out.detach();
    record(log ? "LogSoftmaxBackward" : "SoftmaxBackward", out, {input},
           [so, dim, log](const Tensor& g) {
             return std::vector<Tensor>{kernels::softmax_backward(g, so, dim, log)};
           },
           {out});
  }
  return out;
}
Tensor log_softmax(const Tensor& input, int64_t dim) { return softmax_op(input, dim, true); }
Tensor softmax(const Tensor& input, int64_t dim) { return softmax_op(input, dim, false); }

// losses: autograd/functions/loss.cpp

// ---------------------------------------------------------------- batch norm
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  check_input("batch_norm", input);
  GB_CHECK(input.dim() >= 2, "batch_norm: expected an input [N, C, ...] with at least 2 dims, got ",
           input.shape_str());
  const int64_t N = input.size(0), C = input.size(1);
  int64_t S = 1;  // the spatial dims
  for (int64_t d = 2; d < input.dim(); ++d) S *= input.size(d);
  auto check_channel = [&](const Tensor& t, const char* what) {
    if (!t.defined()) return;
    GB_CHECK(t.dim() == 1 && t.size(0) == C, "batch_norm: ", what, " ", t.shape_str(),
             " does not match the ", C, " channels of input ", input.shape_str());
    GB_CHECK(t.dtype() == input.dtype(), "batch_norm: ", what, " is ", dtype_name(t.dtype()),
             " but input is ", dtype_name(input.dtype()), " ", input.shape_str());
  };
  check_channel(running_mean, "running_mean");
  check_channel(running_var, "running_var");
  check_channel(weight, "weight");
  check_channel(bias, "bias");
  GB_CHECK(training || (running_mean.defined() && running_var.defined()),
           "batch_norm: evaluation mode needs running_mean and running_var (input ",
           input.shape_str(), ")");
  Tensor x3 = input.detach().reshape({N, C, S});
  Tensor mean, invstd;
  {
    NoGradGuard no_record;  // statistics and running-stat updates are not differentiated ops
    if (training) {
      GB_CHECK(N * S > 1,
               "batch_norm: expected more than 1 value per channel when training, got "
               "input ",
               input.shape_str());
      auto [m, v] = kernels::batch_norm_stats(x3);
      mean = m;
      invstd = 1.0 / sqrt(v + eps);
      if (running_mean.defined()) {
        Tensor rm = running_mean;
        rm.mul_(1.0 - momentum).add_(m, momentum);
      }
      if (running_var.defined()) {
        Tensor rv = running_var;  // unbiased variance, as PyTorch
        rv.mul_(1.0 - momentum).add_(v * (double(N * S) / double(N * S - 1)), momentum);
      }
    } else {
      mean = running_mean.detach().clone();  // later running-stat updates must not leak in
      invstd = 1.0 / sqrt(running_var.detach() + eps);
    }
  }
  Tensor w = weight.defined() ? weight.detach() : Tensor();
  Tensor b = bias.defined() ? bias.detach() : Tensor();
  Tensor out = kernels::batch_norm_forward(x3, mean, invstd, w, b).view(input.shape());
  if (needs_grad({input, weight, bias})) {
    std::array<bool, 3> needed{input.requires_grad(), weight.defined() && weight.requires_grad(),
                               bias.defined() && bias.requires_grad()};
    record(
        "BatchNormBackward", out, {input, weight, bias},
        [x3, mean, invstd, w, training, needed, N, C, S, shape = input.shape()](const Tensor& g) {
          auto [gx, gw, gb] = kernels::batch_norm_backward(g.reshape({N, C, S}), x3, mean, invstd,
                                                           w, training, needed);
          return std::vector<Tensor>{gx.defined() ? gx.view(shape) : Tensor(), gw, gb};
        },
        {input, weight});
  }
  return out;
}

}  // namespace glassbox::nn::functional
