// Element-wise ops on CUDA: copy/convert, fill, binary and unary math, comparisons. The host
// side checks shapes and dtypes (the same rules and messages as the CPU backend), describes
// the strided walk once, and launches one of three kernels from kernels/elementwise.cuh with
// the op's functor.
#include "core/kernels.h"
#include "cuda/common.h"
#include "cuda/gpu_kernels.h"
#include "cuda/kernels/elementwise.cuh"
#include "cuda/launch.h"
#include "cuda/runtime.h"

namespace glassbox::gpu {
namespace {

template <class Out, class In, class F>
void map_into(const Tensor& out, const Tensor& in, F f, const char* op) {
  const int64_t n = out.numel();
  if (n == 0) return;
  Shape in_strides = cpu::broadcast_byte_strides(in.shape(), in.strides(), out.shape(), sizeof(In));
  Strided<2> s =
      make_strided<2>(out.shape(), {byte_strides(out), in_strides}, {sizeof(Out), sizeof(In)}, op);
  auto kernel = &map_kernel<Out, In, F>;
  GB_LAUNCH(kernel, grid_for(n), kBlock, 0, stream_of(out), n, s, bytes_of(out), bytes_of(in), f);
}

template <class Out, class In, class F>
void zip_into(const Tensor& out, const Tensor& a, const Tensor& b, F f, const char* op) {
  const int64_t n = out.numel();
  if (n == 0) return;
  Shape sa = cpu::broadcast_byte_strides(a.shape(), a.strides(), out.shape(), sizeof(In));
  Shape sb = cpu::broadcast_byte_strides(b.shape(), b.strides(), out.shape(), sizeof(In));
  Strided<3> s = make_strided<3>(out.shape(), {byte_strides(out), sa, sb},
                                 {sizeof(Out), sizeof(In), sizeof(In)}, op);
  auto kernel = &zip_kernel<Out, In, F>;
  GB_LAUNCH(kernel, grid_for(n), kBlock, 0, stream_of(out), n, s, bytes_of(out), bytes_of(a),
            bytes_of(b), f);
}

template <class T>
void binary_typed(Binary op, const Tensor& out, const Tensor& a, const Tensor& b,
                  const char* name) {
  switch (op) {
    case Binary::Add:
      return zip_into<T, T>(out, a, b, AddOp<T>{}, name);
    case Binary::Sub:
      return zip_into<T, T>(out, a, b, SubOp<T>{}, name);
    case Binary::Mul:
      return zip_into<T, T>(out, a, b, MulOp<T>{}, name);
    case Binary::Maximum:
      return zip_into<T, T>(out, a, b, MaximumOp<T>{}, name);
    case Binary::Minimum:
      return zip_into<T, T>(out, a, b, MinimumOp<T>{}, name);
    default:
      break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case Binary::Div:
        return zip_into<T, T>(out, a, b, DivOp<T>{}, name);
      case Binary::Pow:
        return zip_into<T, T>(out, a, b, PowOp<T>{}, name);
      case Binary::PassIfPositive:
        return zip_into<T, T>(out, a, b, PassIfPositiveOp<T>{}, name);
      default:
        break;
    }
  }
  fail(str(name, ": not supported for dtype ", dtype_name(out.dtype()), " (a ", a.shape_str(),
           ", b ", b.shape_str(), "); division and pow need a floating-point tensor"));
}

template <class T>
void unary_float(Unary op, const Tensor& out, const Tensor& a, double param, double param2) {
  const char* name = kernels::unary_name(op);
  const T p = static_cast<T>(param), q = static_cast<T>(param2);
  switch (op) {
    case Unary::Neg:
      return map_into<T, T>(out, a, NegOp<T>{}, name);
    case Unary::Exp:
      return map_into<T, T>(out, a, ExpOp<T>{}, name);
    case Unary::Log:
      return map_into<T, T>(out, a, LogOp<T>{}, name);
    case Unary::Sqrt:
      return map_into<T, T>(out, a, SqrtOp<T>{}, name);
    case Unary::Relu:
      return map_into<T, T>(out, a, ReluOp<T>{}, name);
    case Unary::Sigmoid:
      return map_into<T, T>(out, a, SigmoidOp<T>{}, name);
    case Unary::Tanh:
      return map_into<T, T>(out, a, TanhOp<T>{}, name);
    case Unary::Abs:
      return map_into<T, T>(out, a, AbsOp<T>{}, name);
    case Unary::Sign:
      return map_into<T, T>(out, a, SignOp<T>{}, name);
    case Unary::PowScalar:
      if (static_cast<T>(param) == T(2)) return map_into<T, T>(out, a, SquareOp<T>{}, name);
      return map_into<T, T>(out, a, PowScalarOp<T>{static_cast<T>(param)}, name);
    case Unary::Silu:
      return map_into<T, T>(out, a, SiluOp<T>{p, q}, name);
    case Unary::SiluGrad:
      return map_into<T, T>(out, a, SiluGradOp<T>{p, q}, name);
    case Unary::Gelu:
      return map_into<T, T>(out, a, GeluOp<T>{p, q}, name);
    case Unary::GeluGrad:
      return map_into<T, T>(out, a, GeluGradOp<T>{p, q}, name);
    case Unary::GeluTanh:
      return map_into<T, T>(out, a, GeluTanhOp<T>{p, q}, name);
    case Unary::GeluTanhGrad:
      return map_into<T, T>(out, a, GeluTanhGradOp<T>{p, q}, name);
    case Unary::LeakyRelu:
      return map_into<T, T>(out, a, LeakyReluOp<T>{p, q}, name);
    case Unary::LeakyReluGrad:
      return map_into<T, T>(out, a, LeakyReluGradOp<T>{p, q}, name);
    case Unary::Elu:
      return map_into<T, T>(out, a, EluOp<T>{p, q}, name);
    case Unary::EluGrad:
      return map_into<T, T>(out, a, EluGradOp<T>{p, q}, name);
    case Unary::Softplus:
      return map_into<T, T>(out, a, SoftplusOp<T>{p, q}, name);
    case Unary::SoftplusGrad:
      return map_into<T, T>(out, a, SoftplusGradOp<T>{p, q}, name);
    case Unary::Mish:
      return map_into<T, T>(out, a, MishOp<T>{p, q}, name);
    case Unary::MishGrad:
      return map_into<T, T>(out, a, MishGradOp<T>{p, q}, name);
    case Unary::Clamp:
      return map_into<T, T>(out, a, ClampOp<T>{p, q}, name);
    case Unary::InClosedRange:
      return map_into<T, T>(out, a, InClosedRangeOp<T>{p, q}, name);
    case Unary::InOpenRange:
      return map_into<T, T>(out, a, InOpenRangeOp<T>{p, q}, name);
  }
}

template <class T>
void compare_typed(Compare op, const Tensor& out, const Tensor& a, const Tensor& b,
                   const char* name) {
  switch (op) {
    case Compare::Eq:
      return zip_into<bool, T>(out, a, b, EqOp<T>{}, name);
    case Compare::Ne:
      return zip_into<bool, T>(out, a, b, NeOp<T>{}, name);
    case Compare::Lt:
      return zip_into<bool, T>(out, a, b, LtOp<T>{}, name);
    case Compare::Le:
      return zip_into<bool, T>(out, a, b, LeOp<T>{}, name);
    case Compare::Gt:
      return zip_into<bool, T>(out, a, b, GtOp<T>{}, name);
    case Compare::Ge:
      return zip_into<bool, T>(out, a, b, GeOp<T>{}, name);
  }
}

void check_broadcasts_to(const Tensor& src, const Tensor& dst, const char* name) {
  GB_CHECK(numel_of(broadcast_shapes(src.shape(), dst.shape(), name)) == dst.numel(), name,
           ": source ", src.shape_str(), " does not broadcast to destination ", dst.shape_str());
}

}  // namespace

