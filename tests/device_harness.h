#pragma once
// The harness of the device-generic suites (test_device*.cpp), in the spirit of ggml's
// test-backend-ops and PyTorch's device-generic tests: every op case is written once, run on the
// device under test (cuda:0: a real GPU, or the emulated one of GLASSBOX_CUDA_EMU builds) and on
// the CPU backend with the same inputs, and the two are compared forward and backward (the gradient
// of every input). The CPU backend is the reference; its own correctness is test_tensor's and
// test_gradcheck's business. Without a device every test case prints one SKIPPED line and passes.
//
// Shapes are chosen to hit the edges of a GPU kernel rather than to be large: sizes 1, 31,
// 33, 255, 257 (a block of 32 or 256 threads, plus and minus one), 0-d scalars, empty
// tensors, non-contiguous operands (t, permute, step-2 slices, expand, select) and
// broadcasting on every dim. One or two cases per family reach ~100k elements to cross the
// multi-block and multi-pass paths. The emulator runs every GPU thread as a fiber, so
// anything bigger would only make the suite slow.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "glassbox.h"

// 1: the "device" under test is the CPU, so the suite compares the CPU with itself. It must
// then pass; that checks the harness without a working GPU backend.
#ifndef GB_TEST_DEVICE_IS_CPU
#define GB_TEST_DEVICE_IS_CPU 0
#endif

using namespace glassbox;
using doctest::Contains;

namespace device_test {

#if GB_TEST_DEVICE_IS_CPU
const Device kDev = kCPU;
#else
const Device kDev = kCUDA;
#endif

using Inputs = const std::vector<Tensor>&;
using Fn = std::function<Tensor(Inputs)>;

// Called once at the top of every test case.
inline bool have_cuda(const char* test) {
  if (GB_TEST_DEVICE_IS_CPU || cuda::is_available()) return true;
  std::cout << "[device] SKIPPED " << test << ": no CUDA device\n";
  return false;
}

// A copy of `t` on the device under test that shares nothing with `t` (in CPU-vs-CPU mode
// .to(kCPU) would return `t` itself, and both runs would collect gradients in one leaf).
inline Tensor on_device(const Tensor& t) {
  Tensor d = t.to(kDev);
  return d.is_same(t) ? t.clone() : d;
}

// --------------------------------------------------------------------------- comparison
// What is compared how closely. The GPU sums in another order than the CPU, so reductions
// and matmul get a looser float32 tolerance than one-result-per-element ops; views, copies,
// joins and integer results must match bit for bit.
enum class Kind { Exact, Pointwise, Reduce, Skip };

struct Tol {
  double rtol, atol;
};
inline Tol tol_for(Kind k, DType dt) {
  if (k == Kind::Exact || !is_floating(dt)) return {0.0, 0.0};
  const double r = dt == kFloat64 ? 1e-10 : (k == Kind::Pointwise ? 1e-5 : 1e-4);
  return {r, r};
}

struct Diff {
  bool ok = true;
  std::string msg;
};

// |device - cpu| <= atol * max|cpu| + rtol * |cpu| per element, NaN exactly where the CPU
// has NaN. atol is scaled by the tensor's magnitude so that a sum that cancels to nearly zero
// is held to the precision of its terms, not to an impossible relative one.
inline Diff compare(const Tensor& got, const Tensor& want, Tol tol) {
  if (!got.defined() || !want.defined())
    return {false, str("defined: device ", got.defined(), ", cpu ", want.defined())};
  if (got.shape() != want.shape())
    return {false, str("shape: device ", got.shape_str(), ", cpu ", want.shape_str())};
  if (got.dtype() != want.dtype())
    return {false,
            str("dtype: device ", dtype_name(got.dtype()), ", cpu ", dtype_name(want.dtype()))};
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  double scale = 0.0;
  for (double v : w)
    if (std::isfinite(v)) scale = std::max(scale, std::abs(v));
  Diff d;
  double worst = 0.0;
  size_t worst_at = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    if (std::isnan(g[i]) || std::isnan(w[i])) {
      if (std::isnan(g[i]) != std::isnan(w[i]) && d.ok) {
        d.ok = false;
        worst_at = i, worst = std::numeric_limits<double>::infinity();
      }
      continue;
    }
    if (g[i] == w[i]) continue;  // also equal infinities
    const double err = std::abs(g[i] - w[i]);
    if (!(err <= tol.atol * scale + tol.rtol * std::abs(w[i]))) d.ok = false;
    if (err > worst) worst = err, worst_at = i;
  }
  if (!d.ok)
    d.msg = str("worst |device - cpu| = ", worst, " at flat index ", worst_at, " (device ",
                g[worst_at], ", cpu ", w[worst_at], "; rtol ", tol.rtol, ", atol ", tol.atol,
                " x max|cpu| ", scale, ")");
  return d;
}

// --------------------------------------------------------------------------- inputs
enum class Init {
  Normal,        // N(0, 1)
  Positive,      // [0.5, 1.5): log, sqrt, pow bases
  AwayFromZero,  // +-[0.5, 1.5): divisors
  Ints,          // small integers, in any dtype: ties for max/argmax, equal pairs for eq
  NaNs,          // N(0, 1) with a NaN in some rows (forward only)
  Index,         // int64 in [0, limit), whatever the case's dtype
};

