// Deferred checks (cuda/checks.h): a registry of queued checks per device, the device slot
// their kernels (kernels/checks.cuh) write into, and the look at the slot after a host wait.
#include "cuda/checks.h"

#include <atomic>
#include <limits>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "cuda/common.h"
#include "cuda/kernels/checks.cuh"
#include "cuda/launch.h"
#include "cuda/runtime.h"

namespace glassbox {
namespace {
using gpu::CheckSlot;

constexpr CheckSlot kEmptySlot{0ull, std::numeric_limits<unsigned long long>::max(), 0};
// Checks queued without a host wait in between: past this many, the next check waits first,
// so a loop that never reads from the device cannot grow the registry without bound.
constexpr size_t kMaxPending = 4096;

struct Pending {
  unsigned long long ticket;
  std::function<std::string(int64_t)> describe;
};

struct DeviceChecks {
  std::mutex mutex;
  gpu::CheckSlot* slot = nullptr;  // device memory, allocated on first use, kept for good
  std::vector<Pending> pending;
};

// Never destroyed: a check may still run while static destructors do, and the slots must
// stay reachable (for LeakSanitizer too) for as long as the process lives.
DeviceChecks& checks_of(int device) {
  static std::mutex mutex;
  static auto* all = new std::vector<std::unique_ptr<DeviceChecks>>();
  std::lock_guard<std::mutex> lock(mutex);
  if (all->size() <= size_t(device)) all->resize(size_t(device) + 1);
  if (!(*all)[size_t(device)]) (*all)[size_t(device)] = std::make_unique<DeviceChecks>();
  return *(*all)[size_t(device)];
}

std::atomic<unsigned long long> g_next_ticket{1};
thread_local bool t_reading_slot = false;  // the slot's own copies must not look at the slot

void write_slot(CheckSlot* slot, const CheckSlot& value, int device) {
  t_reading_slot = true;
  try {
    cuda::copy_host_to_device(slot, &value, sizeof value, device);
  } catch (...) {
    t_reading_slot = false;
    throw;
  }
  t_reading_slot = false;
}

}  // namespace

namespace gpu {

void defer_range_check(const Tensor& values, int64_t limit, std::optional<int64_t> ignore,
                       std::function<std::string(int64_t)> describe) {
  const int64_t n = values.numel();
  if (n == 0) return;
  const int device = device_of(values);
  DeviceChecks& dc = checks_of(device);
  bool drain = false;
  {
    std::lock_guard<std::mutex> lock(dc.mutex);
    drain = dc.pending.size() >= kMaxPending;
  }
  if (drain) cuda::synchronize(device);  // looks at the slot, and may throw an earlier error
  const unsigned long long ticket = g_next_ticket.fetch_add(1);
  CheckSlot* slot = nullptr;
  {
    std::lock_guard<std::mutex> lock(dc.mutex);
    if (!dc.slot) {
      void* p = cuda::device_malloc(sizeof(CheckSlot), device);
      GB_CHECK(p != nullptr,
               "deferred checks: no device memory for the check slot on cuda:", device);
      dc.slot = static_cast<CheckSlot*>(p);
      write_slot(dc.slot, kEmptySlot, device);
    }
    dc.pending.push_back({ticket, std::move(describe)});
    slot = dc.slot;
  }
  auto check = &range_check_kernel;
  GB_LAUNCH(check, grid_for(n), kBlock, 0, stream_of(values), n, ptr_of<const int64_t>(values),
            limit, ignore.has_value(), ignore.value_or(0), ticket, slot);
  auto fetch = &range_check_value_kernel;
  GB_LAUNCH(fetch, 1, 32, 0, stream_of(values), ptr_of<const int64_t>(values), ticket, slot);
}

}  // namespace gpu

namespace cuda {

void raise_deferred_errors(int device) {
  if (t_reading_slot) return;
  DeviceChecks& dc = checks_of(device);
  std::vector<Pending> pending;
  CheckSlot* slot = nullptr;
  {
    std::lock_guard<std::mutex> lock(dc.mutex);
    if (dc.pending.empty()) return;
    pending.swap(dc.pending);
    slot = dc.slot;
  }
  CheckSlot seen{};
  t_reading_slot = true;
  try {
    copy_device_to_host(&seen, slot, sizeof seen, device);
  } catch (...) {
    t_reading_slot = false;
    throw;
  }
  t_reading_slot = false;
  if (seen.ticket == 0) return;
  write_slot(slot, kEmptySlot, device);
  for (const Pending& p : pending)
    if (p.ticket == seen.ticket) fail(p.describe(static_cast<int64_t>(seen.value)));
  fail(str("a deferred device check failed on cuda:", device, " (value ", seen.value, ")"));
}

}  // namespace cuda
}  // namespace glassbox
