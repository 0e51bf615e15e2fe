// Device dispatch for the layer kernels: operands must share a device (an error naming both
// devices and shapes otherwise), then the CPU goes to core/cpu/nn_*.cpp and a CUDA device,
// real or emulated, to cuda/nn_*.cu. Never a silent host copy.
#include "core/kernels_nn.h"

#include "core/cpu/nn_kernels.h"
#include "core/dispatch.h"
#if defined(GLASSBOX_WITH_CUDA)
#include "cuda/checks.h"
#include "cuda/gpu_nn_kernels.h"
#endif

namespace glassbox::kernels {

std::pair<Tensor, Tensor> max_pool2d(const Tensor& input, const Pool2d& p) {
  return GB_ROUTE(common_device("max_pool2d", {&input}), max_pool2d(input, p));
}
Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Shape& input_shape,
                           const Pool2d& p) {
  const Device d = common_device("max_pool2d backward", {&grad_out, &indices});
#if defined(GLASSBOX_WITH_CUDA)
  // the GPU gathers over the windows that cover each input element, so it needs them
  if (d.is_cuda()) return gpu::max_pool2d_backward(grad_out, indices, input_shape, p);
#else
  (void)p, (void)d;
#endif
  return cpu::max_pool2d_backward(grad_out, indices, input_shape);
}
Tensor avg_pool2d(const Tensor& input, const Pool2d& p) {
  return GB_ROUTE(common_device("avg_pool2d", {&input}), avg_pool2d(input, p));
}
Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape, const Pool2d& p) {
  const Device d = common_device("avg_pool2d backward", {&grad_out});
  return GB_ROUTE(d, avg_pool2d_backward(grad_out, input_shape, p));
}

Tensor softmax(const Tensor& input, int64_t dim, bool log) {
  const Device d = common_device(log ? "log_softmax" : "softmax", {&input});
  return GB_ROUTE(d, softmax(input, dim, log));
}
Tensor softmax_backward(const Tensor& grad_out, const Tensor& out, int64_t dim, bool log) {
  const Device d =
      common_device(log ? "log_softmax backward" : "softmax backward", {&grad_out, &out});
  return GB_ROUTE(d, softmax_backward(grad_out, out, dim, log));
}

std::pair<Tensor, Tensor> nll_loss(const Tensor& log_probs, const Tensor& target,
                                   int64_t ignore_index) {
  const Device d = common_device("nll_loss", {&log_probs, &target});
  return GB_ROUTE(d, nll_loss(log_probs, target, ignore_index));
}
Tensor nll_loss_backward(const Tensor& grad, const Tensor& target, int64_t num_classes,
                         int64_t ignore_index) {
  const Device d = common_device("nll_loss backward", {&grad, &target});
  return GB_ROUTE(d, nll_loss_backward(grad, target, num_classes, ignore_index));
}
void nll_check_targets(const Tensor& target, int64_t num_classes, int64_t ignore_index,
                       const std::function<std::string(int64_t)>& describe) {
  const Device d = common_device("nll_loss", {&target});
#if defined(GLASSBOX_WITH_CUDA)
  if (d.is_cuda())
    return gpu::defer_range_check(target.contiguous(), num_classes, ignore_index, describe);
#endif
  (void)d;
  const auto [bad, value] = cpu::nll_find_bad_target(target, num_classes, ignore_index);
  if (bad) fail(describe(value));
}

std::pair<Tensor, Tensor> batch_norm_stats(const Tensor& input) {
  return GB_ROUTE(common_device("batch_norm", {&input}), batch_norm_stats(input));
}
Tensor batch_norm_forward(const Tensor& input, const Tensor& mean, const Tensor& invstd,
                          const Tensor& weight, const Tensor& bias) {
  const Device d = common_device("batch_norm", {&input, &mean, &invstd, &weight, &bias});
  return GB_ROUTE(d, batch_norm_forward(input, mean, invstd, weight, bias));
}
std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                       const Tensor& mean, const Tensor& invstd,
                                                       const Tensor& weight, bool batch_stats,
                                                       std::array<bool, 3> needed) {
  const Device d =
      common_device("batch_norm backward", {&grad_out, &input, &mean, &invstd, &weight});
  return GB_ROUTE(d,
                  batch_norm_backward(grad_out, input, mean, invstd, weight, batch_stats, needed));
}

// ------------------------------------------------------------------ resize
Tensor adaptive_avg_pool2d(const Tensor& input, std::array<int64_t, 2> out) {
  return GB_ROUTE(common_device("adaptive_avg_pool2d", {&input}), adaptive_avg_pool2d(input, out));
}
Tensor adaptive_avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape) {
  const Device d = common_device("adaptive_avg_pool2d backward", {&grad_out});
  return GB_ROUTE(d, adaptive_avg_pool2d_backward(grad_out, input_shape));
}
std::pair<Tensor, Tensor> adaptive_max_pool2d(const Tensor& input, std::array<int64_t, 2> out) {
  return GB_ROUTE(common_device("adaptive_max_pool2d", {&input}), adaptive_max_pool2d(input, out));
}
Tensor adaptive_max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                                    const Shape& input_shape) {
  const Device d = common_device("adaptive_max_pool2d backward", {&grad_out, &indices});
  return GB_ROUTE(d, adaptive_max_pool2d_backward(grad_out, indices, input_shape));
}
Tensor upsample2d(const Tensor& input, const Resize2d& r) {
  return GB_ROUTE(common_device("interpolate", {&input}), upsample2d(input, r));
}
Tensor upsample2d_backward(const Tensor& grad_out, const Shape& input_shape, const Resize2d& r) {
  const Device d = common_device("interpolate backward", {&grad_out});
  return GB_ROUTE(d, upsample2d_backward(grad_out, input_shape, r));
}

}  // namespace glassbox::kernels
