#pragma once
// Element conversion between dtypes, one rule for every backend (the CPU's copy kernels and
// the CUDA ones compile this same function): bool is "!= 0"; floating -> integer saturates
// and maps NaN to 0, because a plain cast of NaN, inf or an out-of-range value is undefined
// behaviour in C++ and gives different answers on the CPU and the GPU.
#include <limits>
#include <type_traits>

#if defined(__CUDACC__)
#define GB_HOST_DEVICE __host__ __device__
#else
#define GB_HOST_DEVICE
#endif

namespace glassbox {

template <class To, class From>
GB_HOST_DEVICE inline To convert_value(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
    if (!(v == v)) return To(0);
    if (v >= static_cast<From>(std::numeric_limits<To>::max()))
      return std::numeric_limits<To>::max();
    if (v <= static_cast<From>(std::numeric_limits<To>::lowest()))
      return std::numeric_limits<To>::lowest();
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

}  // namespace glassbox
