// The counter-based generator on both devices (core/philox.h): Philox4x32-10 against the
// published known answers, then rand / randn / uniform and dropout masks drawn on the device
// under test against the CPU's for the same seed, bit for bit. Normals are held to bit
// equality too: their log, sin and cos are philox.h's own, built from correctly rounded IEEE
// operations and explicit fma, not libm's or CUDA's (whose last bits differ by a few ulp), so
// any difference here is a real divergence between the two builds of philox.h (a contracted
// multiply-add, a fast-math flag), not rounding noise. Finally the generator's offset must move
// on identically whichever device draws, and the draws must look random (moments of 1e5).
#include <cstring>

#include "core/kernels.h"
#include "device_harness.h"
#if defined(GLASSBOX_CUDA_EMU)
#include "cuda/emu/emu.h"
#endif

namespace {

// The raw bits of a tensor, from whichever device.
std::vector<unsigned char> bits_of(const Tensor& t) {
  const Tensor h = t.cpu().contiguous();
  std::vector<unsigned char> b(h.nbytes());
  if (!b.empty()) std::memcpy(b.data(), h.raw_data(), b.size());
  return b;
}

// Same shape, dtype and bits; on failure, the first element that differs.
Diff bit_equal(const Tensor& got, const Tensor& want) {
  Diff d = compare(got, want, {0.0, 0.0});
  if (d.ok && bits_of(got) != bits_of(want)) d = {false, "equal values, different bits (a -0?)"};
  return d;
}

uint64_t blocks(int64_t n, DType dt) {
  return philox::blocks_for(n, 16 / static_cast<int>(dtype_size(dt)));
}

using Draw = std::function<Tensor(const Shape&, TensorOptions, Generator*)>;
struct Named {
  const char* name;
  Draw draw;
};
const std::vector<Named> kDraws = {
    {"rand", [](const Shape& s, TensorOptions o, Generator* g) { return rand(s, o, g); }},
    {"randn", [](const Shape& s, TensorOptions o, Generator* g) { return randn(s, o, g); }},
    {"uniform(-2, 3)",
     [](const Shape& s, TensorOptions o, Generator* g) { return uniform(s, -2.0, 3.0, o, g); }},
};

}  // namespace

