#pragma once
// The CUDA emulator: the subset of CUDA C++ that glassbox's kernels use, on the CPU.
//
// Under GLASSBOX_CUDA_EMU the same cuda/*.cu sources are compiled as plain C++ with this
// header in place of <cuda_runtime.h>. A launch runs every block of the grid, one after
// another, on the calling thread; inside a block every CUDA thread is a fiber (ucontext) with
// its own stack, so __syncthreads() is a real barrier (each fiber yields until all have
// arrived) and warp intrinsics exchange values among the 32 lanes of a warp. The scheduler
// checks what a GPU leaves undefined and reports it as a glassbox::Error naming the kernel
// and its launch site: a barrier not reached by every thread of the block, a shuffle or
// vote whose mask names a lane that did not arrive, a launch a GPU would refuse.
//
// Kernels that never synchronise take a fast path: their threads run one after another as
// plain calls, no fibers. The first launch of each kernel with a given block shape runs on
// fibers and records whether it used a barrier or warp op; later launches of a kernel and
// shape that did not run fast. A fast launch that meets a barrier after all is an error (a
// kernel whose synchronisation depends on its data), never a silent wrong answer.
// GLASSBOX_EMU_FIBERS=ucontext switches fibers with swapcontext instead of the emulator's own
// x86-64 switch (slower; for debugging the emulator).
//
// What it cannot tell: races between blocks (blocks run one at a time), GPU rounding (it
// uses the host's math library), memory-model subtleties (fibers switch only at sync
// points, so every atomic is trivially atomic), and speed. scripts/gpu_check.sh covers those.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct CUstream_st;
using cudaStream_t = CUstream_st*;

namespace glassbox::cuda::emu {

// The running emulated thread's coordinates.
struct ThreadCoords {
  dim3 thread_idx, block_idx, block_dim, grid_dim;
};
namespace detail {
// Set by the scheduler whenever it runs a thread; null outside a kernel. Inline reads let the
// compiler keep threadIdx and friends in registers between sync points.
extern thread_local const ThreadCoords* current_coords;
[[noreturn]] void coords_outside_kernel();
const ThreadCoords* current_coords_out_of_line();
}  // namespace detail
// Throws when called outside a kernel.
inline const ThreadCoords& coords() {
#if defined(__SANITIZE_ADDRESS__)
  // under the sanitizers the variable is read out of line, in the file that defines it: GCC's
  // UBSan reports the inlined access to this extern thread_local as a load through null
  const ThreadCoords* c = detail::current_coords_out_of_line();
#else
  const ThreadCoords* c = detail::current_coords;
#endif
  if (!c) detail::coords_outside_kernel();
  return *c;
}

// Order in which the threads of a block (and the blocks of a grid) are run. Forward runs
// thread 0 first; Reverse runs the last thread first; Shuffle uses a seeded permutation.
// A kernel with a missing barrier gives a different answer in some order: tests run more
// than one. Set by set_schedule() or the GLASSBOX_EMU_SCHEDULE environment variable
// ("forward", "reverse", "shuffle" or "shuffle:SEED"; shuffle also shuffles blocks).
enum class Order { Forward, Reverse, Shuffle };
struct Schedule {
  Order order = Order::Forward;
  uint64_t seed = 0;
};
void set_schedule(const Schedule& s);
Schedule schedule();
const char* order_name(Order o);

struct Stats {
  int64_t launches = 0;        // every launch
  int64_t fiber_launches = 0;  // of those, run on fibers (barriers or warp ops)
  int64_t fast_launches = 0;   // run as plain calls
};
Stats stats();

struct LaunchSite {
  const char* kernel;
  const char* file;
  int line;
};

// Runs body() once per thread of the grid with coords() set. Checks the configuration
// first (block <= 1024 threads, grid limits, no zero-size launch, dynamic shared memory <=
// 48 KB unless raised by set_max_dynamic_shared for that kernel).
void launch_impl(const LaunchSite& site, const void* kernel_id, dim3 grid, dim3 block,
                 size_t dynamic_shared_bytes, const std::function<void()>& body);
// cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)
void set_max_dynamic_shared(const void* kernel_id, size_t bytes);

// The block's dynamic shared memory, filled with NaN bytes (0xFF) at the start of each block
// so a read before a write shows up as NaN.
void* dynamic_shared();

// --- intrinsics (implemented in emu.cpp) ---
void syncthreads();
void syncwarp(unsigned mask);
enum class Shuffle { Index, Up, Down, Xor };
// Every lane named in `mask` must call the same shuffle; returns the 8-byte payload of the
// source lane (or the caller's own when the source is outside the lane's width segment).
uint64_t shuffle(Shuffle kind, unsigned mask, uint64_t payload, int arg, int width);
enum class Vote { Ballot, Any, All };
unsigned vote(Vote kind, unsigned mask, int predicate);

template <class T>
T shuffle_value(Shuffle kind, unsigned mask, T v, int arg, int width) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffle: 1-8 byte values");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = shuffle(kind, mask, bits, arg, width);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

// CUDA copies a launch's arguments into each thread's parameter space: so do we, once.
template <class... P, class... A>
void launch(const char* name, const char* file, int line, void (*kernel)(P...), dim3 grid,
            dim3 block, size_t smem, cudaStream_t, A&&... args) {
  std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
  launch_impl({name, file, line}, reinterpret_cast<const void*>(kernel), grid, block, smem,
              [&] { std::apply(kernel, params); });
}

}  // namespace glassbox::cuda::emu

