// The device-generic suite for the layer kernels (core/kernels_nn.h: pooling, softmax,
// NLL / cross-entropy, batch norm) and the modules built on them: every case runs through
// the public API on the device under test and on the CPU with the same inputs, forward and
// backward (the harness: device_harness.h). Shapes are small and odd on purpose: 7x9 planes,
// windows that overhang the padding, ceil mode, 1 and 5 channels, softmax rows of 1, 31, 33
// and 257 (either side of a warp and a block), every softmax dim of a 3-D tensor, and
// strided inputs.
#include "core/kernels_nn.h"
#include "device_harness.h"

namespace {

namespace nnf = nn::functional;
using nnf::Reduction;

// A non-contiguous view of a contiguous leaf of shape `leaf` with the logical shape the op
// expects: the leaf's last dim moved to the front.
Tensor last_dim_first(const Tensor& x) {
  std::vector<int64_t> order = {x.dim() - 1};
  for (int64_t d = 0; d + 1 < x.dim(); ++d) order.push_back(d);
  return x.permute(order);
}

// --------------------------------------------------------------------------- pooling
std::vector<Case> pooling_cases() {
  std::vector<Case> c;
  using A = std::array<int64_t, 2>;
  struct Max {
    std::string name;
    Shape shape;
    A k, s, p, d;
    bool ceil;
    Init init;
  };
  const std::vector<Max> maxes = {
      {"2x2 [2,3,8,8]", {2, 3, 8, 8}, {2, 2}, {0, 0}, {0, 0}, {1, 1}, false, Init::Normal},
      {"k3 s2 p1 [2,5,7,9]", {2, 5, 7, 9}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, false, Init::Normal},
      {"k3 s2 p1 ceil [1,5,7,9]", {1, 5, 7, 9}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true, Init::Normal},
      {"k2 s2 ceil [2,1,7,9]", {2, 1, 7, 9}, {2, 2}, {2, 2}, {0, 0}, {1, 1}, true, Init::Normal},
      {"k3 dilation 2 p1 [1,2,9,7]",
       {1, 2, 9, 7},
       {3, 3},
       {1, 1},
       {1, 1},
       {2, 2},
       false,
       Init::Normal},
      {"k(2,3) s(1,2) p(1,1) d(2,1) [3,7,9]",
       {3, 7, 9},
       {2, 3},
       {1, 2},
       {1, 1},
       {2, 1},
       false,
       Init::Normal},
      // small integers: ties everywhere, so the first-maximum rule decides every gradient, and
      // stride 1 makes up to nine windows share one argmax
      {"ties k3 s1 p1 [2,3,7,9]", {2, 3, 7, 9}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, false, Init::Ints},
      {"ties 2x2 [1,2,8,8]", {1, 2, 8, 8}, {2, 2}, {0, 0}, {0, 0}, {1, 1}, false, Init::Ints},
      {"multi-block 2x2 [4,8,24,24]",
       {4, 8, 24, 24},
       {2, 2},
       {0, 0},
       {0, 0},
       {1, 1},
       false,
       Init::Normal},
  };
  for (const Max& m : maxes)
    c.push_back({"max_pool2d " + m.name,
                 kFloats,
                 {{m.shape, m.init}},
                 [m](Inputs x) { return nnf::max_pool2d(x[0], m.k, m.s, m.p, m.d, m.ceil); },
                 Kind::Exact});
  c.push_back({"max_pool2d NaN [2,3,7,9]",
               kFloats,
               {{{2, 3, 7, 9}, Init::NaNs}},
               [](Inputs x) {
                 return nnf::max_pool2d(x[0], {3, 3}, {2, 2}, {1, 1});
               },
               Kind::Exact,
               Kind::Skip});
  c.push_back({"max_pool2d strided input [2,7,9,3].permute",
               kFloats,
               {{{3, 2, 7, 9}}},
               [](Inputs x) {
                 return nnf::max_pool2d(x[0].permute({1, 0, 2, 3}), {3, 3}, {2, 2}, {1, 1});
               },
               Kind::Exact});

  struct Avg {
    std::string name;
    Shape shape;
    A k, s, p;
    bool ceil, include_pad;
  };
  const std::vector<Avg> avgs = {
      {"2x2 [2,3,8,8]", {2, 3, 8, 8}, {2, 2}, {0, 0}, {0, 0}, false, true},
      {"k3 s2 p1 include pad [2,5,7,9]", {2, 5, 7, 9}, {3, 3}, {2, 2}, {1, 1}, false, true},
      {"k3 s2 p1 exclude pad [2,5,7,9]", {2, 5, 7, 9}, {3, 3}, {2, 2}, {1, 1}, false, false},
      {"k3 s2 p1 ceil exclude pad [1,5,7,9]", {1, 5, 7, 9}, {3, 3}, {2, 2}, {1, 1}, true, false},
      {"k2 s2 ceil include pad [2,1,7,9]", {2, 1, 7, 9}, {2, 2}, {2, 2}, {0, 0}, true, true},
      {"k(2,3) s(2,1) p(1,0) [3,7,9]", {3, 7, 9}, {2, 3}, {2, 1}, {1, 0}, false, true},
      {"k3 s1 p1 overlapping [1,2,7,9]", {1, 2, 7, 9}, {3, 3}, {1, 1}, {1, 1}, false, false},
      {"multi-block 3x3 s2 [4,8,24,24]", {4, 8, 24, 24}, {3, 3}, {2, 2}, {1, 1}, false, true},
  };
  // The backward gathers in the CPU's order, so it must match bit for bit.
  for (const Avg& a : avgs)
    c.push_back(
        {"avg_pool2d " + a.name,
         kFloats,
         {{a.shape}},
         [a](Inputs x) { return nnf::avg_pool2d(x[0], a.k, a.s, a.p, a.ceil, a.include_pad); },
         Kind::Pointwise,
         Kind::Exact});
  c.push_back({"avg_pool2d strided input",
               kFloats,
               {{{9, 2, 3, 7}}},
               [](Inputs x) {
                 return nnf::avg_pool2d(last_dim_first(x[0]), {3, 3}, {2, 2}, {1, 1});
               },
               Kind::Pointwise,
               Kind::Exact});
  return c;
}

// --------------------------------------------------------------------------- softmax
std::vector<Case> softmax_cases() {
  std::vector<Case> c;
  struct Layout {
    std::string name;
    Shape leaf;
    int64_t dim;
    std::function<Tensor(const Tensor&)> view;
  };
  auto same = [](const Tensor& x) { return x; };
  const std::vector<Layout> layouts = {
      {"rows of 1 [5,1] dim -1", {5, 1}, -1, same},
      {"rows of 5 [3,5] dim 1", {3, 5}, 1, same},
      {"rows of 31 [4,31] dim 1", {4, 31}, 1, same},
      {"rows of 33 [3,33] dim -1", {3, 33}, -1, same},
      {"rows of 257 [2,257] dim 1", {2, 257}, 1, same},
      {"[257] dim 0", {257}, 0, same},
      {"0-d", {}, 0, same},
      {"[3,5,7] dim 0", {3, 5, 7}, 0, same},
      {"[3,5,7] dim 1", {3, 5, 7}, 1, same},
      {"[3,5,33] dim 2", {3, 5, 33}, 2, same},
      {"[33,7].t() dim 1", {33, 7}, 1, [](const Tensor& x) { return x.t(); }},
      {"[33,7].t() dim 0", {33, 7}, 0, [](const Tensor& x) { return x.t(); }},
      {"[5,66].slice(1,0,66,2) dim 1",
       {5, 66},
       1,
       [](const Tensor& x) { return x.slice(1, 0, 66, 2); }},
      {"many rows [300,40] dim 1", {300, 40}, 1, same},
      {"long column [600,3] dim 0", {600, 3}, 0, same},
  };
  for (bool log : {false, true})
    for (const Layout& l : layouts) {
      const std::string name = std::string(log ? "log_softmax " : "softmax ") + l.name;
      c.push_back({name,
                   kFloats,
                   {{l.leaf}},
                   [l, log](Inputs x) {
                     const Tensor v = l.view(x[0]);
                     return log ? nnf::log_softmax(v, l.dim) : nnf::softmax(v, l.dim);
                   },
                   Kind::Reduce});
    }
  // a NaN anywhere in a row makes the whole row NaN, in both kernel shapes
  for (int64_t dim : {0, 1})
    c.push_back({str("softmax NaN dim ", dim),
                 kFloats,
                 {{{9, 33}, Init::NaNs}},
                 [dim](Inputs x) { return nnf::softmax(x[0], dim); },
                 Kind::Reduce,
                 Kind::Skip});
  // large logits: without the max subtracted, exp would overflow
  c.push_back({"log_softmax of x * 200 [4,33]",
               kFloats,
               {{{4, 33}}},
               [](Inputs x) { return nnf::log_softmax(x[0] * 200.0, 1); },
               Kind::Reduce});
  c.push_back({"nn::Softmax(1) module [3,5,7]",
               kFloats,
               {{{3, 5, 7}}},
               [](Inputs x) { return nn::Softmax(1)(x[0]); },
               Kind::Reduce});
  c.push_back({"nn::LogSoftmax(-1) module [4,33]",
               kFloats,
               {{{4, 33}}},
               [](Inputs x) { return nn::LogSoftmax(-1)(x[0]); },
               Kind::Reduce});
  return c;
}

// --------------------------------------------------------------------------- losses
std::vector<Case> loss_cases() {
  std::vector<Case> c;
  const std::vector<std::pair<std::string, Reduction>> reductions = {
      {"none", Reduction::None}, {"mean", Reduction::Mean}, {"sum", Reduction::Sum}};
  for (const auto& [rname, red] : reductions) {
    const Reduction r = red;
    c.push_back({"cross_entropy [9,5] " + rname,
                 kFloats,
                 {{{9, 5}}, idx({9}, 5)},
                 [r](Inputs x) { return nnf::cross_entropy(x[0], x[1], r); },
                 Kind::Reduce});
    c.push_back({"cross_entropy [4,5,3,2] " + rname,
                 kFloats,
                 {{{4, 5, 3, 2}}, idx({4, 3, 2}, 5)},
                 [r](Inputs x) { return nnf::cross_entropy(x[0], x[1], r); },
                 Kind::Reduce});
    // ignore_index is a real class here: every target 2 drops out of the loss and the mean
    c.push_back({"cross_entropy ignore_index 2 [33,4] " + rname,
                 kFloats,
                 {{{33, 4}}, idx({33}, 4)},
                 [r](Inputs x) { return nnf::cross_entropy(x[0], x[1], r, 2); },
                 Kind::Reduce});
    c.push_back({"nll_loss ignore_index -100 [4,5,3,2] " + rname,
                 kFloats,
                 {{{4, 5, 3, 2}}, idx({4, 3, 2}, 5)},
                 [r](Inputs x) { return nnf::nll_loss(x[0], with_ignored(x[1]), r); },
                 Kind::Reduce});
    c.push_back({"mse_loss [7,9] " + rname,
                 kFloats,
                 {{{7, 9}}, {{7, 9}}},
                 [r](Inputs x) { return nnf::mse_loss(x[0], x[1], r); },
                 Kind::Reduce});
  }
  c.push_back({"nll_loss of log_softmax [31,7]",
               kFloats,
               {{{31, 7}}, idx({31}, 7)},
               [](Inputs x) { return nnf::nll_loss(nnf::log_softmax(x[0], 1), x[1]); },
               Kind::Reduce});
  c.push_back({"cross_entropy [C] with a 0-d target",
               kFloats,
               {{{6}}, idx({}, 6)},
               [](Inputs x) { return nnf::cross_entropy(x[0], x[1]); },
               Kind::Reduce});
  c.push_back({"cross_entropy strided logits [5,9].t()",
               kFloats,
               {{{5, 9}}, idx({9}, 5)},
               [](Inputs x) { return nnf::cross_entropy(x[0].t(), x[1]); },
               Kind::Reduce});
  // every target ignored: the mean is 0 / 0 = NaN on both devices, the gradient zero
  c.push_back({"cross_entropy all ignored mean",
               kFloats,
               {{{4, 3}}, idx({4}, 1)},
               [](Inputs x) { return nnf::cross_entropy(x[0], x[1], Reduction::Mean, 0); },
               Kind::Reduce});
  // 12800 targets: the count of non-ignored targets adds up across 50 blocks
  c.push_back({"cross_entropy multi-block [8,3,40,40] ignore 1",
               kFloats,
               {{{8, 3, 40, 40}}, idx({8, 40, 40}, 3)},
               [](Inputs x) { return nnf::cross_entropy(x[0], x[1], Reduction::Mean, 1); },
               Kind::Reduce});
  return c;
}

// --------------------------------------------------------------------------- batch norm
// Running statistics made inside a case, on the input's device: mean 0.1 c - 0.2, var
// 0.25 c + 0.5 for channel c.
std::pair<Tensor, Tensor> running_stats(const Tensor& like, int64_t C) {
  const TensorOptions o = TensorOptions().set_dtype(like.dtype()).set_device(like.device());
  Tensor c = arange(0.0, double(C), 1.0, o);
  return {c * 0.1 - 0.2, c * 0.25 + 0.5};
}

std::vector<Case> batch_norm_cases() {
  std::vector<Case> c;
  struct Shp {
    std::string name;
    Shape shape;
  };
  const std::vector<Shp> shapes = {
      {"[4,3,5,5]", {4, 3, 5, 5}},       {"[7,1,3,3] one channel", {7, 1, 3, 3}},
      {"[6,5] no spatial dims", {6, 5}}, {"[2,5,7,9]", {2, 5, 7, 9}},
      {"[3,2,33] ", {3, 2, 33}},         {"multi-block [8,5,17,17]", {8, 5, 17, 17}},
  };
  for (const Shp& s : shapes) {
    const int64_t C = s.shape[1];
    for (bool training : {true, false}) {
      const std::string mode = training ? " training" : " eval";
      c.push_back({"batch_norm " + s.name + mode,
                   kFloats,
                   {{s.shape}, {{C}}, {{C}}},
                   [C, training](Inputs x) {
                     auto [rm, rv] = running_stats(x[0], C);
                     return nnf::batch_norm(x[0], rm, rv, x[1], x[2], training, 0.1, 1e-5);
                   },
                   Kind::Reduce});
      c.push_back({"batch_norm no affine " + s.name + mode,
                   kFloats,
                   {{s.shape}},
                   [C, training](Inputs x) {
                     auto [rm, rv] = running_stats(x[0], C);
                     return nnf::batch_norm(x[0], rm, rv, Tensor(), Tensor(), training);
                   },
                   Kind::Reduce});
    }
  }
  c.push_back(
      {"batch_norm training, no running stats, strided input",
       kFloats,
       {{{5, 2, 3, 7}}, {{3}}, {{3}}},
       [](Inputs x) {
         return nnf::batch_norm(x[0].permute({1, 2, 0, 3}), Tensor(), Tensor(), x[1], x[2], true);
       },
       Kind::Reduce});
  c.push_back({"batch_norm of x * 100 + 1000 (cancellation) [4,3,5,5]",
               kFloats,
               {{{4, 3, 5, 5}}, {{3}}, {{3}}},
               [](Inputs x) {
                 return nnf::batch_norm(x[0] * 100.0 + 1000.0, Tensor(), Tensor(), x[1], x[2],
                                        true);
               },
               Kind::Reduce});
  return c;
}

// --------------------------------------------------------------------------- activations
std::vector<Case> activation_cases() {
  std::vector<Case> c;
  c.push_back(
      {"nn::ReLU [33,31]", kFloats, {{{33, 31}}}, [](Inputs x) { return nn::ReLU()(x[0]); }});
  c.push_back(
      {"nn::Sigmoid [33,31]", kFloats, {{{33, 31}}}, [](Inputs x) { return nn::Sigmoid()(x[0]); }});
  c.push_back({"nn::Tanh [33,31].t()", kFloats, {{{33, 31}}}, [](Inputs x) {
                 return nn::Tanh()(x[0].t());
               }});
  c.push_back({"conv-net tail: relu, max_pool, batch_norm, log_softmax",
               kFloats,
               {{{3, 4, 7, 9}}, {{4}}, {{4}}},
               [](Inputs x) {
                 Tensor h = nnf::max_pool2d(relu(x[0]), {2, 2});
                 h = nnf::batch_norm(h, Tensor(), Tensor(), x[1], x[2], true);
                 return nnf::log_softmax(h.reshape({3, -1}), 1);
               },
               Kind::Reduce});
  return c;
}

}  // namespace