TEST_SUITE("device_random") {
  // Host only: the block function itself, so it runs (and must pass) without a device too.
  TEST_CASE("Philox4x32-10 matches Random123's known-answer vectors") {
    struct Kat {
      philox::Block counter;
      uint32_t k0, k1;
      philox::Block want;
    };
    // tests/kat_vectors of Random123 (D. E. Shaw Research), the three "philox4x32 10" lines,
    // and one line of its examples/kat_vectors with a counter and key of a single bit
    const Kat kats[] = {
        {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
        {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
         0xffffffff,
         0xffffffff,
         {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
        {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
         0xa4093822,
         0x299f31d0,
         {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
        {{{1, 0, 0, 0}}, 1, 0, {{0xac08141b, 0xdfc5ccbe, 0x79c07a47, 0xa7f66093}}},
    };
    for (const Kat& k : kats) {
      const philox::Block got = philox::philox4x32_10(k.counter, k.k0, k.k1);
      for (int i = 0; i < 4; ++i) CHECK(got.v[i] == k.want.v[i]);
    }
    // the layout: seed 0, block 0 is the first vector; the host draws read it as documented
    Generator g(0);
    CHECK(g.next_u64() == 0xe169c58d6627e8d5ull);
    CHECK(g.offset() == 1);
    g.seed_(0);
    CHECK(g.uniform_float() == float(0x6627e8d5u >> 8) * 0x1.0p-24f);
    g.seed_(0);
    CHECK(g.uniform() == double(0xe169c58d6627e8d5ull >> 11) * 0x1.0p-53);
    // a host draw is element 0 of a one-element tensor from the same state
    for (uint64_t seed : {1ull, 77ull, 0xdeadbeefcafef00dull}) {
      Generator a(seed), b(seed);
      CHECK(a.uniform() == rand({1}, dtype(kFloat64), &b).item());
      CHECK(a.uniform_float() == rand({1}, {}, &b).item<float>());
      CHECK(a.normal() == randn({1}, dtype(kFloat64), &b).item());
      CHECK(a.offset() == 3);
      CHECK(b.offset() == 3);
    }
  }

  TEST_CASE("seed 0 gives the known-answer bits as rand on the device too") {
    if (!have_cuda("philox on the device")) return;
    Generator g(0);
    const std::vector<float> got =
        rand({4}, TensorOptions().set_device(kDev), &g).cpu().to_vector<float>();
    const uint32_t lanes[] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
    for (int i = 0; i < 4; ++i) CHECK(got[i] == float(lanes[i] >> 8) * 0x1.0p-24f);
  }

  TEST_CASE("rand, randn and uniform on the device equal the CPU's, bit for bit") {
    if (!have_cuda("random factories")) return;
    int runs = 0;
    for (const Named& d : kDraws)
      for (DType dt : {kFloat32, kFloat64})
        for (int64_t n : {1, 3, 4, 5, 257, 100000}) {
          INFO(d.name, " ", dtype_name(dt), " n = ", n);
          Generator gh(1234 + n), gd(1234 + n);
          const Tensor h = d.draw({n}, dtype(dt), &gh);
          const Tensor dev = d.draw({n}, TensorOptions().set_dtype(dt).set_device(kDev), &gd);
          CHECK(dev.device() == kDev);
          const Diff r = bit_equal(dev, h);
          CHECK_MESSAGE(r.ok, r.msg);
          CHECK(gh.offset() == blocks(n, dt));
          CHECK(gd.offset() == gh.offset());
          ++runs;
        }
    // a shaped draw is the flat draw, reshaped; requires_grad is honoured
    Generator a(9), b(9);
    const Tensor shaped =
        randn({33, 31}, TensorOptions().set_device(kDev).set_requires_grad(true), &a);
    CHECK(shaped.requires_grad());
    const Diff r = bit_equal(shaped.detach().reshape({33 * 31}), randn({33 * 31}, {}, &b));
    CHECK_MESSAGE(r.ok, r.msg);
    std::cout << "[device] random factories: " << runs << " draws compared on " << kDev.str()
              << "\n";
  }

  TEST_CASE("random tensors and dropout masks are made on the device: no host draw") {
    if (!have_cuda("drawn on the device") || kDev.is_cpu()) return;
    const int64_t waits = cuda::host_waits();
#if defined(GLASSBOX_CUDA_EMU)
    const cuda::emu::Stats before = cuda::emu::stats();
#endif
    const Tensor x = randn({100000}, TensorOptions().set_device(kDev));
    const Tensor y = nn::functional::dropout(x, 0.5, true);
    CHECK(cuda::host_waits() == waits);  // nothing drawn on the host and uploaded
#if defined(GLASSBOX_CUDA_EMU)
    CHECK(cuda::emu::stats().launches - before.launches == 3);  // randn, the mask, the product
#endif
    CHECK(y.device() == kDev);
  }

  TEST_CASE("the offset moves on identically whichever device draws") {
    if (!have_cuda("generator offset")) return;
    // the same sequence of draws twice, the devices swapped: every draw and the final state agree
    auto run = [](Device first, Device second) {
      manual_seed(5);
      std::vector<Tensor> out;
      out.push_back(rand({257}, TensorOptions().set_device(first)));
      out.push_back(randn({5}, TensorOptions().set_device(second)));
      out.push_back(uniform({3}, -1.0, 1.0, TensorOptions().set_dtype(kFloat64).set_device(first)));
      out.push_back(
          nn::functional::dropout(ones({7, 3}, TensorOptions().set_device(second)), 0.5, true));
      out.push_back(randn({1}, TensorOptions().set_dtype(kFloat64).set_device(first)));
      return std::make_pair(out, default_generator().state());
    };
    const auto [a, state_a] = run(kDev, kCPU);
    const auto [b, state_b] = run(kCPU, kDev);
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      INFO("draw ", i);
      const Diff r = bit_equal(a[i], b[i]);
      CHECK_MESSAGE(r.ok, r.msg);
    }
    CHECK(state_a.seed == 5);
    CHECK(state_b.seed == 5);
    // 257 float32: 65 blocks; 5: 2; 3 float64: 2; the 21-element mask: 6; 1 float64: 1
    CHECK(state_a.offset == 65 + 2 + 2 + 6 + 1);
    CHECK(state_b.offset == state_a.offset);
    // and a restored state continues either device's stream
    Generator g(5);
    g.set_state({5, 65});
    const Diff r = bit_equal(randn({5}, TensorOptions().set_device(kDev), &g), b[1]);
    CHECK_MESSAGE(r.ok, r.msg);
  }

  TEST_CASE("dropout masks are the same on both devices, forward and backward") {
    if (!have_cuda("dropout")) return;
    for (DType dt : {kFloat32, kFloat64})
      for (double p : {0.0, 0.3, 0.5, 1.0})
        for (bool transposed : {false, true}) {
          INFO(dtype_name(dt), " p = ", p, transposed ? " input [31,33].t()" : " input [33,31]");
          const Tensor base = make_input(In{transposed ? Shape{31, 33} : Shape{33, 31}}, dt, 17);
          Tensor xh = base.clone().requires_grad_(), xd = on_device(base).requires_grad_();
          Generator gh(4242), gd(4242);
          const Tensor yh = nn::functional::dropout(transposed ? xh.t() : xh, p, true, &gh);
          const Tensor yd = nn::functional::dropout(transposed ? xd.t() : xd, p, true, &gd);
          CHECK(yd.device() == kDev);
          Diff r = bit_equal(yd, yh);
          CHECK_MESSAGE(r.ok, "forward: ", r.msg);
          CHECK(gd.offset() == gh.offset());
          const Tensor g = make_input(In{yh.shape()}, dt, 18);
          yh.backward(g);
          yd.backward(on_device(g));
          r = bit_equal(xd.grad(), xh.grad());
          CHECK_MESSAGE(r.ok, "backward: ", r.msg);
          // the mask itself: 0 or 1 / (1 - p), about 1 - p of it kept
          if (p > 0.0 && p < 1.0) {
            const Tensor mask = nn::functional::dropout(
                ones({20000}, TensorOptions().set_dtype(dt).set_device(kDev)), p, true, &gd);
            const std::vector<double> m = mask.cpu().to_vector<double>();
            const double scale = dt == kFloat32 ? double(float(1.0 / (1.0 - p))) : 1.0 / (1.0 - p);
            int64_t kept = 0, other = 0;
            for (double v : m) {
              kept += v == scale;
              other += v != 0.0 && v != scale;
            }
            CHECK(other == 0);
            // binomial: 20000 draws, sd = sqrt(n p (1 - p)) < 71; allow 6 sd
            CHECK(std::abs(double(kept) - 20000 * (1.0 - p)) < 6 * 71);
          }
        }
  }

  TEST_CASE("1e5 draws have the right moments on both devices") {
    if (!have_cuda("random statistics")) return;
    struct Expect {
      const char* name;
      double mean, var, lo, hi;  // every value in [lo, hi)
    };
    const Expect expect[] = {{"rand", 0.5, 1.0 / 12, 0.0, 1.0},
                             {"randn", 0.0, 1.0, -8.6, 8.6},
                             {"uniform(-2, 3)", 0.5, 25.0 / 12, -2.0, 3.0}};
    const int64_t n = 100000;
    for (Device dev : {kCPU, kDev})
      for (DType dt : {kFloat32, kFloat64})
        for (size_t k = 0; k < kDraws.size(); ++k) {
          const Expect& e = expect[k];
          INFO(e.name, " ", dtype_name(dt), " on ", dev.str());
          Generator g(31 + k);
          const std::vector<double> v =
              kDraws[k]
                  .draw({n}, TensorOptions().set_dtype(dt).set_device(dev), &g)
                  .cpu()
                  .to_vector<double>();
          double sum = 0, lo = v[0], hi = v[0], lag1 = 0;
          for (int64_t i = 0; i < n; ++i) {
            sum += v[i];
            lo = std::min(lo, v[i]);
            hi = std::max(hi, v[i]);
          }
          const double mean = sum / n;
          double ss = 0;
          for (int64_t i = 0; i < n; ++i) {
            ss += (v[i] - mean) * (v[i] - mean);
            if (i > 0) lag1 += (v[i] - mean) * (v[i - 1] - mean);
          }
          const double var = ss / (n - 1), sd = std::sqrt(e.var);
          // standard errors: mean sd/sqrt(n); variance (uniform) 0.9 var/sqrt(n), (normal)
          // sqrt(2) var/sqrt(n); correlation 1/sqrt(n). Bounds at about 6 of them.
          CHECK(std::abs(mean - e.mean) < 6 * sd / std::sqrt(double(n)));
          CHECK(std::abs(var - e.var) < 6 * 1.5 * e.var / std::sqrt(double(n)));
          CHECK(std::abs(lag1 / ss) < 6 / std::sqrt(double(n)));  // neighbours (shared blocks)
          CHECK(lo >= e.lo);
          CHECK(hi < e.hi);
          if (k == 1) CHECK((lo < -4.0 && hi > 4.0));  // the tails are there
        }
  }

  TEST_CASE("random_fill refuses what it cannot fill") {
    if (!have_cuda("random_fill errors")) return;
    const Tensor t = empty({4, 6}, TensorOptions().set_device(kDev)).t();
    CHECK_THROWS_WITH_AS(kernels::random_fill(t, RandomDist::uniform(0, 1), 1, 0),
                         Contains("random_fill: the output [6,4] must be contiguous"), Error);
    Generator g(3);
    CHECK_THROWS_WITH_AS(random_fill_(t, RandomDist::normal(0, 1), &g),
                         Contains("must be contiguous"), Error);
    CHECK(g.offset() == 0);  // a refused fill leaves the stream where it was
    CHECK_THROWS_WITH_AS(rand({3}, TensorOptions().set_dtype(kInt64).set_device(kDev)),
                         Contains("rand: needs a floating dtype, got int64"), Error);
  }
}
