// The CUDA emulator itself: every intrinsic against its definition, the launch checks a GPU
// makes, the reference GEMM and its argument rules, and the planted bugs it exists to catch
// (a missing barrier, a divergent full-mask shuffle, a divergent barrier; the out-of-bounds
// write is tests/emu_oob.cpp, caught by ASan). Built only with GLASSBOX_CUDA_EMU.
#include <doctest/doctest.h>

#if defined(GLASSBOX_CUDA_EMU)
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "cuda/blas.h"
#include "cuda/launch.h"

using namespace glassbox;
namespace emu = glassbox::cuda::emu;
using doctest::Contains;

namespace {

// Runs f under each schedule, restoring the one that was set.
template <class F>
void for_each_schedule(F f) {
  const emu::Schedule saved = emu::schedule();
  for (emu::Schedule s :
       {emu::Schedule{emu::Order::Forward, 0}, emu::Schedule{emu::Order::Reverse, 0},
        emu::Schedule{emu::Order::Shuffle, 1}, emu::Schedule{emu::Order::Shuffle, 2}}) {
    emu::set_schedule(s);
    CAPTURE(emu::order_name(s.order));
    f(s);
  }
  emu::set_schedule(saved);
}

__global__ void shuffles(int width, int* index, int* up, int* down, int* xr) {
  const int t = threadIdx.x;
  index[t] = __shfl_sync(0xffffffffu, t * 10, 3, width);
  up[t] = __shfl_up_sync(0xffffffffu, t * 10, 2, width);
  down[t] = __shfl_down_sync(0xffffffffu, t * 10, 2, width);
  xr[t] = __shfl_xor_sync(0xffffffffu, t * 10, 1, width);
}

__global__ void votes(unsigned* ballot, int* any, int* all) {
  const int t = threadIdx.x;
  ballot[t] = __ballot_sync(0xffffffffu, t % 3 == 0);
  any[t] = __any_sync(0xffffffffu, t == 17);
  all[t] = __all_sync(0xffffffffu, t < 40);
}

// A block sum: shared memory, a barrier, and a tree.
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

// Planted bug 1: reads a neighbour's shared slot without waiting for it to be written.
__global__ void neighbour_sum(bool with_barrier, float* out) {
  GB_DYN_SHARED(float, s);
  const unsigned t = threadIdx.x;
  s[t] = float(t);
  if (with_barrier) __syncthreads();
  out[t] = s[t] + s[(t + 1) % blockDim.x];
}

// Planted bug 2: a full-mask shuffle that only the even lanes reach.
__global__ void divergent_shuffle(int* out) {
  const int t = threadIdx.x;
  if (t % 2 == 0) out[t] = __shfl_down_sync(0xffffffffu, t, 1);
}

// Planted bug 3: some threads leave before a barrier the others wait at.
__global__ void early_return(int n, int* out) {
  const int t = threadIdx.x;
  if (t >= n) return;
  __syncthreads();
  out[t] = t;
}

__global__ void coordinates(int* out) {
  const unsigned bx = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned tx = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  out[bx * (blockDim.x * blockDim.y * blockDim.z) + tx] = int(bx * 1000 + tx);
}

__global__ void count_atomically(int* counter, double* total) {
  atomicAdd(counter, 1);
  atomicAdd(total, 0.5);
}

__global__ void read_shared_first(float* out) {
  GB_DYN_SHARED(float, s);
  out[threadIdx.x] = s[threadIdx.x];
}

__global__ void static_shared(int* out) {
  __shared__ int slots[64];
  slots[threadIdx.x] = int(threadIdx.x) * 2;
  __syncthreads();
  out[threadIdx.x] = slots[63 - threadIdx.x];
}

__global__ void throws_in_kernel(int bad_thread) {
  if (int(threadIdx.x) == bad_thread) fail("kernel says no");
  __syncthreads();
}

__global__ void plain_copy(const int* in, int* out) { out[threadIdx.x] = in[threadIdx.x]; }

__global__ void warp_partial(int* out) {
  // a block of 40 threads: the second warp has 8 lanes; its shuffles name only those
  const int t = threadIdx.x;
  const unsigned mask = t < 32 ? 0xffffffffu : 0xffu;
  out[t] = __shfl_xor_sync(mask, t, 4);
}

__global__ void warp_partial_bad(int* out) {
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, int(threadIdx.x), 1);  // lanes 8..31 absent
}

}  // namespace

