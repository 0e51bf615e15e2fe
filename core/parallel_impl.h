#pragma once
#ifdef _OPENMP
#include <omp.h>
#endif
#include <algorithm>

namespace glassbox {

constexpr int64_t kParallelGrain = 32768;

template <class F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& fn) {
  if (n <= 0) return;
#ifdef _OPENMP
  int threads = get_num_threads();
  if (threads > 1 && n > 1 && n * std::max<int64_t>(cost_per_item, 1) >= kParallelGrain &&
      !omp_in_parallel()) {
    int64_t chunks = std::min<int64_t>(n, threads);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
      fn(b, e);
    }
    return;
  }
#endif
  (void)cost_per_item;
  fn(int64_t{0}, n);
}

}  // namespace glassbox
