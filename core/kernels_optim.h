#pragma once
// Device dispatch for the optimizer updates of optim/sgd.cpp and optim/adam.cpp: one fused
// pass over a parameter and its state, on the CPU (core/cpu/optim.cpp) or on the parameter's
// CUDA device (cuda/optim.cu). Nothing here records autograd history; the optimizer runs it
// without recording and bumps the parameter's version itself.
//
// Both backends get the same per-step constants, computed once on the host here (the bias
// corrections, 1 - lr * weight_decay, ...), and use the same operation order, fuse the same
// multiply-adds and take IEEE quotients and square roots: for the same inputs they give the
// same bits, in float32 and float64.
#include <cstdint>

#include "core/tensor.h"

namespace glassbox::kernels {

// One SGD update (the formula: optim/sgd.h). `first`: the momentum buffer is new, so it is
// set to the step's direction instead of updated.
struct SgdStep {
  double lr = 0.0, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false, first = false;
};

// One Adam or AdamW update (the formula: optim/adam.h). `step` is the parameter's step count
// after this update (1 on the first).
struct AdamStep {
  double lr = 0.0, beta1 = 0.0, beta2 = 0.0, eps = 0.0, weight_decay = 0.0;
  bool decoupled = false;  // AdamW
  int64_t step = 1;
};

// Update `param` and its state in place. Every operand is contiguous and has the parameter's
// shape, dtype (float32 or float64) and device; momentum_buf is undefined without momentum,
// max_exp_avg_sq without amsgrad. Anything else is an Error that names `optimizer`, the
// parameter's shape and both devices or dtypes.
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf, const SgdStep& s,
              const char* optimizer = "SGD");
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, const Tensor& max_exp_avg_sq, const AdamStep& s,
               const char* optimizer = "Adam");

// The constants one update uses, as the host computes them in double; each backend rounds
// them to the parameter's dtype. `fma`: the CPU backend fuses its multiply-adds (it was built
// for a CPU with FMA), so the GPU must fuse the same ones.
struct SgdConsts {
  double weight_decay, momentum, keep, neg_lr;  // keep = 1 - dampening, neg_lr = -lr
  bool decay, nesterov, first, fma;             // decay: weight_decay != 0
};
struct AdamConsts {
  double beta1, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay;
  double shrink;            // 1 - lr * weight_decay (AdamW)
  double neg_step_size;     // -lr / (1 - beta1^t)
  double bc2_sqrt;          // sqrt(1 - beta2^t)
  bool l2, decoupled, fma;  // l2: Adam's decay in the gradient; both false when it is 0
};
SgdConsts sgd_consts(const SgdStep& s);
AdamConsts adam_consts(const AdamStep& s);

}  // namespace glassbox::kernels
