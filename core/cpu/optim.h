#pragma once
// CPU bodies of core/kernels_optim.h (operands already checked: contiguous, one dtype, on the
// CPU), and the one multiply-add both backends follow.
#include <cmath>

#include "core/kernels_optim.h"

namespace glassbox::cpu {

// a * b + c, rounded once where this build's CPU has FMA and twice where it has not: what the
// compiler made of the plain expression before (GCC contracts a * b + c on an FMA target),
// written out so that the choice is the same for every loop version and the GPU can make it
// too (kernels::SgdConsts::fma).
#if defined(__FMA__)
constexpr bool kFusedMultiplyAdd = true;
template <class T>
inline T madd(T a, T b, T c) {
  return std::fma(a, b, c);
}
#else
constexpr bool kFusedMultiplyAdd = false;
template <class T>
inline T madd(T a, T b, T c) {
  return a * b + c;
}
#endif

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf,
              const kernels::SgdConsts& c);
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, const Tensor& max_exp_avg_sq,
               const kernels::AdamConsts& c);

}  // namespace glassbox::cpu
