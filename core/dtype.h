#pragma once
// Element types. float32 is the math type; float64 exists on CPU so gradcheck is exact;
// int64 holds labels and indices; uint8 holds raw image bytes; bool is what comparisons return.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace glassbox {

enum class DType : uint8_t { Float32, Float64, Int64, UInt8, Bool };

constexpr DType kFloat32 = DType::Float32;
constexpr DType kFloat64 = DType::Float64;
constexpr DType kInt64 = DType::Int64;
constexpr DType kUInt8 = DType::UInt8;
constexpr DType kBool = DType::Bool;

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "float32", ...
inline bool is_floating(DType t) { return t == DType::Float32 || t == DType::Float64; }

template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::Float32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::Float64;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = DType::Int64;
};
template <>
struct dtype_of<uint8_t> {
  static constexpr DType value = DType::UInt8;
};
template <>
struct dtype_of<bool> {
  static constexpr DType value = DType::Bool;
};

}  // namespace glassbox

// Runs the body with `scalar_t` bound to the C++ type of `dtype`. `op` names the caller in
// the error thrown for a dtype the body does not support.
#define GB_DISPATCH_CASE(enumval, type, ...) \
  case enumval: {                            \
    using scalar_t = type;                   \
    __VA_ARGS__();                           \
    break;                                   \
  }

#define GB_DISPATCH_FLOAT(dtype, op, ...)                                              \
  switch (dtype) {                                                                     \
    GB_DISPATCH_CASE(::glassbox::DType::Float32, float, __VA_ARGS__)                   \
    GB_DISPATCH_CASE(::glassbox::DType::Float64, double, __VA_ARGS__)                  \
    default:                                                                           \
      ::glassbox::fail(::glassbox::str(op, ": expected a floating-point tensor, got ", \
                                       ::glassbox::dtype_name(dtype)));                \
  }

#define GB_DISPATCH_NUMERIC(dtype, op, ...)                                                  \
  switch (dtype) {                                                                           \
    GB_DISPATCH_CASE(::glassbox::DType::Float32, float, __VA_ARGS__)                         \
    GB_DISPATCH_CASE(::glassbox::DType::Float64, double, __VA_ARGS__)                        \
    GB_DISPATCH_CASE(::glassbox::DType::Int64, int64_t, __VA_ARGS__)                         \
    GB_DISPATCH_CASE(::glassbox::DType::UInt8, uint8_t, __VA_ARGS__)                         \
    default:                                                                                 \
      ::glassbox::fail(                                                                      \
          ::glassbox::str(op, ": not supported for dtype ", ::glassbox::dtype_name(dtype))); \
  }

#define GB_DISPATCH_ALL(dtype, op, ...)                               \
  switch (dtype) {                                                    \
    GB_DISPATCH_CASE(::glassbox::DType::Float32, float, __VA_ARGS__)  \
    GB_DISPATCH_CASE(::glassbox::DType::Float64, double, __VA_ARGS__) \
    GB_DISPATCH_CASE(::glassbox::DType::Int64, int64_t, __VA_ARGS__)  \
    GB_DISPATCH_CASE(::glassbox::DType::UInt8, uint8_t, __VA_ARGS__)  \
    GB_DISPATCH_CASE(::glassbox::DType::Bool, bool, __VA_ARGS__)      \
    default:                                                          \
      ::glassbox::fail(::glassbox::str(op, ": unknown dtype"));       \
  }
