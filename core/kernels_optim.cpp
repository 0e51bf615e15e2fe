// Device dispatch for the optimizer updates: checks that a parameter and its gradient and
// state share shape, dtype and device, computes the step's constants once on the host, and
// routes to core/cpu/optim.cpp or cuda/optim.cu. The constants are computed here and nowhere
// else, so that both backends round the same doubles (nvcc compiles its host code without
// the CPU build's -march, and would contract 1 - lr * wd differently).
#include "core/kernels_optim.h"

#include <cmath>
#include <initializer_list>
#include <utility>

#include "core/cpu/optim.h"
#include "core/error.h"
#if defined(GLASSBOX_WITH_CUDA)
#include "cuda/gpu_optim_kernels.h"
#endif

namespace glassbox::kernels {
namespace {

// Every defined operand (name, tensor) against the parameter: same shape, dtype and device,
// and contiguous, since the backends walk raw element runs.
void check_operands(const char* optimizer, const Tensor& param,
                    std::initializer_list<std::pair<const char*, const Tensor*>> operands) {
  GB_CHECK(param.defined(), optimizer, ": the parameter is an undefined tensor");
  GB_CHECK(is_floating(param.dtype()), optimizer, ": parameter ", param.shape_str(), " is ",
           dtype_name(param.dtype()), "; only float32 and float64 tensors can be optimized");
  GB_CHECK(param.is_contiguous(), optimizer, ": parameter ", param.shape_str(),
           " must be contiguous here (the optimizer steps a contiguous copy of a view)");
  for (const auto& [name, t] : operands) {
    if (!t->defined()) continue;
    GB_CHECK(t->device() == param.device(), optimizer, ": parameter ", param.shape_str(), " is on ",
             param.device().str(), " but its ", name, " is on ", t->device().str(),
             "; keep a parameter, its gradient and its state on one device (move the model "
             "with .to() before creating the optimizer)");
    GB_CHECK(t->dtype() == param.dtype(), optimizer, ": parameter ", param.shape_str(), " is ",
             dtype_name(param.dtype()), " but its ", name, " is ", dtype_name(t->dtype()),
             " (both on ", param.device().str(), ")");
    GB_CHECK(t->shape() == param.shape(), optimizer, ": parameter ", param.shape_str(), " has a ",
             name, " of shape ", t->shape_str());
    GB_CHECK(t->is_contiguous(), optimizer, ": the ", name, " of parameter ", param.shape_str(),
             " must be contiguous");
  }
}

}  // namespace

SgdConsts sgd_consts(const SgdStep& s) {
  SgdConsts c{};
  c.weight_decay = s.weight_decay;
  c.momentum = s.momentum;
  c.keep = 1.0 - s.dampening;
  c.neg_lr = -s.lr;
  c.decay = s.weight_decay != 0.0;
  c.nesterov = s.nesterov;
  c.first = s.first;
  c.fma = cpu::kFusedMultiplyAdd;
  return c;
}

AdamConsts adam_consts(const AdamStep& s) {
  const double bias_correction1 = 1.0 - std::pow(s.beta1, double(s.step));
  const double bias_correction2 = 1.0 - std::pow(s.beta2, double(s.step));
  AdamConsts c{};
  c.beta1 = s.beta1;
  c.beta2 = s.beta2;
  c.one_minus_beta1 = 1.0 - s.beta1;
  c.one_minus_beta2 = 1.0 - s.beta2;
  c.eps = s.eps;
  c.weight_decay = s.weight_decay;
  c.shrink = cpu::madd(-s.lr, s.weight_decay, 1.0);
  c.neg_step_size = -(s.lr / bias_correction1);
  c.bc2_sqrt = std::sqrt(bias_correction2);
  // PyTorch skips the weight-decay op when weight_decay is 0, so must we (0 * inf is NaN)
  c.l2 = !s.decoupled && s.weight_decay != 0.0;
  c.decoupled = s.decoupled && s.weight_decay != 0.0;
  c.fma = cpu::kFusedMultiplyAdd;
  return c;
}

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf, const SgdStep& s,
              const char* optimizer) {
  check_operands(optimizer, param, {{"gradient", &grad}, {"momentum_buffer", &momentum_buf}});
  GB_CHECK(grad.defined(), optimizer, ": parameter ", param.shape_str(), " has no gradient");
  const SgdConsts c = sgd_consts(s);
#if defined(GLASSBOX_WITH_CUDA)
  if (param.device().is_cuda()) return gpu::sgd_step(param, grad, momentum_buf, c);
#endif
  cpu::sgd_step(param, grad, momentum_buf, c);
}

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, const Tensor& max_exp_avg_sq, const AdamStep& s,
               const char* optimizer) {
  check_operands(optimizer, param,
                 {{"gradient", &grad},
                  {"exp_avg", &exp_avg},
                  {"exp_avg_sq", &exp_avg_sq},
                  {"max_exp_avg_sq", &max_exp_avg_sq}});
  GB_CHECK(grad.defined() && exp_avg.defined() && exp_avg_sq.defined(), optimizer, ": parameter ",
           param.shape_str(), " needs a gradient, exp_avg and exp_avg_sq");
  const AdamConsts c = adam_consts(s);
#if defined(GLASSBOX_WITH_CUDA)
  if (param.device().is_cuda())
    return gpu::adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, c);
#endif
  cpu::adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, c);
}

}  // namespace glassbox::kernels
