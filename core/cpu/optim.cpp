// Optimizer updates on the CPU: one pass over a parameter's elements per step, each line one
// of PyTorch 1.13's tensor ops (torch/optim/sgd.py, adam.py, adamw.py, single-tensor
// versions) in its order, so the values follow PyTorch's:
//
//   SGD   d = g (+ wd * p);  buf = first ? d : mom * buf + keep * d;
//         d = nesterov ? d + mom * buf : buf;  p = p + (-lr) * d
//   Adam  d = g (+ wd * p);  m = b1 * m + (1 - b1) * d;  v = b2 * v + (1 - b2) * d * d
//         s = sqrt(amsgrad ? (vmax = max(vmax, v)) : v)
//         p = p (* (1 - lr * wd), AdamW) + (-lr / bc1) * m / (s / sqrt(bc2) + eps)
//
// The per-step constants (kernels::sgd_consts, adam_consts) are computed once in double and
// rounded to the parameter's type, as PyTorch rounds its Python scalars. Where a product
// feeds a sum, madd (optim.h) fuses it on an FMA build: the first product of
// `mom * buf + keep * d` and of the moment updates, the decay terms and AdamW's final
// p * shrink + step. cuda/kernels/optim.cuh fuses exactly the same ones, and every square
// root and quotient is IEEE on both, so the GPU gets the same bits.
// The square roots are exact (sqrt_in_place): Eigen's packet sqrt, used here before, is an
// rsqrt estimate refined by Newton steps under EIGEN_FAST_MATH (Eigen's default) for float,
// and with AVX-512 for double too: often an ulp off, 0 for denormal inputs, NaN for +inf.
// PyTorch's and the GPU's are exact.
#include "core/cpu/optim.h"

#include <algorithm>
#include <cmath>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "core/parallel.h"

namespace glassbox::cpu {
namespace {

// x[i] = sqrt(x[i]), correctly rounded, in the widest vectors the target has. (A plain loop
// over std::sqrt does not vectorize: std::sqrt may set errno.)
inline void sqrt_in_place(double* x, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 8 <= n; i += 8) _mm512_storeu_pd(x + i, _mm512_sqrt_pd(_mm512_loadu_pd(x + i)));
#elif defined(__AVX__)
  for (; i + 4 <= n; i += 4) _mm256_storeu_pd(x + i, _mm256_sqrt_pd(_mm256_loadu_pd(x + i)));
#elif defined(__SSE2__)
  for (; i + 2 <= n; i += 2) _mm_storeu_pd(x + i, _mm_sqrt_pd(_mm_loadu_pd(x + i)));
#endif
  for (; i < n; ++i) x[i] = std::sqrt(x[i]);
}
inline void sqrt_in_place(float* x, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_sqrt_ps(_mm512_loadu_ps(x + i)));
#elif defined(__AVX__)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_sqrt_ps(_mm256_loadu_ps(x + i)));
#elif defined(__SSE2__)
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(x + i, _mm_sqrt_ps(_mm_loadu_ps(x + i)));
#endif
  for (; i < n; ++i) x[i] = std::sqrt(x[i]);
}

// One parameter's update over n contiguous elements; buf is null without momentum.
template <class T>
void sgd_kernel(T* p, const T* g, T* buf, int64_t n, const kernels::SgdConsts& c) {
  const T wd = T(c.weight_decay), mom = T(c.momentum), keep = T(c.keep), neg_lr = T(c.neg_lr);
  const bool decay = c.decay, first = c.first, nesterov = c.nesterov;
  parallel_for(n, 8, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T d = g[i];
      if (decay) d = madd(wd, p[i], d);
      if (buf) {
        buf[i] = first ? d : madd(buf[i], mom, keep * d);
        d = nesterov ? madd(mom, buf[i], d) : buf[i];
      }
      p[i] = madd(neg_lr, d, p[i]);
    }
  });
}

// The constants of one Adam step in the parameter's type.
template <class T>
struct AdamTyped {
  T b1, b2, one_minus_b1, one_minus_b2, eps, wd, shrink, neg_step_size, bc2_sqrt;
};

