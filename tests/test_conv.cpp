// conv2d and conv_transpose2d: Direct against hand-computed values and brute-force formulas,
// every other algorithm against Direct (values and all three gradients) over a sampled grid of
// options, gradcheck, the adjoint identity, errors, Auto and the default algorithm, float32.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;
using F::ConvAlgo;
using F::ConvParams;

namespace {

const ConvAlgo kAlgos[] = {ConvAlgo::Direct, ConvAlgo::ShiftGemm, ConvAlgo::Im2col, ConvAlgo::Flat};

// Drawn in float64 and rounded, so a float32 and a float64 run of one seed see the same
// numbers (each dtype has its own stream: a float32 draw takes 32 random bits, not 64).
Tensor rnd(const Shape& s, uint64_t seed, DType dt = kFloat64) {
  Generator g(seed);
  return uniform(s, -1.0, 1.0, dtype(kFloat64), &g).to(dt);
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}

double max_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

double dot(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  double s = 0;
  for (size_t i = 0; i < va.size(); ++i) s += va[i] * vb[i];
  return s;
}

std::string describe(const ConvParams& p) {
  return str("stride ", p.stride[0], "x", p.stride[1], ", padding (", p.padding[0], ",",
             p.padding[1], ",", p.padding[2], ",", p.padding[3], "), dilation ", p.dilation[0], "x",
             p.dilation[1], ", groups ", p.groups, ", output_padding ", p.output_padding[0], "x",
             p.output_padding[1]);
}

// Restores the global default algorithm when a test ends, even a failing one.
struct DefaultAlgoGuard {
  ConvAlgo saved = F::default_conv_algo();
  ~DefaultAlgoGuard() { F::set_default_conv_algo(saved); }
};

// ---- brute force, straight from the definitions, on host vectors

// y[n,o,i,j] = b[o] + sum_{c,p,q} x[n, g*G + c, i*sh - top + p*dh, j*sw - left + q*dw] w[o,c,p,q]
Tensor brute_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const ConvParams& P) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = w.size(0), G = w.size(1), kh = w.size(2), kw = w.size(3);
  const int64_t Ho =
      (H + P.padding[0] + P.padding[1] - P.dilation[0] * (kh - 1) - 1) / P.stride[0] + 1;
  const int64_t Wo =
      (W + P.padding[2] + P.padding[3] - P.dilation[1] * (kw - 1) - 1) / P.stride[1] + 1;
  std::vector<double> X = x.to_vector<double>(), Wt = w.to_vector<double>(), y;
  std::vector<double> B = b.defined() ? b.to_vector<double>() : std::vector<double>(O, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          double s = B[o];
          const int64_t group = o / (O / P.groups);
          for (int64_t c = 0; c < G; ++c)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t r = i * P.stride[0] - P.padding[0] + p * P.dilation[0];
                const int64_t k = j * P.stride[1] - P.padding[2] + q * P.dilation[1];
                if (r < 0 || r >= H || k < 0 || k >= W) continue;
                s += X[((n * C + group * G + c) * H + r) * W + k] *
                     Wt[((o * G + c) * kh + p) * kw + q];
              }
          y.push_back(s);
        }
  return from_vector(y, {N, O, Ho, Wo});
}

// PyTorch's definition of the transposed convolution: every input pixel scatters a copy of
// its kernel, y[n, g*M + m, i*sh - top + p*dh, j*sw - left + q*dw] += x[n,c,i,j] w[c,m,p,q].
Tensor brute_conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b,
                              const ConvParams& P) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t M = w.size(1), kh = w.size(2), kw = w.size(3), O = M * P.groups;
  const int64_t Ho = (H - 1) * P.stride[0] - P.padding[0] - P.padding[1] +
                     P.dilation[0] * (kh - 1) + P.output_padding[0] + 1;
  const int64_t Wo = (W - 1) * P.stride[1] - P.padding[2] - P.padding[3] +
                     P.dilation[1] * (kw - 1) + P.output_padding[1] + 1;
  std::vector<double> X = x.to_vector<double>(), Wt = w.to_vector<double>();
  std::vector<double> y(static_cast<size_t>(N * O * Ho * Wo), 0.0);
  std::vector<double> B = b.defined() ? b.to_vector<double>() : std::vector<double>(O, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t k = 0; k < Ho * Wo; ++k) y[(n * O + o) * Ho * Wo + k] = B[o];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < W; ++j) {
          const int64_t group = c / (C / P.groups);
          for (int64_t m = 0; m < M; ++m)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t r = i * P.stride[0] - P.padding[0] + p * P.dilation[0];
                const int64_t k = j * P.stride[1] - P.padding[2] + q * P.dilation[1];
                if (r < 0 || r >= Ho || k < 0 || k >= Wo) continue;
                y[((n * O + group * M + m) * Ho + r) * Wo + k] +=
                    X[((n * C + c) * H + i) * W + j] * Wt[((c * M + m) * kh + p) * kw + q];
              }
        }
  return from_vector(y, {N, O, Ho, Wo});
}