// --- the CUDA language, as macros and functions over the emulator ---
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local
#define threadIdx (::glassbox::cuda::emu::coords().thread_idx)
#define blockIdx (::glassbox::cuda::emu::coords().block_idx)
#define blockDim (::glassbox::cuda::emu::coords().block_dim)
#define gridDim (::glassbox::cuda::emu::coords().grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads() { ::glassbox::cuda::emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::glassbox::cuda::emu::syncwarp(mask); }
inline void __threadfence() {}

template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  return ::glassbox::cuda::emu::shuffle_value(::glassbox::cuda::emu::Shuffle::Index, mask, v, src,
                                              width);
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::glassbox::cuda::emu::shuffle_value(::glassbox::cuda::emu::Shuffle::Up, mask, v,
                                              int(delta), width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::glassbox::cuda::emu::shuffle_value(::glassbox::cuda::emu::Shuffle::Down, mask, v,
                                              int(delta), width);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return ::glassbox::cuda::emu::shuffle_value(::glassbox::cuda::emu::Shuffle::Xor, mask, v,
                                              lane_mask, width);
}
inline unsigned __ballot_sync(unsigned mask, int p) {
  return ::glassbox::cuda::emu::vote(::glassbox::cuda::emu::Vote::Ballot, mask, p);
}
inline int __any_sync(unsigned mask, int p) {
  return int(::glassbox::cuda::emu::vote(::glassbox::cuda::emu::Vote::Any, mask, p));
}
inline int __all_sync(unsigned mask, int p) {
  return int(::glassbox::cuda::emu::vote(::glassbox::cuda::emu::Vote::All, mask, p));
}

// Atomics: fibers switch only at barriers and warp ops, so a read-modify-write is atomic.
template <class T>
T atomicAdd(T* p, T v) {
  T old = *p;
  *p = old + v;
  return old;
}
template <class T>
T atomicMax(T* p, T v) {
  T old = *p;
  *p = old < v ? v : old;
  return old;
}
template <class T>
T atomicMin(T* p, T v) {
  T old = *p;
  *p = v < old ? v : old;
  return old;
}
template <class T>
T atomicExch(T* p, T v) {
  T old = *p;
  *p = v;
  return old;
}
template <class T>
T atomicCAS(T* p, T compare, T v) {
  T old = *p;
  if (old == compare) *p = v;
  return old;
}
