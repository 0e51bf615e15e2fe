// The CUDA emulator itself: every intrinsic against its definition in the CUDA programming
// guide, the launch checks a GPU makes, the schedules and the fast path, the reference GEMM
// and its argument rules, and the planted bugs the emulator exists to catch (a missing
// barrier, a divergent full-mask shuffle, a divergent barrier; the out-of-bounds write is
// tests/emu_oob.cpp, caught by ASan). Built only with GLASSBOX_CUDA_EMU.
#include <doctest/doctest.h>

#if defined(GLASSBOX_CUDA_EMU)
#include <climits>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "cuda/blas.h"
#include "cuda/launch.h"

using namespace glassbox;
namespace emu = glassbox::cuda::emu;
using doctest::Contains;

namespace {

const emu::Schedule kSchedules[] = {{emu::Order::Forward, 0},
                                    {emu::Order::Reverse, 0},
                                    {emu::Order::Shuffle, 1},
                                    {emu::Order::Shuffle, 2}};

// Runs f under each schedule, then restores the one that was set.
template <class F>
void for_each_schedule(F f) {
  const emu::Schedule saved = emu::schedule();
  for (const emu::Schedule& s : kSchedules) {
    emu::set_schedule(s);
    const std::string order = emu::order_name(s.order);
    CAPTURE(order);
    CAPTURE(s.seed);
    f(s);
  }
  emu::set_schedule(saved);
}

struct ScheduleScope {  // one schedule for a test case
  emu::Schedule saved = emu::schedule();
  explicit ScheduleScope(emu::Schedule s) { emu::set_schedule(s); }
  ~ScheduleScope() { emu::set_schedule(saved); }
};

// ---- intrinsics

__global__ void shuffles(int width, int src, int delta, int lane_mask, int* index, int* up,
                         int* down, int* xr) {
  const int t = int(threadIdx.x);
  index[t] = __shfl_sync(0xffffffffu, t * 10, src, width);
  up[t] = __shfl_up_sync(0xffffffffu, t * 10, unsigned(delta), width);
  down[t] = __shfl_down_sync(0xffffffffu, t * 10, unsigned(delta), width);
  xr[t] = __shfl_xor_sync(0xffffffffu, t * 10, lane_mask, width);
}

__global__ void shuffle_wide(double* d, int64_t* i) {
  const int t = int(threadIdx.x);
  d[t] = __shfl_xor_sync(0xffffffffu, 0.25 + t, 16);
  i[t] = __shfl_sync(0xffffffffu, (int64_t(1) << 40) + t, 31);
}

// lanes 0..15 shuffle among themselves; lane 15 + 1 is not in the mask
__global__ void shuffle_outside_mask(float* out) {
  const int t = int(threadIdx.x);
  if (t < 16) out[t] = __shfl_down_sync(0x0000ffffu, float(t), 1);
}

__global__ void votes(unsigned* ballot, int* any, int* all, unsigned* half) {
  const int t = int(threadIdx.x);
  ballot[t] = __ballot_sync(0xffffffffu, t % 3 == 0);
  any[t] = __any_sync(0xffffffffu, t == 17);
  all[t] = __all_sync(0xffffffffu, t < 40);
  if (t % 32 < 16) half[t] = __ballot_sync(0x0000ffffu, t % 2);  // a legal divergent vote
}

// a warp-level exchange through shared memory, ordered by __syncwarp
__global__ void warp_exchange(int* out) {
  __shared__ int slots[64];
  const int t = int(threadIdx.x);
  slots[t] = t * 3;
  __syncwarp();
  out[t] = slots[(t & ~31) + (31 - t % 32)];
}

__global__ void warp_partial(int* out) {
  // a block of 40 threads: the second warp has 8 lanes; its masks name only those
  const int t = int(threadIdx.x);
  const unsigned mask = t < 32 ? 0xffffffffu : 0xffu;
  out[t] = __shfl_xor_sync(mask, t, 4) + int(__ballot_sync(mask, 1) == mask);
}

__global__ void warp_partial_bad(int* out) {
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, int(threadIdx.x), 1);  // lanes 8..31 absent
}

__global__ void lanes_in_3d(int* out) {
  const int linear = int(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z));
  out[linear] = __shfl_sync(0xffffffffu, linear, 0);  // lane 0 of my warp
}