TEST_SUITE("device_nn") {
  TEST_CASE("max_pool2d and avg_pool2d match the CPU") {
    if (!have_cuda("pooling")) return;
    run_table("pooling", pooling_cases());
  }

  TEST_CASE("softmax and log_softmax match the CPU over every dim") {
    if (!have_cuda("softmax")) return;
    run_table("softmax", softmax_cases());
  }

  TEST_CASE("nll_loss, cross_entropy and mse_loss match the CPU") {
    if (!have_cuda("losses")) return;
    run_table("losses", loss_cases());
  }

  TEST_CASE("batch_norm matches the CPU in training and eval") {
    if (!have_cuda("batch_norm")) return;
    run_table("batch_norm", batch_norm_cases());
  }

  TEST_CASE("activation modules and a small layer stack match the CPU") {
    if (!have_cuda("activations")) return;
    run_table("activations", activation_cases());
  }

  TEST_CASE("batch_norm computes only the gradients that are needed") {
    if (!have_cuda("batch_norm needed")) return;
    // {input, weight, bias} requiring grad, in training and eval
    const std::vector<std::array<bool, 3>> flags = {
        {true, false, false}, {false, true, false}, {false, false, true}, {false, true, true}};
    for (DType dt : kFloats)
      for (bool training : {true, false})
        for (const auto& f : flags) {
          const std::string label =
              str(dtype_name(dt), training ? " training" : " eval", " needs ", f[0], f[1], f[2]);
          INFO(label);
          manual_seed(17);
          const Tensor x = randn({3, 5, 4, 3}, dtype(dt)), w = randn({5}, dtype(dt)),
                       b = randn({5}, dtype(dt)), g = randn({3, 5, 4, 3}, dtype(dt));
          // the gradients of {x, w, b} computed on `dev`
          auto grads = [&](bool on_dev) {
            auto put = [&](const Tensor& t, bool rg) {
              return (on_dev ? on_device(t) : t.clone()).requires_grad_(rg);
            };
            Tensor xi = put(x, f[0]), wi = put(w, f[1]), bi = put(b, f[2]);
            auto [rm, rv] = running_stats(xi, 5);
            nnf::batch_norm(xi, rm, rv, wi, bi, training).backward(on_dev ? on_device(g) : g);
            return std::vector<Tensor>{xi.grad(), wi.grad(), bi.grad()};
          };
          const std::vector<Tensor> want = grads(false), got = grads(true);
          for (int i = 0; i < 3; ++i) {
            INFO("gradient ", i);
            CHECK(got[i].defined() == f[i]);
            if (!f[i] || !got[i].defined()) continue;
            CHECK(got[i].device() == kDev);
            Diff d = compare(got[i], want[i], tol_for(Kind::Reduce, dt));
            CHECK_MESSAGE(d.ok, d.msg);
          }
        }
  }

  TEST_CASE("nn::BatchNorm2d keeps the CPU's running statistics over training steps") {
    if (!have_cuda("BatchNorm2d")) return;
    for (bool cumulative : {false, true}) {
      const std::string label = cumulative ? "momentum None (cumulative average)" : "momentum 0.1";
      INFO(label);
      auto make = [&] {
        nn::BatchNorm2dOptions o(5);
        if (cumulative) o.momentum(std::nullopt);
        return nn::BatchNorm2d(o);
      };
      nn::BatchNorm2d host = make(), dev = make();
      dev->to(kDev);
      const Tol tol = tol_for(Kind::Reduce, kFloat32);
      for (int step = 0; step < 3; ++step) {
        INFO("step ", step);
        manual_seed(100 + step);
        const Tensor x = randn({4, 5, 7, 9}) * 2.0 + 0.5, g = randn({4, 5, 7, 9});
        for (nn::BatchNorm2d* m : {&host, &dev}) (*m)->zero_grad();
        Tensor yh = host(x), yd = dev(on_device(x));
        Diff d = compare(yd, yh, tol);
        CHECK_MESSAGE(d.ok, "forward: ", d.msg);
        yh.backward(g);
        yd.backward(on_device(g));
        const auto bh = host->named_buffers(), bd = dev->named_buffers();
        REQUIRE(bh.size() == bd.size());
        for (size_t i = 0; i < bh.size(); ++i) {
          INFO("buffer ", bh[i].first);
          CHECK(bd[i].second.device() == kDev);
          d = compare(bd[i].second, bh[i].second, tol);
          CHECK_MESSAGE(d.ok, d.msg);
        }
        const auto ph = host->named_parameters(), pd = dev->named_parameters();
        for (size_t i = 0; i < ph.size(); ++i) {
          INFO("grad of ", ph[i].first);
          REQUIRE(pd[i].second.grad().defined());
          d = compare(pd[i].second.grad(), ph[i].second.grad(), tol);
          CHECK_MESSAGE(d.ok, d.msg);
        }
      }
      host->eval();
      dev->eval();
      manual_seed(7);
      const Tensor x = randn({2, 5, 7, 9});
      Diff d = compare(dev(on_device(x)), host(x), tol);
      CHECK_MESSAGE(d.ok, "eval forward: ", d.msg);
    }
  }

  TEST_CASE("a target out of range on the device is the CPU's error, and the device stays usable") {
    // (the error is raised by the first read of the device after the loss, not by the loss)
    if (!have_cuda("bad targets")) return;
    manual_seed(5);
    const Tensor logits = randn({4, 5, 3});
    struct Bad {
      const char* name;
      std::vector<int64_t> target;  // [4, 3]
      int64_t ignore_index;
    };
    const std::vector<Bad> bads = {
        {"5 of 5 classes", {0, 1, 2, 3, 4, 0, 1, 2, 5, 4, 0, 1}, -100},
        {"-1", {0, 1, 2, 3, 4, 0, 1, 2, 3, -1, 7, 1}, -100},
        {"-100 is ignored, 9 is not", {-100, 1, 2, 3, 4, 0, 1, 2, 3, 9, 0, 1}, -100},
        {"ignore_index 3 does not excuse -100", {3, 3, 3, 3, -100, 0, 1, 2, 3, 4, 0, 1}, 3},
    };
    for (const Bad& b : bads) {
      INFO(b.name);
      const Tensor t = from_vector<int64_t>(b.target, {4, 3});
      for (bool ce : {false, true}) {
        auto run = [&](const Tensor& x, const Tensor& target) {
          // the loss is read, as training reads it: on a GPU the target check is deferred
          // to the host's next wait for the device (cuda/checks.h)
          return [&, x, target] {
            if (ce)
              (void)nnf::cross_entropy(x, target, Reduction::Mean, b.ignore_index).item();
            else
              (void)nnf::nll_loss(x, target, Reduction::Mean, b.ignore_index).item();
          };
        };
        const std::string want = error_of(run(logits, t));
        REQUIRE(!want.empty());
        CHECK(error_of(run(on_device(logits), on_device(t))) == want);
      }
    }
    // nothing was left behind: a good call next gives the CPU's value
    const Tensor t = from_vector<int64_t>({0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1}, {4, 3});
    Diff d = compare(nnf::cross_entropy(on_device(logits), on_device(t)),
                     nnf::cross_entropy(logits, t), tol_for(Kind::Reduce, kFloat32));
    CHECK_MESSAGE(d.ok, d.msg);
  }

  TEST_CASE("layer ops with operands on two devices are an error naming both") {
    if (!have_cuda("mixed devices")) return;
    if (kDev.is_cpu()) {
      std::cout << "[device] nn mixed devices: not exercised in CPU-vs-CPU mode\n";
      return;
    }
    const Tensor h = randn({2, 3, 4, 4}), d = h.to(kDev);
    const Tensor th = from_vector<int64_t>({0, 2}), w = ones({3});
    const std::vector<std::pair<const char*, std::function<void()>>> mixes = {
        {"nll_loss, target on the cpu",
         [&] {
           (void)nnf::nll_loss(d.reshape({2, -1}).slice(1, 0, 3), th);
         }},
        {"cross_entropy, target on the cpu",
         [&] {
           (void)nnf::cross_entropy(d.reshape({2, -1}).slice(1, 0, 3), th);
         }},
        {"batch_norm, weight on the cpu",
         [&] { (void)nnf::batch_norm(d, Tensor(), Tensor(), w, Tensor(), true); }},
    };
    for (const auto& [name, f] : mixes) {
      const std::string label = name;
      INFO(label);
      CHECK_THROWS_WITH_AS(f(), Contains("cpu"), Error);
      CHECK_THROWS_WITH_AS(f(), Contains("cuda:0"), Error);
    }
  }

  // Overlapping windows with ties: the device's gather must add what the CPU adds, in the
  // CPU's order, so the gradients are equal bit for bit (not only to rounding).
  TEST_CASE("the max_pool2d gather backward equals the CPU's sums bit for bit") {
    if (!have_cuda("max_pool2d gather")) return;
    struct Geo {
      Shape in;
      int64_t k, s, p, d;
    };
    const std::vector<Geo> geos = {{{3, 7, 9}, 3, 1, 1, 1},
                                   {{3, 7, 9}, 3, 2, 1, 1},
                                   {{2, 9, 7}, 3, 1, 1, 2},
                                   {{2, 8, 8}, 2, 2, 0, 1},
                                   {{4, 11, 5}, 2, 1, 1, 3}};
    for (DType dt : kFloats)
      for (const Geo& geo : geos) {
        const std::string label = str(dtype_name(dt), " ", shape_str(geo.in), " k", geo.k, " s",
                                      geo.s, " p", geo.p, " d", geo.d);
        INFO(label);
        auto pool_out = [&](int64_t in) {
          return (in + 2 * geo.p - geo.d * (geo.k - 1) - 1) / geo.s + 1;
        };
        kernels::Pool2d p;
        p.kernel = {geo.k, geo.k}, p.stride = {geo.s, geo.s};
        p.padding = {geo.p, geo.p}, p.dilation = {geo.d, geo.d};
        p.out = {pool_out(geo.in[1]), pool_out(geo.in[2])};
        manual_seed(3);
        const Tensor x = (randn(geo.in, dtype(kFloat64)) * 2.0).to(kInt64).to(dt);  // ties
        const Tensor g = randn({geo.in[0], p.out[0], p.out[1]}, dtype(dt));
        auto [vh, ih] = kernels::max_pool2d(x, p);
        auto [vd, id] = kernels::max_pool2d(on_device(x), p);
        CHECK(compare(id, ih, {0, 0}).ok);
        const Tensor want = kernels::max_pool2d_backward(g, ih, geo.in, p);
        const Tensor got = kernels::max_pool2d_backward(on_device(g), id, geo.in, p);
        const Diff d = compare(got, want, {0, 0});
        CHECK_MESSAGE(d.ok, d.msg);
      }
  }
}
