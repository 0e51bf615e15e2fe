#pragma once
// Element-wise kernel bodies: out = f(in) and out = f(a, b) over strided, broadcast operands,
// and fill. One thread per element in a grid-stride loop; no shared memory, no barriers, so
// the emulator runs them on its fast path. The math is in small functors, one per op, so
// every op is the same two kernels.
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/activation_math.h"
#include "core/convert.h"
#include "cuda/kernels/strided.cuh"

namespace glassbox::gpu {

template <class Out, class In, class F>
__global__ void map_kernel(int64_t n, Strided<2> s, char* out, const char* in, F f) {
  if (s.contiguous) {
    Out* o = reinterpret_cast<Out*>(out);
    const In* a = reinterpret_cast<const In*>(in);
    for (int64_t i = global_thread(); i < n; i += grid_threads()) o[i] = f(a[i]);
    return;
  }
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t off[2];
    byte_offsets(s, i, off);
    *reinterpret_cast<Out*>(out + off[0]) = f(*reinterpret_cast<const In*>(in + off[1]));
  }
}

template <class Out, class In, class F>
__global__ void zip_kernel(int64_t n, Strided<3> s, char* out, const char* a, const char* b, F f) {
  if (s.contiguous) {
    Out* o = reinterpret_cast<Out*>(out);
    const In* x = reinterpret_cast<const In*>(a);
    const In* y = reinterpret_cast<const In*>(b);
    for (int64_t i = global_thread(); i < n; i += grid_threads()) o[i] = f(x[i], y[i]);
    return;
  }
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t off[3];
    byte_offsets(s, i, off);
    *reinterpret_cast<Out*>(out + off[0]) =
        f(*reinterpret_cast<const In*>(a + off[1]), *reinterpret_cast<const In*>(b + off[2]));
  }
}

// out = cond ? a : b, all three broadcast (byte offsets per operand from the strided walk)
template <class T>
__global__ void where_kernel(int64_t n, Strided<4> s, char* out, const char* cond, const char* a,
                             const char* b) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t off[4];
    byte_offsets(s, i, off);
    const bool c = *reinterpret_cast<const bool*>(cond + off[1]);
    *reinterpret_cast<T*>(out + off[0]) =
        c ? *reinterpret_cast<const T*>(a + off[2]) : *reinterpret_cast<const T*>(b + off[3]);
  }
}

// write-only: dst is often fresh memory whose bytes are not a valid value (a bool, say)
template <class T>
__global__ void fill_kernel(int64_t n, Strided<1> s, char* out, T value) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t off[1];
    if (s.contiguous)
      off[0] = i * int64_t(sizeof(T));
    else
      byte_offsets(s, i, off);
    *reinterpret_cast<T*>(out + off[0]) = value;
  }
}

// ------------------------------------------------------------------ math, as functors
__device__ __forceinline__ float dev_exp(float x) { return ::expf(x); }
__device__ __forceinline__ double dev_exp(double x) { return ::exp(x); }
__device__ __forceinline__ float dev_log(float x) { return ::logf(x); }
__device__ __forceinline__ double dev_log(double x) { return ::log(x); }
__device__ __forceinline__ float dev_sqrt(float x) { return ::sqrtf(x); }
__device__ __forceinline__ double dev_sqrt(double x) { return ::sqrt(x); }
__device__ __forceinline__ float dev_tanh(float x) { return ::tanhf(x); }
__device__ __forceinline__ double dev_tanh(double x) { return ::tanh(x); }
__device__ __forceinline__ float dev_abs(float x) { return ::fabsf(x); }
__device__ __forceinline__ double dev_abs(double x) { return ::fabs(x); }
__device__ __forceinline__ float dev_pow(float x, float y) { return ::powf(x, y); }
__device__ __forceinline__ double dev_pow(double x, double y) { return ::pow(x, y); }

template <class To, class From>
struct ConvertOp {
  __device__ To operator()(From v) const { return ::glassbox::convert_value<To, From>(v); }
};

// Integer add/sub/mul wrap as two's complement (signed overflow would be undefined).
template <class T>
__device__ __forceinline__ T wrap(std::make_unsigned_t<T> v) {
  return static_cast<T>(v);
}
template <class T>
using U = std::make_unsigned_t<T>;

