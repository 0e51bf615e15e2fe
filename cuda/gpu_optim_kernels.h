#pragma once
// CUDA bodies of core/kernels_optim.h (operands already checked by the dispatch: contiguous,
// one dtype, on one CUDA device). One fused kernel launch per parameter, queued on the
// device's stream.
#include "core/kernels_optim.h"

namespace glassbox::gpu {

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf,
              const kernels::SgdConsts& c);
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, const Tensor& max_exp_avg_sq,
               const kernels::AdamConsts& c);

}  // namespace glassbox::gpu
