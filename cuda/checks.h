#pragma once
// Deferred checks: argument checks that run on the device without making the host wait.
//
// A bad class label or gather index must become a glassbox::Error, never a wild read, but
// checking it on the host would cost a device-to-host copy, and with it a host wait, in
// every training step. So the check is queued like any kernel (kernels/checks.cuh): the
// first bad value lands in a small per-device slot, and the kernels that use the values
// guard their reads meanwhile (a bad index reads nothing). The next time the host waits for
// that device anyway — synchronize(), item(), .cpu(), to_vector(), any copy to the host —
// the runtime looks at the slot and, if a check failed, that call throws the check's error,
// with the same text the CPU backend gives. The error arrives later than on the CPU (at the
// next read), as CUDA's own asynchronous errors do; the device stays usable.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/tensor.h"

namespace glassbox::gpu {

// Queues a check that every int64 in `values` (contiguous, on a CUDA device) lies in
// [0, limit) or equals `ignore`. On failure the error's message is describe(bad value).
void defer_range_check(const Tensor& values, int64_t limit, std::optional<int64_t> ignore,
                       std::function<std::string(int64_t)> describe);

}  // namespace glassbox::gpu

namespace glassbox::cuda {

// Called by the runtimes right after the host has waited for `device`: throws the error of
// the first queued check that failed since the last call (and forgets the others).
void raise_deferred_errors(int device);

}  // namespace glassbox::cuda