struct In {
  Shape shape;
  Init init = Init::Normal;
  int64_t limit = 0;  // Index range
};
inline In idx(Shape s, int64_t limit) { return {std::move(s), Init::Index, limit}; }

inline uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Drawn in float64 on the host and then converted, so float32 and float64 runs of a case see
// the same numbers (up to rounding).
inline Tensor make_input(const In& in, DType dt, uint64_t seed) {
  manual_seed(seed);
  const TensorOptions f64 = dtype(kFloat64);
  Tensor t;
  switch (in.init) {
    case Init::Normal:
      t = randn(in.shape, f64);
      break;
    case Init::Positive:
      t = rand(in.shape, f64) + 0.5;
      break;
    case Init::AwayFromZero: {
      Tensor sign = (rand(in.shape, f64) > 0.5).to(kFloat64) * 2.0 - 1.0;
      t = sign * (rand(in.shape, f64) + 0.5);
      break;
    }
    case Init::Ints:
      t = (randn(in.shape, f64) * 3.0).to(kInt64).to(kFloat64);
      break;
    case Init::NaNs: {
      t = randn(in.shape, f64);
      double* p = t.data_ptr<double>();
      for (int64_t i = 0; i < t.numel(); ++i)
        if (i % 11 == 5) p[i] = std::numeric_limits<double>::quiet_NaN();
      break;
    }
    case Init::Index:
      return (rand(in.shape, f64) * double(in.limit)).to(kInt64);
  }
  // an integer case gets integer values whatever the init asked for
  if (!is_floating(dt) && in.init != Init::Ints) t = (t * 3.0).to(kInt64).to(kFloat64);
  return t.to(dt);
}

// --------------------------------------------------------------------------- the harness
const std::vector<DType> kFloats = {kFloat32, kFloat64};  // the dtypes a case runs in
const std::vector<DType> kFloatsAndInt = {kFloat32, kFloat64, kInt64};

struct Case {
  std::string name;
  std::vector<DType> dtypes;
  std::vector<In> inputs;
  Fn fn;
  Kind fwd = Kind::Pointwise;
  Kind bwd = Kind::Reduce;  // gradients of broadcast inputs are sums
};

inline std::string shapes_of(const Case& c) {
  std::string s;
  for (const In& in : c.inputs) s += (s.empty() ? "" : ", ") + shape_str(in.shape);
  return s;
}

// Runs one case in one dtype on both devices; returns false when it failed.
inline bool run_case(const Case& c, DType dt) {
  const std::string what = str("case '", c.name, "' ", dtype_name(dt), " inputs ", shapes_of(c));
  INFO(what);
  const uint64_t seed = fnv1a(c.name);
  std::vector<Tensor> host, dev;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    Tensor h = make_input(c.inputs[i], dt, seed + i);
    Tensor d = on_device(h);
    if (is_floating(h.dtype())) {
      h.requires_grad_();
      d.requires_grad_();
    }
    host.push_back(h);
    dev.push_back(d);
  }
  bool ok = true;
  auto check = [&](const Diff& d, const char* stage) {
    CHECK_MESSAGE(d.ok, std::string(stage), ": ", d.msg);
    ok = ok && d.ok;
  };
  try {
    const Tensor want = c.fn(host);
    const Tensor got = c.fn(dev);
    CHECK(got.device() == kDev);
    ok = ok && got.device() == kDev;
    check(compare(got, want, tol_for(c.fwd, dt)), "forward");
    if (c.bwd == Kind::Skip || !want.requires_grad()) return ok;

    manual_seed(seed + 99);
    const Tensor g = randn(want.shape(), dtype(kFloat64)).to(want.dtype());
    want.backward(g);
    got.backward(on_device(g));
    for (size_t i = 0; i < host.size(); ++i) {
      if (!host[i].requires_grad()) continue;
      INFO("gradient of input ", i);
      const Tensor gw = host[i].grad(), gd = dev[i].grad();
      // an input the op does not differentiate (a loss's class weights) gets no gradient:
      // the device agrees when it gives none either (gradcheck tests the CPU's choice)
      if (!gw.defined() && !gd.defined()) continue;
      if (gd.defined()) {
        CHECK(gd.device() == kDev);
        ok = ok && gd.device() == kDev;
      }
      check(compare(gd, gw, tol_for(c.bwd, dt)), "backward");
    }
  } catch (const std::exception& e) {
    FAIL_CHECK("threw: ", std::string(e.what()));
    ok = false;
  }
  return ok;
}

// Class-index targets with every third (flat) element replaced by ignore_index -100.
inline Tensor with_ignored(const Tensor& target) {
  NoGradGuard no_grad;
  Tensor t = target.contiguous().clone();
  t.view({-1}).slice(0, 0, t.numel(), 3).fill_(-100.0);
  return t;
}

// The error text of f(), or "" when it did not throw.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline void run_table(const char* family, const std::vector<Case>& cases) {
  int runs = 0, failed = 0;
  for (const Case& c : cases)
    for (DType dt : c.dtypes) {
      ++runs;
      if (!run_case(c, dt)) ++failed;
    }
  std::cout << "[device] " << family << ": " << cases.size() << " cases, " << runs
            << " case x dtype runs on " << kDev.str() << ", " << failed << " failed\n";
}

}  // namespace device_test

using namespace device_test;