__global__ void not_my_mask(int* out) {
  out[threadIdx.x] = __shfl_sync(0xfffffffeu, 1, 0);  // lane 0 leaves itself out
}

__global__ void bad_width(int* out) { out[threadIdx.x] = __shfl_xor_sync(~0u, 1, 1, 12); }

__global__ void mixed_ops(int* out) {
  const int t = int(threadIdx.x);
  out[t] = t == 0 ? int(__ballot_sync(~0u, 1)) : __shfl_sync(~0u, t, 0);
}

__global__ void atomics(int* counter, double* total, int* hi, int* lo, int* swapped, int* cas) {
  const int t = int(blockIdx.x * blockDim.x + threadIdx.x);
  atomicAdd(counter, 1);
  atomicAdd(total, 0.5);
  atomicMax(hi, t);
  atomicMin(lo, t);
  atomicExch(swapped, 7);
  atomicCAS(cas, t, -1);  // only thread 5 finds 5
}

__global__ void coordinates(int* out, unsigned* dims) {
  const unsigned b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  out[b * (blockDim.x * blockDim.y * blockDim.z) + t] = int(b * 1000 + t);
  if (b == 0 && t == 0) {
    dims[0] = gridDim.x, dims[1] = gridDim.y, dims[2] = gridDim.z;
    dims[3] = blockDim.x, dims[4] = blockDim.y, dims[5] = blockDim.z;
  }
}

// ---- shared memory

// A block sum: dynamic shared memory, barriers, and a tree.
__global__ void block_sum(const float* in, float* out) {
  GB_DYN_SHARED(float, s);
  const unsigned t = threadIdx.x;
  s[t] = in[blockIdx.x * blockDim.x + t];
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (t < half) s[t] += s[t + half];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

__global__ void static_shared(int* out) {
  __shared__ int slots[64];
  slots[threadIdx.x] = int(threadIdx.x) * 2;
  __syncthreads();
  out[threadIdx.x] = slots[63 - threadIdx.x];
}

__global__ void read_shared_first(float* out) {
  GB_DYN_SHARED(float, s);
  out[blockIdx.x * blockDim.x + threadIdx.x] = s[threadIdx.x];
  s[threadIdx.x] = 1.f;  // the next block must not see this
}

// ---- planted bugs

// (a) reads a neighbour's shared slot without waiting for it to be written
__global__ void neighbour_sum(bool with_barrier, float* out) {
  GB_DYN_SHARED(float, s);
  const unsigned t = threadIdx.x;
  s[t] = float(t);
  if (with_barrier) __syncthreads();
  out[t] = s[t] + s[(t + 1) % blockDim.x];
}

// (b) a full-mask shuffle that only the even lanes reach
__global__ void divergent_shuffle(int* out) {
  const int t = int(threadIdx.x);
  if (t % 2 == 0) out[t] = __shfl_down_sync(0xffffffffu, t, 1);
}

// (c) some threads leave before a barrier the others wait at
__global__ void early_return(int n, int* out) {
  const int t = int(threadIdx.x);
  if (t >= n) return;
  __syncthreads();
  out[t] = t;
}

// ---- schedules, fast path, errors

__global__ void record_order(int* counter, int* order) {
  order[atomicAdd(counter, 1)] = int(threadIdx.x);
}
__global__ void record_blocks(int* counter, int* order) {
  if (threadIdx.x == 0) order[atomicAdd(counter, 1)] = int(blockIdx.x);
  __syncthreads();
}

__global__ void plain_copy(const int* in, int* out) {
  out[blockIdx.x * blockDim.x + threadIdx.x] = in[blockIdx.x * blockDim.x + threadIdx.x];
}

__global__ void sync_if(int flag, int* out) {
  if (flag) __syncthreads();
  out[threadIdx.x] = flag;
}

__global__ void throws_in_kernel(int bad_thread) {
  if (int(threadIdx.x) == bad_thread) fail("kernel says no");
  __syncthreads();
}
__global__ void throws_without_sync(int bad_thread, int* out) {
  if (int(threadIdx.x) == bad_thread) fail("plain kernel says no");
  out[threadIdx.x] = 1;
}

bool is_permutation_of_iota(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] != int(i)) return false;
  return true;
}
bool is_iota(const std::vector<int>& v) {
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] != int(i)) return false;
  return true;
}

}  // namespace