void copy(const Tensor& dst, const Tensor& src) {
  check_broadcasts_to(src, dst, "copy_");
  if (dst.numel() == 0) return;
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous() &&
      dst.shape() == src.shape()) {
    cuda::copy_device_to_device(dst.raw_data(), src.raw_data(), dst.nbytes(), device_of(dst));
    return;
  }
  GB_DISPATCH_ALL(dst.dtype(), "copy_", [&] {
    using To = scalar_t;
    GB_DISPATCH_ALL(src.dtype(), "copy_", [&] {
      using From = scalar_t;
      map_into<To, From>(dst, src, ConvertOp<To, From>{}, "copy_");
    });
  });
}

void fill(const Tensor& dst, double value) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  GB_DISPATCH_ALL(dst.dtype(), "fill_", [&] {
    const scalar_t v = convert_value<scalar_t, double>(value);  // the rule of every copy
    Strided<1> s = make_strided<1>(dst.shape(), {byte_strides(dst)}, {sizeof(scalar_t)}, "fill_");
    auto kernel = &fill_kernel<scalar_t>;
    GB_LAUNCH(kernel, grid_for(n), kBlock, 0, stream_of(dst), n, s, bytes_of(dst), v);
  });
}

Tensor binary(Binary op, const Tensor& a, const Tensor& b, const char* name) {
  kernels::check_same_dtype(a, b, name);
  Tensor out = empty_on(broadcast_shapes(a.shape(), b.shape(), name), a.dtype(), a.device());
  GB_DISPATCH_NUMERIC(a.dtype(), name, [&] { binary_typed<scalar_t>(op, out, a, b, name); });
  return out;
}