// ---- one problem and its results under one algorithm

struct Case {
  Shape x, w;  // w in the op's own layout (conv_transpose2d: [C_in, C_out/groups, kH, kW])
  bool bias = true;
  ConvParams p;
  bool transposed = false;
  std::string name() const {
    return str(transposed ? "conv_transpose2d" : "conv2d", " x ", shape_str(x), " w ", shape_str(w),
               bias ? " +bias, " : ", ", describe(p));
  }
};

Tensor apply(const Case& c, const Tensor& x, const Tensor& w, const Tensor& b, ConvAlgo algo) {
  ConvParams p = c.p;
  p.algo = algo;
  return c.transposed ? F::conv_transpose2d(x, w, b, p) : F::conv2d(x, w, b, p);
}

struct Result {
  Tensor y, dx, dw, db;
};

// Forward, then backward of <y, r> for a fixed random r; dtype float64 unless asked.
Result run(const Case& c, ConvAlgo algo, DType dt = kFloat64) {
  Tensor x = rnd(c.x, 1, dt).requires_grad_();
  Tensor w = rnd(c.w, 2, dt).requires_grad_();
  const int64_t out_channels = c.transposed ? c.w[1] * c.p.groups : c.w[0];
  Tensor b = c.bias ? rnd({out_channels}, 3, dt).requires_grad_() : Tensor();
  Tensor y = apply(c, x, w, b, algo);
  y.backward(rnd(y.shape(), 4, dt));
  return {y.detach(), x.grad(), w.grad(), c.bias ? b.grad() : Tensor()};
}

bool valid(const Case& c) {
  for (int a = 0; a < 2; ++a) {
    const int64_t in = c.x[2 + a], k = c.w[2 + a];
    const int64_t pads = c.p.padding[2 * a] + c.p.padding[2 * a + 1];
    const int64_t extent = c.p.dilation[a] * (k - 1) + 1;
    if (!c.transposed && in + pads < extent) return false;
    if (c.transposed && (in - 1) * c.p.stride[a] - pads + extent + c.p.output_padding[a] <= 0)
      return false;
  }
  return true;
}

// A deterministic sample of the option grid: strides 1-3 per axis, padding 0-2 (symmetric or
// not), dilation 1-2, groups 1 / 2 / depthwise, odd image and kernel shapes, batch 1 or 7.
std::vector<Case> option_grid(bool transposed, int count) {
  Generator rng(transposed ? 202 : 101);
  auto pick = [&](int64_t k) { return static_cast<int64_t>(rng.next_u64() % k); };
  const int64_t sizes[][2] = {{7, 5}, {5, 7}, {6, 6}, {5, 4}};
  const int64_t kernels[][2] = {{3, 2}, {3, 3}, {2, 3}, {1, 1}, {1, 3}};
  std::vector<Case> cases;
  while (static_cast<int>(cases.size()) < count) {
    Case c;
    c.transposed = transposed;
    const int64_t* hw = sizes[pick(4)];
    const int64_t* k = kernels[pick(5)];
    const int64_t batch = pick(3) == 0 ? 7 : 1 + pick(2);
    c.p.set_stride(1 + pick(3), 1 + pick(3)).set_dilation(1 + pick(2), 1 + pick(2));
    switch (pick(4)) {
      case 0:
        break;
      case 1:
        c.p.set_padding(1);
        break;
      case 2:
        c.p.set_padding(2, 1);
        break;
      default:
        c.p.padding = {pick(3), pick(3), pick(3), pick(3)};
    }
    int64_t cin = 0, cout = 0;
    switch (pick(3)) {
      case 0:  // dense
        cin = 1 + 2 * pick(2);
        cout = 2 + pick(3);
        break;
      case 1:  // two groups
        c.p.set_groups(2);
        cin = 4;
        cout = 2 * (1 + pick(2));
        break;
      default:  // depthwise, channel multiplier 1 or 2
        cin = 3;
        c.p.set_groups(3);
        cout = 3 * (1 + pick(2));
    }
    c.bias = pick(3) != 0;
    if (transposed) {
      // output_padding below max(stride, dilation), per axis
      c.p.set_output_padding(pick(std::max(c.p.stride[0], c.p.dilation[0])),
                             pick(std::max(c.p.stride[1], c.p.dilation[1])));
      // the transposed op maps cin channels (its input) to cout
      c.x = {batch, cin, hw[0], hw[1]};
      c.w = {cin, cout / c.p.groups, k[0], k[1]};
    } else {
      c.x = {batch, cin, hw[0], hw[1]};
      c.w = {cout, cin / c.p.groups, k[0], k[1]};
    }
    if (valid(c)) cases.push_back(c);
  }
  // cases the sample must not miss
  Case a;
  a.transposed = transposed;
  a.x = {7, 2, 7, 5};
  a.w = transposed ? Shape{2, 3, 3, 2} : Shape{3, 2, 3, 2};
  a.p.set_stride(3, 2).set_dilation(2, 1);
  a.p.padding = {2, 0, 1, 2};
  if (transposed) a.p.set_output_padding(1, 1);
  cases.push_back(a);
  Case d;  // depthwise, output_padding >= stride (allowed because < dilation)
  d.transposed = transposed;
  d.x = {2, 4, 5, 6};
  d.w = transposed ? Shape{4, 1, 3, 2} : Shape{4, 1, 3, 2};
  d.p.set_groups(4).set_dilation(2, 3).set_padding(1);
  if (transposed) d.p.set_output_padding(1, 2);
  cases.push_back(d);
  return cases;
}

