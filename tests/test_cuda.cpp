// The CUDA side so far: discovery, device memory and transfers. On a machine without a GPU
// (or a CPU-only build) these check the errors instead and say that the GPU part skipped.
#include <doctest/doctest.h>

#include <iostream>

#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;

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
    // ops without a CUDA kernel yet name themselves instead of silently running on the host
    Tensor d = ones({4}).to(kCUDA);
    CHECK_THROWS_WITH_AS(d + d, Contains("not implemented on cuda:0"), Error);
    CHECK_THROWS_WITH_AS(ones({4}) + d, Contains("different devices"), Error);
    std::cout << "[cuda] round trip passed on " << cuda::device_name(0) << "\n";
  }
}