void binary_(Binary op, const Tensor& dst, const Tensor& src, const char* name) {
  kernels::check_same_dtype(dst, src, name);
  check_broadcasts_to(src, dst, name);
  GB_DISPATCH_NUMERIC(dst.dtype(), name, [&] { binary_typed<scalar_t>(op, dst, dst, src, name); });
}

void axpy_(const Tensor& dst, const Tensor& src, double alpha) {
  kernels::check_same_dtype(dst, src, "add_");
  check_broadcasts_to(src, dst, "add_");
  GB_DISPATCH_FLOAT(dst.dtype(), "add_", [&] {
    zip_into<scalar_t, scalar_t>(dst, dst, src, AxpyOp<scalar_t>{static_cast<scalar_t>(alpha)},
                                 "add_");
  });
}

Tensor unary(Unary op, const Tensor& a, double param, double param2) {
  Tensor out = empty_on(a.shape(), a.dtype(), a.device());
  if (a.dtype() == kInt64 && (op == Unary::Neg || op == Unary::Abs || op == Unary::Sign)) {
    const char* name = kernels::unary_name(op);
    if (op == Unary::Neg) map_into<int64_t, int64_t>(out, a, NegOp<int64_t>{}, name);
    if (op == Unary::Abs) map_into<int64_t, int64_t>(out, a, AbsOp<int64_t>{}, name);
    if (op == Unary::Sign) map_into<int64_t, int64_t>(out, a, SignOp<int64_t>{}, name);
    return out;
  }
  GB_CHECK(is_floating(a.dtype()), kernels::unary_name(op),
           ": expected a floating-point tensor, got ", dtype_name(a.dtype()), " ", a.shape_str());
  GB_DISPATCH_FLOAT(a.dtype(), kernels::unary_name(op),
                    [&] { unary_float<scalar_t>(op, out, a, param, param2); });
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  const Shape shape =
      broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty_on(shape, a.dtype(), a.device());
  const int64_t n = out.numel();
  if (n == 0) return out;
  GB_DISPATCH_ALL(a.dtype(), "where", [&] {
    using T = scalar_t;
    Strided<4> s = make_strided<4>(
        shape,
        {byte_strides(out), cpu::broadcast_byte_strides(cond.shape(), cond.strides(), shape, 1),
         cpu::broadcast_byte_strides(a.shape(), a.strides(), shape, sizeof(T)),
         cpu::broadcast_byte_strides(b.shape(), b.strides(), shape, sizeof(T))},
        {sizeof(T), 1, sizeof(T), sizeof(T)}, "where");
    auto kernel = &where_kernel<T>;
    GB_LAUNCH(kernel, grid_for(n), kBlock, 0, stream_of(out), n, s, bytes_of(out), bytes_of(cond),
              bytes_of(a), bytes_of(b));
  });
  return out;
}

Tensor compare(Compare op, const Tensor& a, const Tensor& b, const char* name) {
  kernels::check_same_dtype(a, b, name);
  Tensor out = empty_on(broadcast_shapes(a.shape(), b.shape(), name), kBool, a.device());
  GB_DISPATCH_ALL(a.dtype(), name, [&] { compare_typed<scalar_t>(op, out, a, b, name); });
  return out;
}

}  // namespace glassbox::gpu
