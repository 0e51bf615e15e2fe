// The bias gradient of conv2d (and conv_transpose2d): db[c] = sum over n, i, j of dy[n, c, i, j].
// A general reduction over dims {0, 2, 3} has only C outputs to spread over threads and sums
// each one element by element; here threads take images instead, each plane is summed with
// 16 independent running sums (which the compiler turns into vector adds), and planes are
// added in double. Per-thread parts are added in a fixed order, like every conv reduction.
#include "core/cpu/conv_cpu.h"

namespace glassbox::cpu {
namespace {

template <class T>
double plane_sum(const T* p, int64_t n) {
  constexpr int kLanes = 16;
  T lanes[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int v = 0; v < kLanes; ++v) lanes[v] += p[k + v];
  double s = 0;
  for (int v = 0; v < kLanes; ++v) s += lanes[v];
  for (; k < n; ++k) s += p[k];
  return s;
}

template <class T>
void grad_bias(const T* dy, T* db, int64_t batch, int64_t channels, int64_t plane) {
  const auto total = conv_detail::parallel_sum<double>(
      batch, channels * plane, channels, [&](int64_t b, int64_t e, double* acc) {
        for (int64_t n = b; n < e; ++n)
          for (int64_t c = 0; c < channels; ++c)
            acc[c] += plane_sum(dy + (n * channels + c) * plane, plane);
      });
  for (int64_t c = 0; c < channels; ++c) db[c] = static_cast<T>(total[c]);
}

}  // namespace

Tensor conv2d_grad_bias(const Tensor& dy) {
  Tensor db = empty({dy.size(1)}, dtype(dy.dtype()));
  GB_DISPATCH_FLOAT(dy.dtype(), "conv2d", [&] {
    grad_bias(dy.data_ptr<scalar_t>(), db.data_ptr<scalar_t>(), dy.size(0), dy.size(1),
              dy.size(2) * dy.size(3));
  });
  return db;
}

}  // namespace glassbox::cpu