template <class T>
struct AddOp {
  __device__ T operator()(T x, T y) const {
    if constexpr (std::is_integral_v<T>)
      return wrap<T>(U<T>(x) + U<T>(y));
    else
      return x + y;
  }
};
template <class T>
struct SubOp {
  __device__ T operator()(T x, T y) const {
    if constexpr (std::is_integral_v<T>)
      return wrap<T>(U<T>(x) - U<T>(y));
    else
      return x - y;
  }
};
template <class T>
struct MulOp {
  __device__ T operator()(T x, T y) const {
    if constexpr (std::is_integral_v<T>)
      return wrap<T>(U<T>(x) * U<T>(y));
    else
      return x * y;
  }
};
template <class T>
struct DivOp {
  __device__ T operator()(T x, T y) const { return x / y; }
};
template <class T>
struct PowOp {
  __device__ T operator()(T x, T y) const { return dev_pow(x, y); }
};
// NaN wins, as on the CPU and in PyTorch
template <class T>
struct MaximumOp {
  __device__ T operator()(T x, T y) const { return (x != x || x > y) ? x : y; }
};
template <class T>
struct MinimumOp {
  __device__ T operator()(T x, T y) const { return (x != x || x < y) ? x : y; }
};
template <class T>
struct PassIfPositiveOp {
  __device__ T operator()(T x, T y) const { return y > T(0) ? x : T(0); }
};
template <class T>
struct AxpyOp {
  T alpha;
  __device__ T operator()(T x, T y) const { return x + alpha * y; }
};

template <class T>
struct NegOp {
  __device__ T operator()(T v) const {
    if constexpr (std::is_integral_v<T>)
      return wrap<T>(U<T>(0) - U<T>(v));
    else
      return -v;
  }
};
template <class T>
struct AbsOp {
  __device__ T operator()(T v) const {
    if constexpr (std::is_integral_v<T>)
      return v < 0 ? wrap<T>(U<T>(0) - U<T>(v)) : v;
    else
      return dev_abs(v);
  }
};
template <class T>
struct SignOp {
  __device__ T operator()(T v) const { return T((v > T(0)) - (v < T(0))); }
};
template <class T>
struct ExpOp {
  __device__ T operator()(T v) const { return dev_exp(v); }
};
template <class T>
struct LogOp {
  __device__ T operator()(T v) const { return dev_log(v); }
};
template <class T>
struct SqrtOp {
  __device__ T operator()(T v) const { return dev_sqrt(v); }
};
template <class T>
struct ReluOp {
  __device__ T operator()(T v) const { return v > T(0) ? v : T(0); }
};
template <class T>
struct SigmoidOp {
  __device__ T operator()(T v) const { return T(1) / (T(1) + dev_exp(-v)); }
};
template <class T>
struct TanhOp {
  __device__ T operator()(T v) const { return dev_tanh(v); }
};
template <class T>
struct SquareOp {
  __device__ T operator()(T v) const { return v * v; }
};
template <class T>
struct PowScalarOp {
  T p;
  __device__ T operator()(T v) const { return dev_pow(v, p); }
};

// The activations and their derivatives: the formulas of core/activation_math.h, which
// the CPU kernels evaluate too. p and q are the op's parameters (slope, alpha, beta and
// threshold, or the clamp bounds).
#define GB_ACT_FUNCTOR(Name, expr)                      \
  template <class T>                                    \
  struct Name {                                         \
    T p, q;                                             \
    __device__ T operator()(T v) const { return expr; } \
  };
GB_ACT_FUNCTOR(SiluOp, act::silu(v))
GB_ACT_FUNCTOR(SiluGradOp, act::silu_grad(v))
GB_ACT_FUNCTOR(GeluOp, act::gelu(v))
GB_ACT_FUNCTOR(GeluGradOp, act::gelu_grad(v))
GB_ACT_FUNCTOR(GeluTanhOp, act::gelu_tanh(v))
GB_ACT_FUNCTOR(GeluTanhGradOp, act::gelu_tanh_grad(v))
GB_ACT_FUNCTOR(LeakyReluOp, act::leaky_relu(v, p))
GB_ACT_FUNCTOR(LeakyReluGradOp, act::leaky_relu_grad(v, p))
GB_ACT_FUNCTOR(EluOp, act::elu(v, p))
GB_ACT_FUNCTOR(EluGradOp, act::elu_grad(v, p))
GB_ACT_FUNCTOR(SoftplusOp, act::softplus(v, p, q))
GB_ACT_FUNCTOR(SoftplusGradOp, act::softplus_grad(v, p, q))
GB_ACT_FUNCTOR(MishOp, act::mish(v))
GB_ACT_FUNCTOR(MishGradOp, act::mish_grad(v))
GB_ACT_FUNCTOR(ClampOp, act::clamp(v, p, q))
GB_ACT_FUNCTOR(InClosedRangeOp, act::in_closed_range(v, p, q))
GB_ACT_FUNCTOR(InOpenRangeOp, act::in_open_range(v, p, q))
#undef GB_ACT_FUNCTOR

template <class T>
struct EqOp {
  __device__ bool operator()(T x, T y) const { return x == y; }
};
template <class T>
struct NeOp {
  __device__ bool operator()(T x, T y) const { return x != y; }
};
template <class T>
struct LtOp {
  __device__ bool operator()(T x, T y) const { return x < y; }
};
template <class T>
struct LeOp {
  __device__ bool operator()(T x, T y) const { return x <= y; }
};
template <class T>
struct GtOp {
  __device__ bool operator()(T x, T y) const { return x > y; }
};
template <class T>
struct GeOp {
  __device__ bool operator()(T x, T y) const { return x >= y; }
};

}  // namespace glassbox::gpu