TEST_SUITE("emu") {
  TEST_CASE("shuffles follow CUDA's lane arithmetic for every width") {
    for (int width : {32, 16, 8}) {
      CAPTURE(width);
      std::vector<int> index(32), up(32), down(32), xr(32);
      GB_LAUNCH(shuffles, 1, 32, 0, nullptr, width, index.data(), up.data(), down.data(),
                xr.data());
      for (int t = 0; t < 32; ++t) {
        CAPTURE(t);
        const int seg = t / width * width;
        CHECK(index[t] == (seg + 3 % width) * 10);
        CHECK(up[t] == (t - 2 >= seg ? t - 2 : t) * 10);
        CHECK(down[t] == (t + 2 < seg + width ? t + 2 : t) * 10);
        CHECK(xr[t] == (t ^ 1) * 10);
      }
    }
  }

  TEST_CASE("votes, partial warps and atomics") {
    std::vector<unsigned> ballot(64);
    std::vector<int> any(64), all(64);
    GB_LAUNCH(votes, 1, 64, 0, nullptr, ballot.data(), any.data(), all.data());
    unsigned expect0 = 0, expect1 = 0;
    for (int l = 0; l < 32; ++l) {
      expect0 |= unsigned(l % 3 == 0) << l;
      expect1 |= unsigned((l + 32) % 3 == 0) << l;
    }
    CHECK(ballot[0] == expect0);
    CHECK(ballot[40] == expect1);
    CHECK(any[5] == 1);
    CHECK(any[40] == 0);  // lane 17 of warp 0 only
    CHECK(all[0] == 1);
    CHECK(all[33] == 0);  // warp 1 holds threads >= 40

    std::vector<int> out(40);
    GB_LAUNCH(warp_partial, 1, 40, 0, nullptr, out.data());
    for (int t = 0; t < 40; ++t) CHECK(out[t] == (t ^ 4));
    CHECK_THROWS_WITH_AS(GB_LAUNCH(warp_partial_bad, 1, 40, 0, nullptr, out.data()),
                         Contains("only 8 threads"), Error);

    int counter = 0;
    double total = 0;
    GB_LAUNCH(count_atomically, dim3(3, 2), dim3(16, 2), 0, nullptr, &counter, &total);
    CHECK(counter == 6 * 32);
    CHECK(total == doctest::Approx(6 * 32 * 0.5));
  }

  TEST_CASE("2-D and 3-D grids and blocks give every thread its coordinates") {
    const dim3 grid(3, 2, 2), block(4, 3, 2);
    std::vector<int> out(12 * 24, -1);
    GB_LAUNCH(coordinates, grid, block, 0, nullptr, out.data());
    for (int b = 0; b < 12; ++b)
      for (int t = 0; t < 24; ++t) CHECK(out[b * 24 + t] == b * 1000 + t);
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
        CHECK(out[b] == doctest::Approx(expect));
      }
    });
    std::vector<int> st(64);
    GB_LAUNCH(static_shared, 1, 64, 0, nullptr, st.data());
    for (int t = 0; t < 64; ++t) CHECK(st[t] == (63 - t) * 2);
  }

  TEST_CASE("dynamic shared memory starts as NaN, so a read before a write shows") {
    std::vector<float> out(32, 0.f);
    GB_LAUNCH(read_shared_first, 1, 32, 32 * sizeof(float), nullptr, out.data());
    for (float v : out) CHECK(std::isnan(v));
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
    CHECK_THROWS_WITH_AS(GB_LAUNCH(divergent_shuffle, 1, 32, 0, nullptr, out.data()),
                         Contains("did not arrive: it has exited"), Error);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(divergent_shuffle, 1, 32, 0, nullptr, out.data()),
                         Contains("__shfl_down_sync"), Error);
  }

  TEST_CASE("planted bug: a barrier that some threads never reach is an error") {
    std::vector<int> out(64);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(early_return, 1, 64, 0, nullptr, 40, out.data()),
                         Contains("divergent __syncthreads: 40 of 64"), Error);
    GB_LAUNCH(early_return, 1, 64, 0, nullptr, 64, out.data());  // all reach it: fine
    CHECK(out[63] == 63);
  }

  TEST_CASE("launches a GPU would refuse are refused") {
    std::vector<float> out(2048);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(read_shared_first, 1, 1025, 0, nullptr, out.data()),
                         Contains("1025 threads per block"), Error);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(read_shared_first, 0, 32, 0, nullptr, out.data()),
                         Contains("zero-size launch"), Error);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(read_shared_first, dim3(1, 70000), 32, 0, nullptr, out.data()),
                         Contains("grid dims"), Error);
    CHECK_THROWS_WITH_AS(GB_LAUNCH(block_sum, 1, 32, 49 << 10, nullptr, out.data(), out.data()),
                         Contains("48 KiB"), Error);
    GB_SET_MAX_DYN_SHARED(read_shared_first, 64 << 10);
    GB_LAUNCH(read_shared_first, 1, 32, 49 << 10, nullptr, out.data());  // opted in
    CHECK(std::isnan(out[0]));
  }

  TEST_CASE("kernels without barriers take the fast path after their first launch") {
    std::vector<int> in(64), out(64, 0);
    std::iota(in.begin(), in.end(), 7);
    const emu::Stats s0 = emu::stats();
    GB_LAUNCH(plain_copy, 1, 64, 0, nullptr, in.data(), out.data());
    GB_LAUNCH(plain_copy, 1, 64, 0, nullptr, in.data(), out.data());
    const emu::Stats s1 = emu::stats();
    CHECK(s1.launches - s0.launches == 2);
    CHECK(s1.fast_launches - s0.fast_launches >= 1);
    CHECK(out == in);
  }

  TEST_CASE("an exception inside a kernel reaches the caller, and the next launch works") {
    CHECK_THROWS_WITH_AS(GB_LAUNCH(throws_in_kernel, 2, 64, 0, nullptr, 5),
                         Contains("kernel says no"), Error);
    GB_LAUNCH(throws_in_kernel, 2, 64, 0, nullptr, -1);
    std::vector<float> in(256, 1.f), out(1);
    GB_LAUNCH(block_sum, 1, 256, 256 * sizeof(float), nullptr, in.data(), out.data());
    CHECK(out[0] == 256.f);
    CHECK_THROWS_WITH_AS(emu::coords(), Contains("outside a kernel"), Error);
  }

  TEST_CASE("the reference GEMM: every transpose, a strided batch, and cuBLAS's rules") {
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
    cuda::GemmArgs g;
    g.m = 4, g.n = 3, g.k = 2, g.lda = 4, g.ldb = 2, g.ldc = 4;
    CHECK_NOTHROW(cuda::check_gemm_args(g, "gemm"));
    cuda::GemmArgs bad = g;
    bad.lda = 3;  // < m
    CHECK_THROWS_WITH_AS(cuda::check_gemm_args(bad, "gemm"), Contains("lda must be >= max(1, m)"),
                         Error);
    bad = g, bad.trans_b = cuda::Trans::T;  // ldb must now cover n = 3 rows
    CHECK_THROWS_WITH_AS(cuda::check_gemm_args(bad, "gemm"), Contains("ldb must be >= max(1, n)"),
                         Error);
    bad = g, bad.ldc = 2;
    CHECK_THROWS_WITH_AS(cuda::check_gemm_args(bad, "gemm"), Contains("ldc"), Error);
    bad = g, bad.k = -1;
    CHECK_THROWS_AS(cuda::check_gemm_args(bad, "gemm"), Error);
    bad = g, bad.batch = 2, bad.stride_c = 4;
    CHECK_THROWS_WITH_AS(cuda::check_gemm_args(bad, "gemm"), Contains("overlap"), Error);
  }
}
#else
TEST_SUITE("emu") {}
#endif
