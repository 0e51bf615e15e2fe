#pragma once
// Scalar formulas of the activations and their derivatives, shared by the CPU kernels (their
// strided path; contiguous runs use the Eigen forms in core/cpu/elementwise.cpp) and the CUDA
// functors (cuda/kernels/elementwise.cuh), so both backends evaluate the same expression.
// PyTorch's definitions, with s(x) = 1 / (1 + e^-x) and sp(x) = log(1 + e^x):
//   silu(x)      = x s(x)                         silu'  = s (1 + x (1 - s))
//   gelu(x)      = x/2 (1 + erf(x/sqrt2))         gelu'  = (1 + erf(x/sqrt2))/2 + x phi(x),
//                                                          phi(x) = e^(-x^2/2) / sqrt(2 pi)
//   gelu_tanh(x) = x/2 (1 + t), t = tanh(u),      gelu_tanh' = (1 + t)/2 + x/2 (1 - t^2) u',
//                  u = k0 (x + k1 x^3)                         u' = k0 (1 + 3 k1 x^2)
//   leaky(x)     = x > 0 ? x : slope x            leaky' = x > 0 ? 1 : slope
//   elu(x)       = x > 0 ? x : alpha (e^x - 1)    elu'   = x > 0 ? 1 : alpha e^x
//   softplus(x)  = b x > thr ? x : sp(b x) / b    softplus' = b x > thr ? 1 : s(b x)
//   mish(x)      = x tanh(sp(x))                  mish'  = t + x s(x) (1 - t^2), t = tanh(sp)
// The derivative at a kink is PyTorch's choice (leaky and elu: the x <= 0 side).
// e^x overflows to inf for large x; every formula then still gives PyTorch's limit
// (sp = log1p(inf) = inf, tanh(inf) = 1, s(-x) = 1 / (1 + inf) = 0).
#include <cmath>

#if defined(__CUDACC__)
#define GB_ACT_FN __host__ __device__ __forceinline__
#else
#define GB_ACT_FN inline
#endif

namespace glassbox::act {

// float and double overloads of the C math functions, callable from host and device code
GB_ACT_FN float exp_(float x) { return ::expf(x); }
GB_ACT_FN double exp_(double x) { return ::exp(x); }
GB_ACT_FN float expm1_(float x) { return ::expm1f(x); }
GB_ACT_FN double expm1_(double x) { return ::expm1(x); }
GB_ACT_FN float log1p_(float x) { return ::log1pf(x); }
GB_ACT_FN double log1p_(double x) { return ::log1p(x); }
GB_ACT_FN float tanh_(float x) { return ::tanhf(x); }
GB_ACT_FN double tanh_(double x) { return ::tanh(x); }
GB_ACT_FN float erf_(float x) { return ::erff(x); }
GB_ACT_FN double erf_(double x) { return ::erf(x); }

constexpr double kSqrt1_2 = 0.70710678118654752440;     // 1/sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1/sqrt(2 pi)
constexpr double kGeluK0 = 0.79788456080286535588;      // sqrt(2/pi)
constexpr double kGeluK1 = 0.044715;

template <class T>
GB_ACT_FN T sigmoid(T x) {
  return T(1) / (T(1) + exp_(-x));
}
template <class T>
GB_ACT_FN T silu(T x) {
  return x * sigmoid(x);
}
template <class T>
GB_ACT_FN T silu_grad(T x) {
  const T s = sigmoid(x);
  return s * (T(1) + x * (T(1) - s));
}
template <class T>
GB_ACT_FN T gelu(T x) {
  return T(0.5) * x * (T(1) + erf_(x * T(kSqrt1_2)));
}
template <class T>
GB_ACT_FN T gelu_grad(T x) {
  return T(0.5) * (T(1) + erf_(x * T(kSqrt1_2))) + x * T(kInvSqrt2Pi) * exp_(T(-0.5) * x * x);
}
template <class T>
GB_ACT_FN T gelu_tanh(T x) {
  return T(0.5) * x * (T(1) + tanh_(T(kGeluK0) * (x + T(kGeluK1) * x * x * x)));
}
template <class T>
GB_ACT_FN T gelu_tanh_grad(T x) {
  const T t = tanh_(T(kGeluK0) * (x + T(kGeluK1) * x * x * x));
  const T du = T(kGeluK0) * (T(1) + T(3 * kGeluK1) * x * x);
  return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du;
}
template <class T>
GB_ACT_FN T leaky_relu(T x, T slope) {
  return x > T(0) ? x : x * slope;
}
template <class T>
GB_ACT_FN T leaky_relu_grad(T x, T slope) {
  return x > T(0) ? T(1) : slope;
}
template <class T>
GB_ACT_FN T elu(T x, T alpha) {
  return x > T(0) ? x : alpha * expm1_(x);
}
template <class T>
GB_ACT_FN T elu_grad(T x, T alpha) {
  return x > T(0) ? T(1) : alpha * exp_(x);
}
template <class T>
GB_ACT_FN T softplus(T x, T beta, T threshold) {
  const T bx = beta * x;
  return bx > threshold ? x : log1p_(exp_(bx)) / beta;
}
template <class T>
GB_ACT_FN T softplus_grad(T x, T beta, T threshold) {
  const T bx = beta * x;
  return bx > threshold ? T(1) : sigmoid(bx);
}
template <class T>
GB_ACT_FN T mish(T x) {
  return x * tanh_(log1p_(exp_(x)));
}
template <class T>
GB_ACT_FN T mish_grad(T x) {
  const T t = tanh_(log1p_(exp_(x)));
  return t + x * sigmoid(x) * (T(1) - t * t);
}
// NaN stays NaN, as torch.clamp does (NaN fails both comparisons)
template <class T>
GB_ACT_FN T clamp(T x, T lo, T hi) {
  const T y = x < lo ? lo : x;  // max then min, so lo > hi gives hi everywhere, as PyTorch
  return y > hi ? hi : y;
}
template <class T>
GB_ACT_FN T in_closed_range(T x, T lo, T hi) {
  return (x >= lo && x <= hi) ? T(1) : T(0);
}
template <class T>
GB_ACT_FN T in_open_range(T x, T lo, T hi) {
  return (x > lo && x < hi) ? T(1) : T(0);
}

}  // namespace glassbox::act
