#pragma once
// Device dispatch for the layer kernels behind nn::functional (pooling, softmax, NLL,
// batch norm). Like core/kernels.h: nothing here records autograd history, shapes are
// already validated by the caller (autograd/functions/nn.cpp), and the operands must share a
// device: CPU bodies in core/cpu/nn_*.cpp, CUDA bodies in cuda/nn_*.cu.
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <utility>

#include "core/tensor.h"

namespace glassbox::kernels {

// 2-D pooling over NCHW (any leading dims are folded into the plane count).
struct Pool2d {
  std::array<int64_t, 2> kernel{1, 1};
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  bool count_include_pad = true;     // avg only
  std::array<int64_t, 2> out{0, 0};  // output height and width, computed by the caller
};

// input [P, H, W] contiguous -> values [P, oH, oW] and int64 argmax (h * W + w within the
// plane, the first maximum on ties; -1 when a window holds no element of the input).
std::pair<Tensor, Tensor> max_pool2d(const Tensor& input, const Pool2d& p);
// grad_out [P, oH, oW] (any strides) -> grad_in [P, H, W]: each gradient goes to its argmax.
Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Shape& input_shape,
                           const Pool2d& p);
Tensor avg_pool2d(const Tensor& input, const Pool2d& p);
Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape, const Pool2d& p);

// Softmax's view of a shape around `dim`: [outer, n, inner], rows of n elements `inner`
// apart (n = 1 for a 0-d tensor). Both backends walk it.
struct RowView {
  int64_t outer = 1, n = 1, inner = 1;
  int64_t rows() const { return outer * inner; }
};
inline RowView rows_of(const Shape& s, int64_t dim) {
  RowView v;
  for (int64_t d = 0; d < int64_t(s.size()); ++d) {
    if (d < dim) v.outer *= s[d];
    if (d > dim) v.inner *= s[d];
  }
  v.n = s.empty() ? 1 : s[dim];
  return v;
}

// Softmax (log_softmax when `log`) over `dim` of a tensor of any strides.
Tensor softmax(const Tensor& input, int64_t dim, bool log);
// Given out = softmax(x) (or log_softmax(x)) and d loss/d out, returns d loss/d x.
Tensor softmax_backward(const Tensor& grad_out, const Tensor& out, int64_t dim, bool log);

// log_probs [N, C, S] (any strides), target int64 [N, S]. Returns the per-element loss
// -log_probs[n, target, s] ([N, S], 0 where target == ignore_index) and the number of
// targets that are not ignored, as an int64 0-d tensor on the same device (the mean's
// divisor: on a GPU it never comes back to the host). Targets are checked by the caller
// (nll_check_targets); a bad one that slips through reads nothing and is not counted.
std::pair<Tensor, Tensor> nll_loss(const Tensor& log_probs, const Tensor& target,
                                   int64_t ignore_index);
// grad [N, S] -> grad_in [N, C, S] with -grad at each target (0 where ignored).
Tensor nll_loss_backward(const Tensor& grad, const Tensor& target, int64_t num_classes,
                         int64_t ignore_index);
// Every target must be in [0, C) or equal ignore_index; the first that is not raises
// describe(value). On the CPU now; on a GPU as a deferred check (cuda/checks.h), raised at
// the host's next wait for the device, so a training step does not stop for it.
void nll_check_targets(const Tensor& target, int64_t num_classes, int64_t ignore_index,
                       const std::function<std::string(int64_t)>& describe);

// Batch norm over input [N, C, S]. Per-channel batch mean and biased variance (float64 math,
// returned in the input's dtype).
std::pair<Tensor, Tensor> batch_norm_stats(const Tensor& input);
// out = (x - mean[c]) * invstd[c] * weight[c] + bias[c]; weight/bias may be undefined.
Tensor batch_norm_forward(const Tensor& input, const Tensor& mean, const Tensor& invstd,
                          const Tensor& weight, const Tensor& bias);
// Gradients of batch_norm_forward. With `batch_stats`, mean and invstd are functions of the
// input (training), and the input gradient includes their contribution. Returns
// {grad_input, grad_weight, grad_bias}; each is computed only when its flag is set.
std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                       const Tensor& mean, const Tensor& invstd,
                                                       const Tensor& weight, bool batch_stats,
                                                       std::array<bool, 3> needed);

// ------------------------------------------------------------------ resize
// Adaptive pooling and upsampling over planes [P, H, W] (input contiguous; grads any strides).
// The index math is core/resize_index.h's, shared by both backends.
//
// Adaptive pooling to `out` = {oH, oW}: output (oh, ow) pools PyTorch's bins (resize::bin_*).
Tensor adaptive_avg_pool2d(const Tensor& input, std::array<int64_t, 2> out);
Tensor adaptive_avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape);
// values and int64 argmax h * W + w within the plane (the first maximum; a NaN wins)
std::pair<Tensor, Tensor> adaptive_max_pool2d(const Tensor& input, std::array<int64_t, 2> out);
Tensor adaptive_max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                                    const Shape& input_shape);

// Upsampling to `out`. scale_factor[d] > 0 is the user's scale_factor, which PyTorch's
// kernels use (as 1 / scale_factor) instead of in / out; 0 when the size was given.
struct Resize2d {
  bool bilinear = false;  // else nearest
  bool align_corners = false;
  std::array<int64_t, 2> out{0, 0};
  std::array<double, 2> scale_factor{0, 0};
};
Tensor upsample2d(const Tensor& input, const Resize2d& r);
Tensor upsample2d_backward(const Tensor& grad_out, const Shape& input_shape, const Resize2d& r);

}  // namespace glassbox::kernels
