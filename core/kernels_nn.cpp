// Device dispatch for the layer kernels: operands must share a device; CPU goes to
// core/cpu/nn_*.cpp. A GPU operand gets an error naming the op, never a silent host copy.
#include "core/kernels.h"
#include "core/kernels_nn.h"

#include "core/cpu/nn_kernels.h"

namespace glassbox::kernels {

std::pair<Tensor, Tensor> max_pool2d(const Tensor& input, const Pool2d& p) {
  on_cpu("max_pool2d", {&input});
  return cpu::max_pool2d(input, p);
}
Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                           const Shape& input_shape) {
  on_cpu("max_pool2d backward", {&grad_out, &indices});
  return cpu::max_pool2d_backward(grad_out, indices, input_shape);
}
Tensor avg_pool2d(const Tensor& input, const Pool2d& p) {
  on_cpu("avg_pool2d", {&input});
  return cpu::avg_pool2d(input, p);
}
Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape, const Pool2d& p) {
  on_cpu("avg_pool2d backward", {&grad_out});
  return cpu::avg_pool2d_backward(grad_out, input_shape, p);
}

Tensor softmax(const Tensor& input, int64_t dim, bool log) {
  on_cpu(log ? "log_softmax" : "softmax", {&input});
  return cpu::softmax(input, dim, log);
}
Tensor softmax_backward(const Tensor& grad_out, const Tensor& out, int64_t dim, bool log) {
  on_cpu(log ? "log_softmax backward" : "softmax backward", {&grad_out, &out});
  return cpu::softmax_backward(grad_out, out, dim, log);
}

std::pair<Tensor, int64_t> nll_loss(const Tensor& log_probs, const Tensor& target,
                                    int64_t ignore_index) {
  on_cpu("nll_loss", {&log_probs, &target});
  return cpu::nll_loss(log_probs, target, ignore_index);
}
Tensor nll_loss_backward(const Tensor& grad, const Tensor& target, int64_t num_classes,
                         int64_t ignore_index) {
  on_cpu("nll_loss backward", {&grad, &target});
  return cpu::nll_loss_backward(grad, target, num_classes, ignore_index);
}
std::pair<bool, int64_t> nll_find_bad_target(const Tensor& target, int64_t num_classes,
                                             int64_t ignore_index) {
  on_cpu("nll_loss", {&target});
  return cpu::nll_find_bad_target(target, num_classes, ignore_index);
}

std::pair<Tensor, Tensor> batch_norm_stats(const Tensor& input) {
  on_cpu("batch_norm", {&input});
  return cpu::batch_norm_stats(input);
}
Tensor batch_norm_forward(const Tensor& input, const Tensor& mean, const Tensor& invstd,
                          const Tensor& weight, const Tensor& bias) {
  on_cpu("batch_norm", {&input, &mean, &invstd, &weight, &bias});
  return cpu::batch_norm_forward(input, mean, invstd, weight, bias);
}
std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                       const Tensor& mean, const Tensor& invstd,
                                                       const Tensor& weight, bool batch_stats,
                                                       std::array<bool, 3> needed) {
  on_cpu("batch_norm backward", {&grad_out, &input, &mean, &invstd, &weight});
  return cpu::batch_norm_backward(grad_out, input, mean, invstd, weight, batch_stats, needed);
}

}  // namespace glassbox::kernels
