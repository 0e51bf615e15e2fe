// The host-wait counter of cuda/runtime.h, shared by the three runtimes.
#include <atomic>

#include "cuda/runtime.h"

namespace glassbox::cuda {
namespace {
std::atomic<int64_t> g_host_waits{0};
}

int64_t host_waits() { return g_host_waits.load(std::memory_order_relaxed); }
void detail::count_host_wait() { g_host_waits.fetch_add(1, std::memory_order_relaxed); }

}  // namespace glassbox::cuda
