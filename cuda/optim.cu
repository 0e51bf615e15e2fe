// Optimizer steps on CUDA: rounds the host's constants to the parameter's dtype, picks the
// pack width (16-byte packs when every operand is 16-byte aligned, single elements
// otherwise) and whether multiply-adds are fused (as the CPU backend does), and launches one
// kernel from kernels/optim.cuh over the whole parameter.
#include <cstdint>

#include "cuda/common.h"
#include "cuda/gpu_optim_kernels.h"
#include "cuda/kernels/optim.cuh"
#include "cuda/launch.h"

namespace glassbox::gpu {
namespace {

template <class T>
T* ptr_or_null(const Tensor& t) {
  return t.defined() ? ptr_of<T>(t) : nullptr;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// The kernel for a pack width (16 bytes, or one element when unaligned) and a multiply-add
// rounding; all four share one signature.
template <class T>
auto sgd_kernel_for(bool packed, bool fma) {
  constexpr int kPack = 16 / int(sizeof(T));
  if (packed) return fma ? &sgd_kernel<T, kPack, true> : &sgd_kernel<T, kPack, false>;
  return fma ? &sgd_kernel<T, 1, true> : &sgd_kernel<T, 1, false>;
}
template <class T>
auto adam_kernel_for(bool packed, bool fma) {
  constexpr int kPack = 16 / int(sizeof(T));
  if (packed) return fma ? &adam_kernel<T, kPack, true> : &adam_kernel<T, kPack, false>;
  return fma ? &adam_kernel<T, 1, true> : &adam_kernel<T, 1, false>;
}

// Threads for n elements in packs of 16 bytes.
unsigned grid_for_packs(int64_t n, size_t elem_size, bool packed) {
  const int64_t per_thread = packed ? int64_t(16 / elem_size) : 1;
  return grid_for((n + per_thread - 1) / per_thread);
}

template <class T>
void sgd_typed(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf,
               const kernels::SgdConsts& c) {
  const int64_t n = param.numel();
  if (n == 0) return;
  T *p = ptr_of<T>(param), *buf = ptr_or_null<T>(momentum_buf);
  const T* g = ptr_of<T>(grad);
  const bool packed = aligned16(p) && aligned16(g) && (!buf || aligned16(buf));
  const SgdArgs<T> a{T(c.weight_decay), T(c.momentum), T(c.keep), T(c.neg_lr),
                     c.decay,           c.nesterov,    c.first};
  auto kernel = sgd_kernel_for<T>(packed, c.fma);
  GB_LAUNCH(kernel, grid_for_packs(n, sizeof(T), packed), kBlock, 0, stream_of(param), n, p, g, buf,
            a);
}

template <class T>
void adam_typed(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                const Tensor& exp_avg_sq, const Tensor& max_exp_avg_sq,
                const kernels::AdamConsts& c) {
  const int64_t n = param.numel();
  if (n == 0) return;
  T *p = ptr_of<T>(param), *m = ptr_of<T>(exp_avg), *v = ptr_of<T>(exp_avg_sq),
    *vmax = ptr_or_null<T>(max_exp_avg_sq);
  const T* g = ptr_of<T>(grad);
  const bool packed =
      aligned16(p) && aligned16(g) && aligned16(m) && aligned16(v) && (!vmax || aligned16(vmax));
  const AdamArgs<T> a{
      T(c.beta1),        T(c.beta2),  T(c.one_minus_beta1), T(c.one_minus_beta2), T(c.eps),
      T(c.weight_decay), T(c.shrink), T(c.neg_step_size),   T(c.bc2_sqrt),        c.l2,
      c.decoupled};
  auto kernel = adam_kernel_for<T>(packed, c.fma);
  GB_LAUNCH(kernel, grid_for_packs(n, sizeof(T), packed), kBlock, 0, stream_of(param), n, p, g, m,
            v, vmax, a);
}

}  // namespace

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf,
              const kernels::SgdConsts& c) {
  GB_DISPATCH_FLOAT(param.dtype(), "SGD",
                    [&] { sgd_typed<scalar_t>(param, grad, momentum_buf, c); });
}

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, const Tensor& max_exp_avg_sq,
               const kernels::AdamConsts& c) {
  GB_DISPATCH_FLOAT(param.dtype(), "Adam", [&] {
    adam_typed<scalar_t>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, c);
  });
}

}  // namespace glassbox::gpu
