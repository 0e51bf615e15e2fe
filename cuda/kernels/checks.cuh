#pragma once
// The device half of deferred checks (cuda/checks.h): a range check over int64 values that
// records the first bad one in the device's check slot instead of stopping the host.
//
// The slot holds {ticket, position, value}. Every check launch has its own ticket; the first
// ticket to find a bad value claims the slot with atomicCAS (0 -> ticket), later checks leave
// it alone, so the slot reports the earliest failing check in stream order. Within the
// winning launch every thread that finds a bad value lowers `position` with atomicMin, so it
// ends at the first bad position, as the CPU reports it; a one-thread kernel launched right
// after then copies the value found there, while the checked tensor is still alive.
#include <cstdint>

#include "cuda/kernels/strided.cuh"

namespace glassbox::gpu {

struct CheckSlot {
  unsigned long long ticket;    // 0: no failure recorded
  unsigned long long position;  // first bad flat position of the winning check
  long long value;              // the value there
};

// values[i] is good when it equals `ignore` (if has_ignore) or lies in [0, limit).
__global__ void range_check_kernel(int64_t n, const int64_t* values, int64_t limit, bool has_ignore,
                                   int64_t ignore, unsigned long long ticket, CheckSlot* slot) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const int64_t v = values[i];
    if ((has_ignore && v == ignore) || (v >= 0 && v < limit)) continue;
    const unsigned long long owner = atomicCAS(&slot->ticket, 0ull, ticket);
    if (owner == 0ull || owner == ticket) atomicMin(&slot->position, (unsigned long long)i);
  }
}

__global__ void range_check_value_kernel(const int64_t* values, unsigned long long ticket,
                                         CheckSlot* slot) {
  if (global_thread() == 0 && slot->ticket == ticket)
    slot->value = static_cast<long long>(values[slot->position]);
}

}  // namespace glassbox::gpu
