#pragma once
// Threading: OpenMP over outer loops. set_num_threads also sets Eigen's GEMM threads.
#include <cstdint>
#include <functional>

namespace glassbox {

void set_num_threads(int n);
int get_num_threads();

// Calls fn(begin, end) over chunks of [0, n). Runs serially when the total work
// (n * cost_per_item) is below ~32k element-operations or when already inside a parallel
// region, so small tensors never pay for a thread team.
template <class F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& fn);

}  // namespace glassbox

#include "core/parallel_impl.h"
