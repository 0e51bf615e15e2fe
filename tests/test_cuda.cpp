// The CUDA runtime: discovery, device memory and transfers (the ops are in test_device.cpp).
// On a machine without a GPU (or a CPU-only build) these check the errors instead and say
// that the GPU part skipped; on the emulator (GLASSBOX_CUDA_EMU) they run for real.
#include <doctest/doctest.h>

#include <iostream>

#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;
namespace F = glassbox::nn::functional;

TEST_SUITE("cuda") {
  TEST_CASE("without a GPU, asking for one is a clear error") {
    if (cuda::is_available()) {
      std::cout << "[cuda] device present (" << cuda::device_name(0) << "): no-GPU errors not "
                << "exercised\n";
      return;
    }
    std::cout << "[cuda] SKIPPED GPU checks: no CUDA device present (built with CUDA: "
              << (cuda::built_with_cuda() ? "yes" : "no") << ")\n";
    CHECK(cuda::device_count() == 0);
    CHECK_THROWS_AS(ones({2}).to(kCUDA), Error);
    CHECK_THROWS_AS(zeros({2}, TensorOptions().set_device(kCUDA)), Error);
  }

  TEST_CASE("tensors round-trip through GPU memory bit for bit") {
    if (!cuda::is_available()) {
      std::cout << "[cuda] SKIPPED round trip: no CUDA device present\n";
      return;
    }
    manual_seed(3);
    for (DType dt : {kFloat32, kFloat64, kInt64, kUInt8, kBool}) {
      CAPTURE(dtype_name(dt));
      Tensor host = (randn({37, 5}) * 100.0).to(dt);
      const int64_t live_before = memory_stats(kCUDA).live_bytes;
      Tensor dev = host.to(kCUDA);
      CHECK(dev.device() == kCUDA);
      CHECK(memory_stats(kCUDA).live_bytes == live_before + int64_t(host.nbytes()));
      Tensor dev2 = dev.clone();  // device-to-device copy
      Tensor back = dev2.cpu();
      CHECK(back.device().is_cpu());
      CHECK(equal(back, host));
      dev = Tensor();
      dev2 = Tensor();
      CHECK(memory_stats(kCUDA).live_bytes == live_before);
    }
    // a non-contiguous view is made contiguous on the way
    Tensor m = arange(0, 12, 1).reshape({3, 4});
    CHECK(equal(m.t().to(kCUDA).cpu(), m.t().contiguous()));
    // a layer runs where its operands are (the device suites compare every layer with the CPU)
    Tensor img = ones({1, 1, 5, 5}).to(kCUDA), w = ones({1, 1, 3, 3}).to(kCUDA);
    Tensor y = F::conv2d(img, w);
    CHECK(y.device() == kCUDA);
    CHECK(equal(y.cpu(), full({1, 1, 3, 3}, 9.0)));
    Tensor d = ones({4}).to(kCUDA);
    CHECK_THROWS_WITH_AS(ones({4}) + d, Contains("different devices (cpu and cuda:0"), Error);
    std::cout << "[cuda] round trip passed on " << cuda::device_name(0) << "\n";
  }

  TEST_CASE("the device allocator caches blocks and reports its memory") {
    if (!cuda::is_available()) {
      std::cout << "[cuda] SKIPPED allocator: no CUDA device present\n";
      return;
    }
    cuda::synchronize(0);
    empty_cache(kCUDA);
    const MemoryStats start = memory_stats(kCUDA);
    CHECK(start.cached_bytes == 0);
    {
      Tensor a = zeros({1000}, TensorOptions().set_device(kCUDA));
      CHECK(memory_stats(kCUDA).live_bytes == start.live_bytes + 4000);
    }
    const MemoryStats freed = memory_stats(kCUDA);
    CHECK(freed.live_bytes == start.live_bytes);
    CHECK(freed.cached_bytes >= 4000);  // kept for reuse, in a size class
    CHECK(freed.peak_bytes >= start.live_bytes + 4000);
    {
      // a nearby size reuses the cached block: no new device allocation
      Tensor b = zeros({990}, TensorOptions().set_device(kCUDA));
      CHECK(memory_stats(kCUDA).system_allocations == freed.system_allocations);
    }
    empty_cache(kCUDA);
    CHECK(memory_stats(kCUDA).cached_bytes == 0);
  }

  TEST_CASE("out of device memory: the cache is emptied and retried, then a clear error") {
    if (!cuda::is_available()) {
      std::cout << "[cuda] SKIPPED out-of-memory: no CUDA device present\n";
      return;
    }
    cuda::synchronize(0);
    empty_cache(kCUDA);
    const int64_t free_bytes = static_cast<int64_t>(cuda::device_free_memory(0));
    const TensorOptions on_gpu = TensorOptions().set_dtype(kUInt8).set_device(kCUDA);
    CHECK_THROWS_WITH_AS(empty({free_bytes + (int64_t{1} << 30)}, on_gpu),
                         Contains("out of memory on cuda:0"), Error);
    if (!cuda::is_emulated() || free_bytes > (int64_t{1} << 30)) {
      std::cout << "[cuda] SKIPPED cache retry: needs the emulator with GLASSBOX_EMU_MEMORY "
                   "<= 1 GiB (ctest sets it)\n";
      return;
    }
    // a cached block holds 60% of the device; a request for 60% in another size class only
    // fits once the allocator hands the cached block back
    { Tensor big = empty({free_bytes * 6 / 10}, on_gpu); }
    CHECK(memory_stats(kCUDA).cached_bytes >= free_bytes * 6 / 10);
    Tensor other = empty({free_bytes * 6 / 10 + (int64_t{1} << 20)}, on_gpu);
    CHECK(memory_stats(kCUDA).cached_bytes == 0);
  }
}