// Elements [begin, end) of one parameter, in chunks: the element-wise lines vectorize, and
// the square roots are taken a chunk at a time in between.
template <class T, bool kL2, bool kDecoupled, bool kAmsgrad>
void adam_range(T* p, const T* g, T* m, T* v, T* vmax, int64_t begin, int64_t end,
                const AdamTyped<T>& c) {
  constexpr int64_t kChunk = 256;
  alignas(64) T root[kChunk];
  for (int64_t b = begin; b < end; b += kChunk) {
    const int64_t len = std::min(kChunk, end - b);
    T *pc = p + b, *mc = m + b, *vc = v + b;
    const T* gc = g + b;
    for (int64_t i = 0; i < len; ++i) {
      T d = gc[i];
      if constexpr (kL2) d = madd(c.wd, pc[i], d);             // grad.add(param, alpha=wd)
      const T mi = madd(mc[i], c.b1, c.one_minus_b1 * d);      // exp_avg.mul_(b1).add_
      const T vi = madd(vc[i], c.b2, c.one_minus_b2 * d * d);  // exp_avg_sq.mul_.addcmul_
      mc[i] = mi;
      vc[i] = vi;
      if constexpr (kAmsgrad) {
        const T old = vmax[b + i];
        const T mx = (old >= vi || old != old) ? old : vi;  // torch.maximum: NaN wins
        vmax[b + i] = mx;
        root[i] = mx;
      } else {
        root[i] = vi;
      }
    }
    sqrt_in_place(root, len);
    for (int64_t i = 0; i < len; ++i) {
      const T denom = root[i] / c.bc2_sqrt + c.eps;  // sqrt(v) / sqrt(bc2) + eps
      const T step = c.neg_step_size * mc[i] / denom;
      if constexpr (kDecoupled)
        pc[i] = madd(pc[i], c.shrink, step);  // param.mul_(1 - lr*wd), then addcdiv_
      else
        pc[i] = pc[i] + step;  // param.addcdiv_(m, denom, -step_size)
    }
  }
}

template <class T, bool kL2, bool kDecoupled>
void adam_dispatch_amsgrad(T* p, const T* g, T* m, T* v, T* vmax, int64_t n,
                           const AdamTyped<T>& c) {
  parallel_for(n, 24, [&](int64_t begin, int64_t end) {
    if (vmax)
      adam_range<T, kL2, kDecoupled, true>(p, g, m, v, vmax, begin, end, c);
    else
      adam_range<T, kL2, kDecoupled, false>(p, g, m, v, vmax, begin, end, c);
  });
}

// One parameter's update over n contiguous elements; vmax is null without amsgrad.
template <class T>
void adam_kernel(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const kernels::AdamConsts& k) {
  const AdamTyped<T> c{T(k.beta1),           T(k.beta2),         T(k.one_minus_beta1),
                       T(k.one_minus_beta2), T(k.eps),           T(k.weight_decay),
                       T(k.shrink),          T(k.neg_step_size), T(k.bc2_sqrt)};
  // PyTorch skips the weight-decay op when weight_decay is 0, so must we (0 * inf is NaN)
  if (k.decoupled)
    adam_dispatch_amsgrad<T, false, true>(p, g, m, v, vmax, n, c);
  else if (k.l2)
    adam_dispatch_amsgrad<T, true, false>(p, g, m, v, vmax, n, c);
  else
    adam_dispatch_amsgrad<T, false, false>(p, g, m, v, vmax, n, c);
}

template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

}  // namespace

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf,
              const kernels::SgdConsts& c) {
  GB_DISPATCH_FLOAT(param.dtype(), "SGD", [&] {
    sgd_kernel<scalar_t>(param.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(),
                         data_or_null<scalar_t>(momentum_buf), param.numel(), c);
  });
}

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, const Tensor& max_exp_avg_sq,
               const kernels::AdamConsts& c) {
  GB_DISPATCH_FLOAT(param.dtype(), "Adam", [&] {
    adam_kernel<scalar_t>(param.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(),
                          exp_avg.data_ptr<scalar_t>(), exp_avg_sq.data_ptr<scalar_t>(),
                          data_or_null<scalar_t>(max_exp_avg_sq), param.numel(), c);
  });
}

}  // namespace glassbox::cpu