TEST_SUITE("emu") {
  TEST_CASE("shuffles follow CUDA's lane arithmetic for every width") {
    for (int width : {32, 16, 8}) {
      for (int src : {3, 35, -1}) {
        CAPTURE(width);
        CAPTURE(src);
        std::vector<int> index(64), up(64), down(64), xr(64);
        GB_LAUNCH(shuffles, 1, 64, 0, nullptr, width, src, 2, 1, index.data(), up.data(),
                  down.data(), xr.data());
        for (int t = 0; t < 64; ++t) {
          CAPTURE(t);
          const int lane = t % 32, warp = t - lane, seg = lane / width * width;
          // source lane modulo width, within the lane's segment (-1 wraps to its last lane)
          CHECK(index[t] == (warp + seg + ((src % width) + width) % width) * 10);
          CHECK(up[t] == (lane - 2 >= seg ? t - 2 : t) * 10);
          CHECK(down[t] == (lane + 2 < seg + width ? t + 2 : t) * 10);
          CHECK(xr[t] == (t ^ 1) * 10);
        }
      }
    }
    // xor may read an earlier segment but never a later one (the programming guide's rule)
    std::vector<int> index(32), up(32), down(32), xr(32);
    GB_LAUNCH(shuffles, 1, 32, 0, nullptr, 8, 0, 9, 8, index.data(), up.data(), down.data(),
              xr.data());
    for (int t = 0; t < 32; ++t) {
      CAPTURE(t);
      CHECK(xr[t] == ((t ^ 8) <= (t | 7) ? t ^ 8 : t) * 10);
      CHECK(up[t] == t * 10);  // delta 9 leaves every 8-lane segment
      CHECK(down[t] == t * 10);
    }
    // 8-byte values travel whole
    std::vector<double> d(32);
    std::vector<int64_t> i(32);
    GB_LAUNCH(shuffle_wide, 1, 32, 0, nullptr, d.data(), i.data());
    for (int t = 0; t < 32; ++t) {
      CHECK(d[t] == 0.25 + (t ^ 16));
      CHECK(i[t] == (int64_t(1) << 40) + 31);
    }
    // a source lane outside the mask has no defined value: it reads as NaN
    std::vector<float> out(16);
    GB_LAUNCH(shuffle_outside_mask, 1, 32, 0, nullptr, out.data());
    for (int t = 0; t < 15; ++t) CHECK(out[t] == float(t + 1));
    CHECK(std::isnan(out[15]));
  }

  TEST_CASE("votes and __syncwarp") {
    std::vector<unsigned> ballot(64), half(64, 0);
    std::vector<int> any(64), all(64);
    GB_LAUNCH(votes, 1, 64, 0, nullptr, ballot.data(), any.data(), all.data(), half.data());
    unsigned expect0 = 0, expect1 = 0;
    for (int l = 0; l < 32; ++l) {
      expect0 |= unsigned(l % 3 == 0) << l;
      expect1 |= unsigned((l + 32) % 3 == 0) << l;
    }
    for (int t = 0; t < 64; ++t) {
      CAPTURE(t);
      CHECK(ballot[t] == (t < 32 ? expect0 : expect1));
      CHECK(any[t] == (t < 32));  // lane 17 of warp 0 only
      CHECK(all[t] == (t < 32));  // warp 1 holds threads >= 40
      if (t % 32 < 16) CHECK(half[t] == 0xaaaau);
    }
    std::vector<int> out(64);
    GB_LAUNCH(warp_exchange, 1, 64, 0, nullptr, out.data());
    for (int t = 0; t < 64; ++t) CHECK(out[t] == ((t & ~31) + 31 - t % 32) * 3);
  }

  TEST_CASE("a partial last warp has only its lanes, and a 3-D block is counted x first") {
    std::vector<int> out(40);
    GB_LAUNCH(warp_partial, 1, 40, 0, nullptr, out.data());
    for (int t = 0; t < 40; ++t) CHECK(out[t] == (t ^ 4) + 1);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(warp_partial_bad, 1, 40, 0, nullptr, out.data()),
                         Contains("warp 1 of this block has 8 threads"), Error);
    std::vector<int> lane0(64);
    GB_LAUNCH(lanes_in_3d, 1, dim3(4, 4, 4), 0, nullptr, lane0.data());
    for (int t = 0; t < 64; ++t) CHECK(lane0[t] == t / 32 * 32);
  }

  TEST_CASE("misused masks and widths are errors naming the thread") {
    std::vector<int> out(32);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(not_my_mask, 1, 32, 0, nullptr, out.data()),
                         Contains("thread 0: mask 0xfffffffe does not name the calling lane 0"),
                         Error);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(bad_width, 1, 32, 0, nullptr, out.data()),
                         Contains("width 12 is not a power of two"), Error);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(mixed_ops, 1, 32, 0, nullptr, out.data()),
                         Contains("__ballot_sync in block (0,0,0) thread 0: mask 0xffffffff names "
                                  "lane 1, which is waiting at __shfl_sync with mask 0xffffffff"),
                         Error);
  }

  TEST_CASE("atomics") {
    int counter = 0, hi = -1, lo = 1 << 30, swapped = 0, cas = 5;
    double total = 0;
    GB_LAUNCH(atomics, 3, 64, 0, nullptr, &counter, &total, &hi, &lo, &swapped, &cas);
    CHECK(counter == 192);
    CHECK(total == 96.0);
    CHECK(hi == 191);
    CHECK(lo == 0);
    CHECK(swapped == 7);
    CHECK(cas == -1);
  }

  TEST_CASE("2-D and 3-D grids and blocks give every thread its coordinates") {
    for_each_schedule([](const emu::Schedule&) {
      const dim3 grid(3, 2, 2), block(4, 3, 2);
      std::vector<int> out(12 * 24, -1);
      std::vector<unsigned> dims(6);
      GB_LAUNCH(coordinates, grid, block, 0, nullptr, out.data(), dims.data());
      for (int b = 0; b < 12; ++b)
        for (int t = 0; t < 24; ++t) CHECK(out[b * 24 + t] == b * 1000 + t);
      CHECK(dims == std::vector<unsigned>{3, 2, 2, 4, 3, 2});
    });
  }

  TEST_CASE("shared memory: a block reduction is right in every schedule") {
    std::vector<float> in(4 * 256);
    std::iota(in.begin(), in.end(), 0.f);
    for_each_schedule([&](const emu::Schedule&) {
      std::vector<float> out(4, 0.f);
      GB_LAUNCH(block_sum, 4, 256, 256 * sizeof(float), nullptr, in.data(), out.data());
      for (int b = 0; b < 4; ++b) {
        double expect = 0;
        for (int i = 0; i < 256; ++i) expect += in[b * 256 + i];
        CHECK(out[b] == float(expect));
      }
      std::vector<int> st(64);
      GB_LAUNCH(static_shared, 1, 64, 0, nullptr, st.data());
      for (int t = 0; t < 64; ++t) CHECK(st[t] == (63 - t) * 2);
    });
  }

  TEST_CASE("dynamic shared memory starts as NaN in every block, so a read before a write shows") {
    std::vector<float> out(3 * 32, 0.f);
    for (int launch = 0; launch < 2; ++launch) {  // the fiber path, then the fast path
      GB_LAUNCH(read_shared_first, 3, 32, 32 * sizeof(float), nullptr, out.data());
      for (float v : out) CHECK(std::isnan(v));
    }
  }

  TEST_CASE("planted bug: a missing __syncthreads gives a wrong answer in some schedule") {
    bool wrong_somewhere = false;
    for_each_schedule([&](const emu::Schedule&) {
      for (bool barrier : {true, false}) {
        std::vector<float> out(128);
        GB_LAUNCH(neighbour_sum, 1, 128, 128 * sizeof(float), nullptr, barrier, out.data());
        bool right = true;
        for (unsigned t = 0; t < 128; ++t) right &= out[t] == float(t + (t + 1) % 128);
        if (barrier) CHECK(right);  // the correct kernel is right in every order
        if (!barrier && !right) wrong_somewhere = true;
      }
    });
    CHECK(wrong_somewhere);
  }

  TEST_CASE("planted bug: a full-mask shuffle in a divergent branch is an error") {
    std::vector<int> out(32);
    CHECK_THROWS_WITH_AS(
        GB_LAUNCH(divergent_shuffle, 1, 32, 0, nullptr, out.data()),
        Contains("__shfl_down_sync in block (0,0,0) thread 0: mask 0xffffffff names lane 1, "
                 "which exited"),
        Error);
  }

  TEST_CASE("planted bug: a barrier that some threads never reach is an error") {
    std::vector<int> out(64);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(early_return, 1, 64, 0, nullptr, 40, out.data()),
                         Contains("__syncthreads in block (0,0,0): 40 of 64 threads arrived and "
                                  "the other 24 returned before reaching it"),
                         Error);
    GB_LAUNCH(early_return, 1, 64, 0, nullptr, 64, out.data());  // all reach it: fine
    CHECK(out[63] == 63);
  }

  TEST_CASE("launches a GPU would refuse are refused") {
    std::vector<float> out(2048);
    auto k = &read_shared_first;
    CHECK_THROWS_WITH_AS(GB_LAUNCH(k, 1, 1025, 0, nullptr, out.data()),
                         Contains("1025 threads per block, at most 1024"), Error);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(k, 1, dim3(1, 1, 65), 0, nullptr, out.data()),
                         Contains("block dimensions may be at most (1024,1024,64)"), Error);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(k, 0, 32, 0, nullptr, out.data()), Contains("zero-size launch"),
                         Error);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(k, 1, dim3(32, 0), 0, nullptr, out.data()),
                         Contains("zero-size launch"), Error);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(k, dim3(1, 65536), 32, 0, nullptr, out.data()),
                         Contains("grid dimensions may be at most"), Error);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(k, 1, 32, 49 << 10, nullptr, out.data()),
                         Contains("50176 bytes of dynamic shared memory, but the limit is 49152 "
                                  "(48 KiB)"),
                         Error);
    CHECK_THROWS_WITH_AS(GB_SET_MAX_DYN_SHARED(k, (227 << 10) + 1), Contains("227 KiB"), Error);
    GB_SET_MAX_DYN_SHARED(k, 64 << 10);
    GB_LAUNCH(k, 1, 32, 49 << 10, nullptr, out.data());  // opted in
    CHECK(std::isnan(out[0]));
    CHECK_THROWS_WITH_AS(GB_LAUNCH(k, 1, 32, 65 << 10, nullptr, out.data()),
                         Contains("set for this kernel by set_max_dynamic_shared is 65536"), Error);
  }

  TEST_CASE("threads run in schedule order, on fibers and on the fast path; shuffle moves blocks") {
    for_each_schedule([](const emu::Schedule& s) {
      for (int launch = 0; launch < 2; ++launch) {
        int counter = 0;
        std::vector<int> order(64, -1);
        GB_LAUNCH(record_order, 1, 64, 0, nullptr, &counter, order.data());
        CHECK(is_permutation_of_iota(order));
        if (s.order == emu::Order::Forward) CHECK(is_iota(order));
        if (s.order == emu::Order::Reverse) CHECK(order[0] == 63);
        if (s.order == emu::Order::Shuffle) CHECK(!is_iota(order));
      }
      int counter = 0;
      std::vector<int> blocks(64, -1);
      GB_LAUNCH(record_blocks, 64, 32, 0, nullptr, &counter, blocks.data());
      CHECK(is_permutation_of_iota(blocks));
      CHECK(is_iota(blocks) == (s.order != emu::Order::Shuffle));
    });
    // a seed gives one order: a failure seen under shuffle:SEED can be replayed
    ScheduleScope scope({emu::Order::Shuffle, 9});
    std::vector<int> first(64), again(64);
    int counter = 0;
    GB_LAUNCH(record_blocks, 64, 32, 0, nullptr, &counter, first.data());
    counter = 0;
    GB_LAUNCH(record_blocks, 64, 32, 0, nullptr, &counter, again.data());
    CHECK(first == again);
  }

  TEST_CASE("kernels without barriers take the fast path after their first launch") {
    std::vector<int> in(128), out(128, 0);
    std::iota(in.begin(), in.end(), 7);
    const emu::Stats s0 = emu::stats();
    GB_LAUNCH(plain_copy, 2, 64, 0, nullptr, in.data(), out.data());
    const emu::Stats s1 = emu::stats();
    GB_LAUNCH(plain_copy, 2, 64, 0, nullptr, in.data(), out.data());
    const emu::Stats s2 = emu::stats();
    CHECK(s1.launches - s0.launches == 1);
    CHECK(s1.fiber_launches - s0.fiber_launches == 1);
    CHECK(s2.fast_launches - s1.fast_launches == 1);
    CHECK(out == in);
    // a barrier the first launch skipped is an error on the fast path, then runs on fibers
    std::vector<int> flags(32);
    GB_LAUNCH(sync_if, 1, 32, 0, nullptr, 0, flags.data());
    CHECK_THROWS_WITH_AS(GB_LAUNCH(sync_if, 1, 32, 0, nullptr, 1, flags.data()),
                         Contains("synchronised on a later launch but not on its first: "
                                  "__syncthreads in block (0,0,0)"),
                         Error);
    GB_LAUNCH(sync_if, 1, 32, 0, nullptr, 1, flags.data());
    CHECK(flags[31] == 1);
  }

  TEST_CASE("an exception inside a kernel reaches the caller, and the next launch works") {
    CHECK_THROWS_WITH_AS(GB_LAUNCH(throws_in_kernel, 2, 64, 0, nullptr, 5),
                         Contains("kernel says no"), Error);
    GB_LAUNCH(throws_in_kernel, 2, 64, 0, nullptr, -1);
    std::vector<int> out(64);
    GB_LAUNCH(throws_without_sync, 1, 64, 0, nullptr, -1, out.data());
    CHECK_THROWS_WITH_AS(GB_LAUNCH(throws_without_sync, 1, 64, 0, nullptr, 3, out.data()),
                         Contains("plain kernel says no"), Error);  // on the fast path
    std::vector<float> in(256, 1.f), sum(1);
    GB_LAUNCH(block_sum, 1, 256, 256 * sizeof(float), nullptr, in.data(), sum.data());
    CHECK(sum[0] == 256.f);
    CHECK_THROWS_WITH_AS(emu::coords(), Contains("outside a kernel"), Error);
    CHECK_THROWS_WITH_AS(__syncthreads(), Contains("__syncthreads called outside a kernel"), Error);
  }

  TEST_CASE("launches from several OS threads at once") {
    auto work = [](int seed, bool* ok) {
      std::vector<float> in(8 * 128), out(8);
      for (size_t i = 0; i < in.size(); ++i) in[i] = float((i * 7 + size_t(seed)) % 13);
      for (int rep = 0; rep < 20; ++rep) {
        GB_LAUNCH(block_sum, 8, 128, 128 * sizeof(float), nullptr, in.data(), out.data());
        for (int b = 0; b < 8; ++b) {
          float expect = 0;
          for (int i = 0; i < 128; ++i) expect += in[size_t(b) * 128 + size_t(i)];
          if (out[b] != expect) *ok = false;
        }
      }
    };
    bool ok1 = true, ok2 = true;
    std::thread t1(work, 1, &ok1), t2(work, 2, &ok2);
    t1.join();
    t2.join();
    CHECK(ok1);
    CHECK(ok2);
  }

  TEST_CASE("the reference GEMM: every transpose, a strided batch, alpha and beta") {
    // A is m x k, B is k x n, column-major; C = A B for batch 3 with distinct data
    const int64_t m = 3, n = 2, k = 4, batch = 3;
    std::vector<double> a(m * k * batch), b(k * n * batch), at(m * k * batch), bt(k * n * batch);
    for (size_t i = 0; i < a.size(); ++i) a[i] = double(i % 7) - 2.5;
    for (size_t i = 0; i < b.size(); ++i) b[i] = double(i % 5) * 0.5 - 1;
    for (int64_t p = 0; p < batch; ++p)
      for (int64_t i = 0; i < m; ++i)
        for (int64_t l = 0; l < k; ++l) at[p * m * k + l + i * k] = a[p * m * k + i + l * m];
    for (int64_t p = 0; p < batch; ++p)
      for (int64_t l = 0; l < k; ++l)
        for (int64_t j = 0; j < n; ++j) bt[p * k * n + j + l * n] = b[p * k * n + l + j * k];
    for (cuda::Trans ta : {cuda::Trans::N, cuda::Trans::T})
      for (cuda::Trans tb : {cuda::Trans::N, cuda::Trans::T}) {
        cuda::GemmArgs g;
        g.trans_a = ta, g.trans_b = tb, g.m = m, g.n = n, g.k = k;
        g.lda = ta == cuda::Trans::N ? m : k;
        g.ldb = tb == cuda::Trans::N ? k : n;
        g.ldc = m;
        g.stride_a = m * k, g.stride_b = k * n, g.stride_c = m * n, g.batch = batch;
        std::vector<double> c(m * n * batch, NAN);  // beta = 0: C is never read
        cuda::gemm(g, 1.0, ta == cuda::Trans::N ? a.data() : at.data(),
                   tb == cuda::Trans::N ? b.data() : bt.data(), 0.0, c.data(), 0);
        for (int64_t p = 0; p < batch; ++p)
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              double s = 0;
              for (int64_t l = 0; l < k; ++l)
                s += a[p * m * k + i + l * m] * b[p * k * n + l + j * k];
              CHECK(c[p * m * n + i + j * m] == doctest::Approx(s));
            }
      }
    // by hand, in float: [1 2; 3 4] [5 6; 7 8] = [19 22; 43 50], column-major, with ldc 3
    const float a2[] = {1, 3, 2, 4}, b2[] = {5, 7, 6, 8};
    float c2[] = {1, 1, -9, 1, 1, -9};
    cuda::GemmArgs g;
    g.m = g.n = g.k = 2, g.lda = g.ldb = 2, g.ldc = 3;
    cuda::gemm(g, 2.f, a2, b2, 0.5f, c2, 0);
    CHECK(c2[0] == 38.5f);
    CHECK(c2[1] == 86.5f);
    CHECK(c2[2] == -9.f);  // padding between columns is not touched
    CHECK(c2[3] == 44.5f);
    CHECK(c2[4] == 100.5f);
    g.m = 0;
    cuda::gemm(g, 1.f, nullptr, nullptr, 0.f, nullptr, 0);  // nothing to do
  }

  TEST_CASE("gemm: each of cuBLAS's argument rules is checked") {
    cuda::GemmArgs g;
    g.m = 4, g.n = 3, g.k = 2, g.lda = 4, g.ldb = 2, g.ldc = 4;
    CHECK_NOTHROW(cuda::check_gemm_args(g, "gemm"));
    cuda::GemmArgs bad = g;
    bad.lda = 3;  // < m
    CHECK_THROWS_WITH_AS(cuda::check_gemm_args(bad, "gemm"),
                         Contains("gemm: lda must be >= max(1, m) = 4"), Error);
    CHECK_THROWS_WITH_AS(cuda::check_gemm_args(bad, "gemm"), Contains("lda=3"), Error);
    bad = g, bad.trans_a = cuda::Trans::T;  // A is stored k x m: lda >= k = 2 is enough
    CHECK_NOTHROW(cuda::check_gemm_args(bad, "gemm"));
    bad = g, bad.trans_b = cuda::Trans::T;  // ldb must now cover n = 3 rows
    CHECK_THROWS_WITH_AS(cuda::check_gemm_args(bad, "gemm"),
                         Contains("ldb must be >= max(1, n) = 3"), Error);
    bad = g, bad.ldc = 2;
    CHECK_THROWS_WITH_AS(cuda::check_gemm_args(bad, "gemm"), Contains("ldc must be >= max(1, m)"),
                         Error);
    bad = g, bad.k = -1;
    CHECK_THROWS_WITH_AS(cuda::check_gemm_args(bad, "gemm"), Contains("k = -1"), Error);
    bad = g, bad.n = int64_t(INT_MAX) + 1;
    CHECK_THROWS_WITH_AS(cuda::check_gemm_args(bad, "gemm"), Contains("INT_MAX"), Error);
    bad = g, bad.batch = -2;
    CHECK_THROWS_AS(cuda::check_gemm_args(bad, "gemm"), Error);
    bad = g, bad.stride_b = -1;
    CHECK_THROWS_WITH_AS(cuda::check_gemm_args(bad, "gemm"), Contains("strides must be >= 0"),
                         Error);
    bad = g, bad.batch = 2, bad.stride_c = 11;  // < ldc * n = 12
    CHECK_THROWS_WITH_AS(cuda::check_gemm_args(bad, "gemm"), Contains("overlap"), Error);
    bad.stride_c = 12;
    CHECK_NOTHROW(cuda::check_gemm_args(bad, "gemm"));
    bad = g, bad.lda = 0, bad.m = 0;  // empty, but ld >= 1 all the same
    CHECK_THROWS_WITH_AS(cuda::check_gemm_args(bad, "gemm"), Contains("lda must be >= max(1, m)"),
                         Error);
  }
}
#else
TEST_SUITE("emu") {}
#endif