void check_same(const Result& got, const Result& want, double tol) {
  CHECK(max_diff(got.y, want.y) <= tol * (1 + max_abs(want.y)));
  CHECK(max_diff(got.dx, want.dx) <= tol * (1 + max_abs(want.dx)));
  CHECK(max_diff(got.dw, want.dw) <= tol * (1 + max_abs(want.dw)));
  if (want.db.defined()) {
    REQUIRE(got.db.defined());
    CHECK(max_diff(got.db, want.db) <= tol * (1 + max_abs(want.db)));
  }
}

}  // namespace

TEST_SUITE("conv") {
  TEST_CASE("Direct: the emboss kernel on small images, by hand") {
    Tensor k = from_vector<double>({-2, -1, 0, -1, 1, 1, 0, 1, 2}, {1, 1, 3, 3});
    // a blob in a frame of zeros; each output is four products worked out by hand
    Tensor blob =
        from_vector<double>({0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0}, {1, 1, 4, 4});
    ConvParams direct = ConvParams().set_algo(ConvAlgo::Direct);
    CHECK(F::conv2d(blob, k, Tensor(), direct).to_vector<double>() ==
          std::vector<double>{14, 5, 6, -3});
    // a ramp x[r][c] = 5r + c + 1: sum(k) = 1 and sum(k[p][q] * (5p + q)) = 42, so
    // y[i][j] = 5i + j + 1 + 42
    Tensor ramp = arange(1, 21, 1, dtype(kFloat64)).view({1, 1, 4, 5});
    CHECK(F::conv2d(ramp, k, Tensor(), direct).to_vector<double>() ==
          std::vector<double>{43, 44, 45, 48, 49, 50});
    // with bias 10 and padding 1: output (1,1) is the unpadded (0,0), and the corner window
    // holds only the 1, under k[2][2] = 2
    Tensor y = F::conv2d(blob, k, from_vector<double>({10}), ConvParams(direct).set_padding(1));
    CHECK(y.shape() == Shape{1, 1, 4, 4});
    CHECK(y.to_vector<double>()[5] == 10 + 14);
    CHECK(y.to_vector<double>()[0] == 10 + 1 * 2);
    // transposed: stride 2 with a 2x2 kernel of ones copies each pixel into a 2x2 block
    Tensor small = from_vector<double>({1, 2, 3, 4}, {1, 1, 2, 2});
    Tensor t = F::conv_transpose2d(small, ones({1, 1, 2, 2}, dtype(kFloat64)), Tensor(),
                                   ConvParams(direct).set_stride(2));
    CHECK(t.to_vector<double>() ==
          std::vector<double>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  }

  TEST_CASE("every algorithm matches the brute-force formulas") {
    for (bool transposed : {false, true})
      for (const Case& c : option_grid(transposed, 24)) {
        CAPTURE(c.name());
        Tensor x = rnd(c.x, 1), w = rnd(c.w, 2);
        const int64_t out_channels = transposed ? c.w[1] * c.p.groups : c.w[0];
        Tensor b = c.bias ? rnd({out_channels}, 3) : Tensor();
        Tensor want =
            transposed ? brute_conv_transpose2d(x, w, b, c.p) : brute_conv2d(x, w, b, c.p);
        for (ConvAlgo algo : kAlgos) {
          CAPTURE(F::conv_algo_name(algo));
          Tensor got = apply(c, x, w, b, algo);
          REQUIRE(got.shape() == want.shape());
          CHECK(max_diff(got, want) <= 1e-12 * (1 + max_abs(want)));
        }
      }
  }

  TEST_CASE("every algorithm matches Direct: values, input, weight and bias gradients") {
    for (bool transposed : {false, true})
      for (const Case& c : option_grid(transposed, 40)) {
        CAPTURE(c.name());
        const Result want = run(c, ConvAlgo::Direct);
        for (ConvAlgo algo : {ConvAlgo::ShiftGemm, ConvAlgo::Im2col, ConvAlgo::Flat}) {
          CAPTURE(F::conv_algo_name(algo));
          check_same(run(c, algo), want, 1e-10);
        }
      }
  }

  TEST_CASE("Flat matches Direct beyond one register block, on wide rows and strided grids") {
    // Flat holds 8 channels in registers and runs vectors along flat planes: more than
    // 8 channels (two blocks and a remainder), planes wider than a vector with tails, planes
    // read in place (no padding) and padded copies, and stride > 1 on the stride-1 grid.
    std::vector<Case> cases(8);
    cases[0].x = {2, 11, 7, 37};  // in place, 2 input and 3 output blocks
    cases[0].w = {19, 11, 3, 2};
    cases[1].x = {1, 10, 9, 21};  // grouped, padded, dilated
    cases[1].w = {18, 5, 2, 3};
    cases[1].p.set_groups(2).set_padding(1, 2).set_dilation(2, 1);
    cases[2].x = {3, 9, 11, 13};  // strided both ways, asymmetric padding
    cases[2].w = {10, 9, 3, 3};
    cases[2].p.set_stride(2, 3);
    cases[2].p.padding = {0, 2, 1, 0};
    cases[3].x = {1, 1, 3, 70};  // one channel, a single long row block
    cases[3].w = {1, 1, 1, 5};
    cases[4].x = {2, 9, 5, 6};  // transposed: forward is Flat's input gradient
    cases[4].w = {9, 3, 3, 3};
    cases[4].transposed = true;
    cases[4].p.set_stride(2).set_padding(1);
    cases[4].p.output_padding = {1, 0};
    cases[5].x = {2, 17, 6, 6};  // no bias, 1x1 kernel
    cases[5].w = {9, 17, 1, 1};
    cases[5].bias = false;
    cases[6].x = {2, 3, 5, 83};  // wide rows: computed row by row straight into y, bias first
    cases[6].w = {10, 3, 3, 3};
    cases[6].p.set_padding(1);
    cases[7].x = {1, 2, 4, 130};  // wide, in place, dilated
    cases[7].w = {3, 2, 2, 3};
    cases[7].p.set_dilation(1, 3);
    for (const Case& c : cases) {
      CAPTURE(c.name());
      check_same(run(c, ConvAlgo::Flat), run(c, ConvAlgo::Direct), 1e-10);
      const Result f32 = run(c, ConvAlgo::Flat, kFloat32), f64 = run(c, ConvAlgo::Direct);
      CHECK(max_diff(f32.y.to(kFloat64), f64.y) <= 1e-4 * (1 + max_abs(f64.y)));
      CHECK(max_diff(f32.dw.to(kFloat64), f64.dw) <= 1e-4 * (1 + max_abs(f64.dw)));
    }
  }

  TEST_CASE("the bias gradient is the plain sum of dy over batch and pixels, per channel") {
    // one kernel serves every algorithm (16-lane running sums per plane, planes in double)
    for (DType dt : {kFloat64, kFloat32})
      for (const Shape& ys : {Shape{7, 3, 5, 7}, Shape{2, 5, 17, 19}, Shape{64, 2, 1, 1}}) {
        CAPTURE(shape_str(ys));
        Case c;
        c.x = {ys[0], 2, ys[2] + 2, ys[3] + 2};
        c.w = {ys[1], 2, 3, 3};
        const Result r = run(c, ConvAlgo::Auto, dt);
        const std::vector<double> dy = rnd(ys, 4, dt).to_vector<double>();
        std::vector<double> want(static_cast<size_t>(ys[1]), 0.0);
        const int64_t plane = ys[2] * ys[3];
        for (size_t i = 0; i < dy.size(); ++i) want[i / plane % ys[1]] += dy[i];
        const std::vector<double> got = r.db.to_vector<double>();
        REQUIRE(got.size() == want.size());
        for (size_t i = 0; i < want.size(); ++i)
          CHECK(got[i] == doctest::Approx(want[i]).epsilon(dt == kFloat32 ? 1e-5 : 1e-12));
      }
  }

  TEST_CASE("gradcheck: conv2d and conv_transpose2d w.r.t. input, weight and bias") {
    std::vector<Case> cases(4);
    cases[0].x = {2, 2, 5, 4};  // grouped, strided, asymmetric padding, dilated
    cases[0].w = {2, 1, 3, 2};
    cases[0].p.set_groups(2).set_stride(2, 1).set_dilation(1, 2);
    cases[0].p.padding = {1, 0, 0, 1};
    cases[1].x = {1, 3, 4, 5};  // dense, "same" padding
    cases[1].w = {2, 3, 3, 3};
    cases[1].p.set_padding(1);
    cases[2].transposed = true;  // upsampling with output_padding
    cases[2].x = {2, 2, 3, 3};
    cases[2].w = {2, 2, 3, 2};
    cases[2].p.set_stride(2).set_output_padding(1);
    cases[2].p.padding = {1, 0, 1, 0};
    cases[3].transposed = true;  // depthwise, output_padding >= stride but < dilation
    cases[3].x = {1, 2, 3, 2};
    cases[3].w = {2, 1, 2, 2};
    cases[3].p.set_groups(2).set_stride(1, 2).set_dilation(2, 1).set_output_padding(1, 1);
    for (const Case& c : cases)
      for (ConvAlgo algo : kAlgos) {
        CAPTURE(c.name());
        CAPTURE(F::conv_algo_name(algo));
        const int64_t out_channels = c.transposed ? c.w[1] * c.p.groups : c.w[0];
        std::vector<Tensor> in = {rnd(c.x, 5).requires_grad_(), rnd(c.w, 6).requires_grad_(),
                                  rnd({out_channels}, 7).requires_grad_()};
        GradcheckResult r = gradcheck(
            [&](const std::vector<Tensor>& v) { return apply(c, v[0], v[1], v[2], algo); }, in);
        INFO(r.message);
        CHECK(r.ok);
      }
  }

  TEST_CASE("conv_transpose2d is the adjoint of conv2d: <conv(x), y> == <x, conv_t(y)>") {
    struct Problem {
      Shape x, w;
      ConvParams p;
    };
    std::vector<Problem> problems = {
        {{2, 4, 7, 6},
         {6, 2, 3, 2},
         ConvParams().set_groups(2).set_stride(2, 3).set_dilation(1, 2)},
        {{1, 3, 9, 8}, {3, 1, 3, 3}, ConvParams().set_groups(3).set_padding(1).set_stride(2)},
        {{3, 2, 5, 5}, {4, 2, 2, 2}, ConvParams().set_dilation(2).set_padding(2, 0)},
    };
    problems[0].p.padding = {1, 0, 2, 1};
    for (const Problem& pr : problems)
      for (ConvAlgo algo : kAlgos) {
        CAPTURE(describe(pr.p));
        CAPTURE(F::conv_algo_name(algo));
        ConvParams p = pr.p;
        p.algo = algo;
        Tensor x = rnd(pr.x, 8), w = rnd(pr.w, 9);
        Tensor cx = F::conv2d(x, w, Tensor(), p);
        Tensor y = rnd(cx.shape(), 10);
        // the rows/columns conv2d's floor division dropped come back as output_padding
        for (int a = 0; a < 2; ++a) {
          const int64_t extent = p.dilation[a] * (pr.w[2 + a] - 1) + 1;
          p.output_padding[a] =
              (pr.x[2 + a] + p.padding[2 * a] + p.padding[2 * a + 1] - extent) % p.stride[a];
        }
        Tensor ty = F::conv_transpose2d(y, w, Tensor(), p);
        REQUIRE(ty.shape() == x.shape());
        CHECK(dot(cx, y) == doctest::Approx(dot(x, ty)).epsilon(1e-12));
      }
  }

  TEST_CASE("errors name the op and the shapes") {
    Tensor x = zeros({8, 3, 28, 28}), w = zeros({4, 1, 3, 3});
    CHECK_THROWS_WITH_AS(
        F::conv2d(x, w),
        "conv2d: input has 3 channels, weight expects 1 (input [8,3,28,28], weight [4,1,3,3])",
        Error);
    CHECK_THROWS_WITH_AS(F::conv2d(zeros({3, 28, 28}), w),
                         Contains("conv2d: input must be 4-D [N, C_in, H, W], got 3-D (input "
                                  "[3,28,28], weight [4,1,3,3])"),
                         Error);
    CHECK_THROWS_WITH_AS(F::conv2d(x, zeros({4, 3, 3})), Contains("conv2d: weight must be 4-D"),
                         Error);
    CHECK_THROWS_WITH_AS(
        F::conv2d(zeros({1, 6, 8, 8}), zeros({4, 3, 3, 3}), Tensor(), ConvParams().set_groups(4)),
        Contains("input has 6 channels, which is not divisible by groups=4"), Error);
    CHECK_THROWS_WITH_AS(
        F::conv2d(zeros({1, 4, 8, 8}), zeros({3, 2, 3, 3}), Tensor(), ConvParams().set_groups(2)),
        Contains("weight has 3 output channels, which is not divisible by "
                 "groups=2"),
        Error);
    CHECK_THROWS_WITH_AS(
        F::conv2d(zeros({1, 4, 8, 8}), zeros({4, 1, 3, 3}), Tensor(), ConvParams().set_groups(2)),
        Contains("input has 4 channels, weight expects 2 (1 per group x "
                 "groups=2)"),
        Error);
    CHECK_THROWS_WITH_AS(F::conv2d(zeros({1, 1, 4, 4}), zeros({1, 1, 5, 5})),
                         Contains("conv2d: kernel 5x5 (5x5 with dilation) is larger than the "
                                  "padded input 4x4 (input [1,1,4,4], weight [1,1,5,5])"),
                         Error);
    CHECK_THROWS_WITH_AS(
        F::conv2d(zeros({1, 1, 4, 4}), zeros({1, 1, 3, 3}), Tensor(), ConvParams().set_dilation(2)),
        Contains("kernel 3x3 (5x5 with dilation) is larger"), Error);
    CHECK_THROWS_WITH_AS(F::conv2d(x, zeros({4, 3, 3, 3}), Tensor(), ConvParams().set_stride(0)),
                         Contains("conv2d: stride must be positive, got 0x0"), Error);
    CHECK_THROWS_WITH_AS(
        F::conv2d(x, zeros({4, 3, 3, 3}), Tensor(), ConvParams().set_dilation(1, -1)),
        Contains("conv2d: dilation must be positive, got 1x-1"), Error);
    CHECK_THROWS_WITH_AS(F::conv2d(x, zeros({4, 3, 3, 3}), Tensor(), ConvParams().set_padding(-1)),
                         Contains("conv2d: padding must be non-negative"), Error);
    CHECK_THROWS_WITH_AS(F::conv2d(x, zeros({4, 3, 3, 3}), Tensor(), ConvParams().set_groups(0)),
                         Contains("groups must be positive"), Error);
    CHECK_THROWS_WITH_AS(F::conv2d(x, zeros({4, 3, 3, 3}, dtype(kFloat64))),
                         Contains("conv2d: weight is float64 but input is float32 (input "
                                  "[8,3,28,28], weight [4,3,3,3])"),
                         Error);
    CHECK_THROWS_WITH_AS(F::conv2d(x, zeros({4, 3, 3, 3}), zeros({4}, dtype(kFloat64))),
                         Contains("conv2d: bias is float64 but input is float32"), Error);
    CHECK_THROWS_WITH_AS(F::conv2d(x, zeros({4, 3, 3, 3}), zeros({5})),
                         Contains("conv2d: bias has shape [5], expected [4]"), Error);
    CHECK_THROWS_WITH_AS(F::conv2d(x.to(kInt64), zeros({4, 3, 3, 3}).to(kInt64)),
                         Contains("conv2d: expected a floating-point input, got int64"), Error);
    CHECK_THROWS_WITH_AS(
        F::conv2d(x, zeros({4, 3, 3, 3}), Tensor(), ConvParams().set_output_padding(1)),
        Contains("output_padding is only for conv_transpose2d"), Error);
    // conv_transpose2d: weight is [C_in, C_out/groups, kH, kW]
    CHECK_THROWS_WITH_AS(F::conv_transpose2d(x, zeros({2, 4, 3, 3})),
                         "conv_transpose2d: input has 3 channels, weight expects 2 (weight is "
                         "[C_in, C_out/groups, kH, kW]) (input [8,3,28,28], weight [2,4,3,3])",
                         Error);
    CHECK_THROWS_WITH_AS(F::conv_transpose2d(x, zeros({3, 4, 3, 3}), Tensor(),
                                             ConvParams().set_stride(2).set_output_padding(2)),
                         Contains("conv_transpose2d: output_padding must be smaller than either "
                                  "stride or dilation, got output_padding 2x2, stride 2x2"),
                         Error);
    CHECK_THROWS_WITH_AS(F::conv_transpose2d(zeros({1, 1, 2, 2}), zeros({1, 1, 1, 1}), Tensor(),
                                             ConvParams().set_padding(1)),
                         Contains("conv_transpose2d: the output would be 0x0"), Error);
    CHECK_THROWS_WITH_AS(F::conv_transpose2d(x, zeros({3, 4, 3, 3}), zeros({3})),
                         Contains("conv_transpose2d: bias has shape [3], expected [4]"), Error);
    // conv_algo_for checks the same things, from shapes alone
    CHECK_THROWS_WITH_AS(F::conv_algo_for({8, 3, 28, 28}, {4, 1, 3, 3}, ConvParams()),
                         Contains("conv2d: input has 3 channels, weight expects 1"), Error);
    CHECK_THROWS_WITH_AS(F::parse_conv_algo("fft"),
                         Contains("unknown convolution algorithm \"fft\""), Error);
  }

  TEST_CASE("algorithm names, Auto and the default algorithm") {
    DefaultAlgoGuard guard;
    for (ConvAlgo a :
         {ConvAlgo::Auto, ConvAlgo::Direct, ConvAlgo::ShiftGemm, ConvAlgo::Im2col, ConvAlgo::Flat})
      CHECK(F::parse_conv_algo(F::conv_algo_name(a)) == a);
    CHECK(F::parse_conv_algo("ShiftGemm") == ConvAlgo::ShiftGemm);
    CHECK(std::string(F::conv_algo_name(ConvAlgo::Im2col)) == "im2col");

    F::set_default_conv_algo(ConvAlgo::Auto);
    CHECK(F::default_conv_algo() == ConvAlgo::Auto);
    // Auto resolves to a concrete algorithm for a range of shapes and computes what it names
    std::vector<Case> cases(4);
    cases[0].x = {1, 3, 40, 60};  // few channels, a large image
    cases[0].w = {3, 3, 3, 3};
    cases[1].x = {4, 16, 10, 10};  // many channels
    cases[1].w = {32, 16, 3, 3};
    cases[1].p.set_padding(1);
    cases[2].x = {2, 8, 9, 9};  // depthwise, strided
    cases[2].w = {8, 1, 3, 3};
    cases[2].p.set_groups(8).set_stride(2);
    cases[3].x = {2, 6, 5, 5};  // transposed
    cases[3].w = {6, 4, 3, 3};
    cases[3].transposed = true;
    cases[3].p.set_stride(2);
    for (const Case& c : cases) {
      CAPTURE(c.name());
      ConvAlgo chosen = F::conv_algo_for(c.x, c.w, c.p, c.transposed);
      CHECK(chosen != ConvAlgo::Auto);
      CHECK(F::conv_algo_for(c.x, c.w, c.p, c.transposed) == chosen);  // stable
      const Result auto_result = run(c, ConvAlgo::Auto);
      check_same(auto_result, run(c, chosen), 0.0);  // it ran exactly that algorithm
      check_same(auto_result, run(c, ConvAlgo::Direct), 1e-10);
    }

    // the rule: Flat for few channels at stride 1 (the notebook's layers), a GEMM otherwise
    CHECK(F::conv_algo_for({1000, 1, 28, 28}, {3, 1, 3, 3}, ConvParams()) == ConvAlgo::Flat);
    CHECK(F::conv_algo_for({1000, 6, 10, 10}, {6, 6, 3, 3}, ConvParams()) == ConvAlgo::Flat);
    CHECK(F::conv_algo_for({8, 64, 14, 14}, {64, 64, 3, 3}, ConvParams()) != ConvAlgo::Flat);
    CHECK(F::conv_algo_for({8, 3, 14, 14}, {3, 3, 3, 3}, ConvParams().set_stride(2)) !=
          ConvAlgo::Flat);

    // the default replaces Auto; a layer's own choice beats the default
    for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::ShiftGemm, ConvAlgo::Im2col, ConvAlgo::Flat}) {
      F::set_default_conv_algo(a);
      CHECK(F::default_conv_algo() == a);
      CHECK(F::conv_algo_for({1, 3, 8, 8}, {2, 3, 3, 3}, ConvParams()) == a);
      CHECK(F::conv_algo_for({1, 3, 8, 8}, {3, 2, 3, 3}, ConvParams(), true) == a);
      CHECK(F::conv_algo_for({1, 3, 8, 8}, {2, 3, 3, 3}, ConvParams().set_algo(ConvAlgo::Im2col)) ==
            ConvAlgo::Im2col);
      check_same(run(cases[1], ConvAlgo::Auto), run(cases[1], a), 0.0);
    }
  }

  TEST_CASE("float32 agrees with float64 within 1e-4 relative, for every algorithm") {
    std::vector<Case> cases = {option_grid(false, 3)[0], option_grid(false, 3)[2],
                               option_grid(true, 3)[1]};
    Case big;  // enough terms per output for float32 rounding to show
    big.x = {2, 8, 12, 10};
    big.w = {6, 4, 3, 3};
    big.p.set_groups(2).set_padding(1);
    cases.push_back(big);
    for (const Case& c : cases)
      for (ConvAlgo algo : kAlgos) {
        CAPTURE(c.name());
        CAPTURE(F::conv_algo_name(algo));
        Result r32 = run(c, algo, kFloat32), r64 = run(c, algo, kFloat64);
        CHECK(r32.y.dtype() == kFloat32);
        CHECK(r32.dw.dtype() == kFloat32);
        CHECK(max_diff(r32.y, r64.y) <= 1e-4 * max_abs(r64.y));
        CHECK(max_diff(r32.dx, r64.dx) <= 1e-4 * max_abs(r64.dx));
        CHECK(max_diff(r32.dw, r64.dw) <= 1e-4 * max_abs(r64.dw));
        if (c.bias) CHECK(max_diff(r32.db, r64.db) <= 1e-4 * max_abs(r64.db));
      }
  }

  TEST_CASE("non-contiguous operands, partial requires_grad, empty batch") {
    // x and w as permuted / transposed views of other buffers
    Tensor xb = rnd({2, 6, 5, 3}, 11), wb = rnd({4, 3, 2, 3}, 12), bb = rnd({8}, 13);
    Tensor x = xb.permute({0, 3, 1, 2});  // [2, 3, 6, 5]
    Tensor w = wb.transpose(2, 3);        // [4, 3, 3, 2]
    Tensor b = bb.slice(0, 0, 8, 2);      // [4], stride 2
    REQUIRE_FALSE(x.is_contiguous());
    REQUIRE_FALSE(w.is_contiguous());
    ConvParams p = ConvParams().set_padding(1).set_stride(2, 1);
    for (ConvAlgo algo : kAlgos) {
      CAPTURE(F::conv_algo_name(algo));
      p.algo = algo;
      Tensor want = brute_conv2d(x, w, b, p);
      CHECK(max_diff(F::conv2d(x, w, b, p), want) <= 1e-12);
      Tensor yt = rnd({2, 4, 5, 3}, 14).permute({0, 1, 3, 2});  // [2, 4, 3, 5]
      Tensor wt = rnd({4, 3, 3, 2}, 15).transpose(0, 1).contiguous().transpose(0, 1);
      CHECK(max_diff(F::conv_transpose2d(yt, wt, Tensor(), p),
                     brute_conv_transpose2d(yt.contiguous(), wt.contiguous(), Tensor(), p)) <=
            1e-12);
      // gradients reach leaves through the views
      Tensor xl = xb.clone().requires_grad_();
      Tensor y = F::conv2d(xl.permute({0, 3, 1, 2}), w, b, p);
      y.backward(ones_like(y));
      Tensor xc = x.contiguous().requires_grad_();
      Tensor yc = F::conv2d(xc, w.contiguous(), b.contiguous(), p);
      yc.backward(ones_like(yc));
      CHECK(max_diff(xl.grad().permute({0, 3, 1, 2}), xc.grad()) <= 1e-12);
    }
    // only the weight requires grad: no input gradient is computed or needed
    Tensor w2 = rnd({2, 3, 3, 3}, 16).requires_grad_();
    Tensor x2 = rnd({1, 3, 5, 5}, 17);
    F::conv2d(x2, w2).sum().backward();
    CHECK(w2.grad().defined());
    CHECK_FALSE(x2.grad().defined());
    // an empty batch gives an empty output of the right shape
    for (ConvAlgo algo : kAlgos) {
      Tensor e = F::conv2d(zeros({0, 3, 5, 5}), zeros({2, 3, 3, 3}), zeros({2}),
                           ConvParams().set_algo(algo));
      CHECK(e.shape() == Shape{0, 2, 3, 3});
    }
  }
}
