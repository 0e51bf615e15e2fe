// The device-generic suite for the optimizers (the harness: device_harness.h). Every SGD,
// Adam and AdamW option combination runs the same parameters through the same steps on the
// CPU and on the device, and the parameters and every state buffer are compared after each
// step. The gradients come from a fixed loss, sum(w * p * p) + sum(c * p), evaluated by
// autograd on each device: it needs only element-wise products and sums, which both backends
// round alike, so the two runs differ only where the optimizer kernels do. Those agree bit
// for bit by design (core/kernels_optim.h); the step-by-step comparison allows 1e-13 in
// float64 and 1e-5 in float32, and the float64 checkpoints must be the same bytes. A small
// network trained through its forward pass, whose matmuls do round differently, is compared
// with a tolerance.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <stdlib.h>

#include "temp_dir.h"
#include "core/kernels_optim.h"
#include "device_harness.h"
#include "nn/checkpoint.h"
#include "nn/serialize.h"

namespace {

using device_test::have_cuda;
using device_test::kDev;
using device_test::Tol;
namespace fs = std::filesystem;

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

struct OptimCase {
  std::string name;
  MakeOptimizer make;
};

std::vector<OptimCase> sgd_cases() {
  std::vector<OptimCase> out;
  for (double momentum : {0.0, 0.9})
    for (double dampening : {0.0, 0.3})
      for (bool nesterov : {false, true})
        for (double wd : {0.0, 0.05}) {
          if (nesterov && (momentum == 0 || dampening != 0)) continue;
          const optim::SGDOptions o = optim::SGDOptions(0.1)
                                          .momentum(momentum)
                                          .dampening(dampening)
                                          .nesterov(nesterov)
                                          .weight_decay(wd);
          out.push_back({str("SGD momentum=", momentum, " dampening=", dampening,
                             " nesterov=", nesterov, " weight_decay=", wd),
                         [o](std::vector<Tensor> ps) {
                           return std::make_unique<optim::SGD>(std::move(ps), o);
                         }});
        }
  return out;
}

std::vector<OptimCase> adam_cases() {
  std::vector<OptimCase> out;
  struct Hyper {
    optim::Betas betas;
    double eps;
  };
  for (bool decoupled : {false, true})
    for (bool amsgrad : {false, true})
      for (double wd : {0.0, 0.1})
        for (Hyper h : {Hyper{{0.9, 0.999}, 1e-8}, Hyper{{0.5, 0.8}, 0.1}}) {
          if (h.eps != 1e-8 && wd == 0.0) continue;  // the second betas/eps once per kind
          const std::string name =
              str(decoupled ? "AdamW" : "Adam", " amsgrad=", amsgrad, " weight_decay=", wd,
                  " betas=(", std::get<0>(h.betas), ",", std::get<1>(h.betas), ") eps=", h.eps);
          if (decoupled) {
            const auto o =
                optim::AdamWOptions(0.05).betas(h.betas).eps(h.eps).weight_decay(wd).amsgrad(
                    amsgrad);
            out.push_back({name, [o](std::vector<Tensor> ps) {
                             return std::make_unique<optim::AdamW>(std::move(ps), o);
                           }});
          } else {
            const auto o =
                optim::AdamOptions(0.05).betas(h.betas).eps(h.eps).weight_decay(wd).amsgrad(
                    amsgrad);
            out.push_back({name, [o](std::vector<Tensor> ps) {
                             return std::make_unique<optim::Adam>(std::move(ps), o);
                           }});
          }
        }
  return out;
}

// ------------------------------------------------------------------ parameters and the loss
// Parameters of every kind a kernel must handle:
//   0: [3, 4]    a gradient every step
//   1: [5]       no gradient on steps 1 and 4: skipped, its step count lags behind
//   2: [2, 3]    never a gradient: untouched, no state
//   3: [4, 3]    a transposed view: stepped through a contiguous copy
//   4: [257]     not a whole number of packs: the tail path
//   5: [41]      narrowed from [42] at offset 1: not 16-byte aligned, one element per thread
//   6: [33, 65]  2145 elements: several blocks
const std::vector<Shape> kShapes = {{3, 4}, {5}, {2, 3}, {4, 3}, {257}, {41}, {33, 65}};
constexpr int kSteps = 8;

bool has_grad(size_t param, int step) {
  if (param == 2) return false;
  if (param == 1) return step % 3 != 1;
  return true;
}

std::vector<double> wave(int64_t n, double freq, double phase, double scale) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = scale * std::cos(freq * double(i) + phase);
  return v;
}

Tensor on(const std::vector<double>& v, const Shape& shape, DType dt, Device dev) {
  return from_vector(v, shape).to(dt).to(dev);
}

// Fresh leaves with the same values on `dev`.
std::vector<Tensor> make_params(DType dt, Device dev) {
  std::vector<Tensor> ps;
  for (size_t k = 0; k < kShapes.size(); ++k) {
    const Shape& s = kShapes[k];
    const std::vector<double> init = wave(numel_of(s), 0.37, double(k), 1.0);
    Tensor p;
    if (k == 3) {
      p = zeros({s[1], s[0]}, TensorOptions().set_dtype(dt).set_device(dev)).t();
      p.copy_(on(init, s, dt, dev));
      REQUIRE(!p.is_contiguous());
    } else if (k == 5) {
      p = zeros({s[0] + 1}, TensorOptions().set_dtype(dt).set_device(dev)).narrow(0, 1, s[0]);
      p.copy_(on(init, s, dt, dev));
      REQUIRE(p.is_contiguous());
    } else {
      p = on(init, s, dt, dev);
    }
    ps.push_back(p.requires_grad_());
  }
  return ps;
}

// Sets every gradient of this step: d/dp [sum(w * p * p) + sum(c * p)] = 2 w p + c, with
// c changing sign and scale from step to step (so amsgrad's maximum matters) and exactly
// zero at some elements; parameters without a gradient this step get none.
void set_grads(const std::vector<Tensor>& ps, int step) {
  const double scale[] = {1.0, 0.01, 3.0, 0.2, 0.001};
  Tensor loss;
  for (size_t k = 0; k < ps.size(); ++k) {
    Tensor p = ps[k];
    p.set_grad(Tensor());
    if (!has_grad(k, step)) continue;
    const int64_t n = p.numel();
    std::vector<double> c = wave(n, 0.91, 1.7 * step + 0.3 * double(k), scale[step % 5]);
    for (int64_t i = 0; i < n; ++i)
      if ((i + step) % 7 == 0) c[i] = 0.0;
    std::vector<double> w = wave(n, 0.53, double(step), 0.25);
    for (double& x : w) x += 0.5;
    const Tensor term = (on(w, p.shape(), p.dtype(), p.device()) * p * p).sum() +
                        (on(c, p.shape(), p.dtype(), p.device()) * p).sum();
    loss = loss.defined() ? loss + term : term;
  }
  loss.backward();
}

Tol tol_for(DType dt) { return dt == kFloat64 ? Tol{1e-13, 1e-13} : Tol{1e-5, 1e-5}; }

void check_close(const Tensor& got, const Tensor& want, DType dt, const std::string& what) {
  const device_test::Diff d = device_test::compare(got.detach().cpu(), want.detach(), tol_for(dt));
  CHECK_MESSAGE(d.ok, what, ": ", d.msg);
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ca = a.detach().cpu().contiguous(), cb = b.detach().cpu().contiguous();
  return ca.nbytes() == 0 || std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0;
}

// The device optimizer's state against the CPU one's: the same parameters hold state, with
// the same step counts and keys; every buffer lives on the device and is close.
void check_state(const optim::Optimizer& dev, const optim::Optimizer& cpu, DType dt,
                 const std::string& what) {
  for (size_t k = 0; k < cpu.params().size(); ++k) {
    const optim::ParamState &d = dev.state(k), &c = cpu.state(k);
    CHECK_MESSAGE(d.step == c.step, what, " param ", k);
    REQUIRE_MESSAGE(d.buffers.size() == c.buffers.size(), what, " param ", k);
    for (const auto& [key, t] : c.buffers) {
      REQUIRE_MESSAGE(d.buffers.count(key), what, " param ", k, " lacks ", key);
      const Tensor& b = d.buffers.at(key);
      CHECK_MESSAGE(b.device() == dev.params()[k].device(), what, " param ", k, " ", key, " is on ",
                    b.device().str());
      check_close(b, t, dt, str(what, " param ", k, " ", key));
    }
  }
}

// Both optimizers over their own copies of the parameters, stepped side by side.
void run_case(const OptimCase& c, DType dt) {
  const std::string label = str(c.name, " [", dtype_name(dt), "]");
  INFO(label);
  std::vector<Tensor> pc = make_params(dt, kCPU), pd = make_params(dt, kDev);
  auto oc = c.make(pc), od = c.make(pd);
  const std::vector<double> untouched = pc[2].to_vector<double>();
  for (int step = 0; step < kSteps; ++step) {
    set_grads(pc, step);
    set_grads(pd, step);
    oc->step();
    od->step();
    const std::string at = str(label, " step ", step);
    for (size_t k = 0; k < pc.size(); ++k) {
      CHECK_MESSAGE(pd[k].device() == kDev, at, " param ", k);
      check_close(pd[k], pc[k], dt, str(at, " param ", k));
    }
    check_state(*od, *oc, dt, at);
  }
  CHECK(pd[2].to_vector<double>() == untouched);
  CHECK(!od->state(2).initialized());
}

// ------------------------------------------------------------------ files
std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read ", path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A small network; its weights come from the default generator, seeded the same each time.
nn::Sequential make_net(DType dt, Device dev) {
  manual_seed(1234);
  nn::Sequential net(nn::Linear(4, 8), nn::Tanh(), nn::Linear(8, 3));
  net->to(dt);
  net->to(dev);
  return net;
}

std::vector<OptimCase> checkpoint_cases() {
  return {{"SGD momentum nesterov weight_decay",
           [](std::vector<Tensor> ps) {
             return std::make_unique<optim::SGD>(
                 std::move(ps),
                 optim::SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(1e-3));
           }},
          {"Adam amsgrad weight_decay",
           [](std::vector<Tensor> ps) {
             return std::make_unique<optim::Adam>(
                 std::move(ps), optim::AdamOptions(0.02).amsgrad(true).weight_decay(0.1));
           }},
          {"AdamW", [](std::vector<Tensor> ps) {
             return std::make_unique<optim::AdamW>(std::move(ps), optim::AdamWOptions(0.02));
           }}};
}

// A network and its optimizer, trained on the fixed loss over its parameters.
struct Run {
  nn::Sequential net;
  std::unique_ptr<optim::Optimizer> opt;
  Run(const OptimCase& c, DType dt, Device dev) : net(make_net(dt, dev)) {
    opt = c.make(net->parameters());
  }
  void steps(int from, int count) {
    for (int s = from; s < from + count; ++s) {
      set_grads(net->parameters(), s);
      opt->step();
    }
  }
};

void check_bitwise_same(const Run& a, const Run& b, const std::string& what) {
  const std::vector<Tensor> pa = a.net->parameters(), pb = b.net->parameters();
  REQUIRE(pa.size() == pb.size());
  for (size_t k = 0; k < pa.size(); ++k) {
    CHECK_MESSAGE(bitwise_equal(pa[k], pb[k]), what, ": parameter ", k);
    CHECK_MESSAGE(a.opt->state(k).step == b.opt->state(k).step, what, ": step of ", k);
    for (const auto& [key, t] : a.opt->state(k).buffers) {
      REQUIRE_MESSAGE(b.opt->state(k).buffers.count(key), what, ": ", k, " lacks ", key);
      CHECK_MESSAGE(bitwise_equal(t, b.opt->state(k).buffers.at(key)), what, ": ", k, ".", key);
    }
  }
}

void check_state_on(const Run& r, Device dev, const std::string& what) {
  for (size_t k = 0; k < r.opt->params().size(); ++k)
    for (const auto& [key, t] : r.opt->state(k).buffers)
      CHECK_MESSAGE(t.device() == dev, what, ": ", k, ".", key, " is on ", t.device().str());
}

}  // namespace

TEST_SUITE("device_optim") {
  TEST_CASE("SGD matches the CPU for every option combination") {
    if (!have_cuda("SGD matches the CPU for every option combination")) return;
    for (DType dt : {kFloat64, kFloat32})
      for (const OptimCase& c : sgd_cases()) run_case(c, dt);
  }

  TEST_CASE("Adam and AdamW match the CPU for every option combination") {
    if (!have_cuda("Adam and AdamW match the CPU for every option combination")) return;
    for (DType dt : {kFloat64, kFloat32})
      for (const OptimCase& c : adam_cases()) run_case(c, dt);
  }

  TEST_CASE("a network trained through its forward pass follows the CPU's trajectory") {
    if (!have_cuda("a network trained through its forward pass follows the CPU's trajectory"))
      return;
    // the matmuls round differently on the device, so only close, not equal
    for (DType dt : {kFloat64, kFloat32})
      for (const OptimCase& c : checkpoint_cases()) {
        const std::string label = str(c.name, " [", dtype_name(dt), "]");
        INFO(label);
        manual_seed(99);
        const Tensor x = randn({16, 4}).to(dt), y = randn({16, 3}).to(dt);
        nn::Sequential nc = make_net(dt, kCPU), nd = make_net(dt, kDev);
        auto oc = c.make(nc->parameters()), od = c.make(nd->parameters());
        const Tensor xd = x.to(kDev), yd = y.to(kDev);
        const Tol tol = dt == kFloat64 ? Tol{1e-10, 1e-10} : Tol{1e-5, 1e-5};
        for (int step = 0; step < 6; ++step) {
          oc->zero_grad();
          od->zero_grad();
          nn::functional::mse_loss(nc->forward(x), y).backward();
          nn::functional::mse_loss(nd->forward(xd), yd).backward();
          oc->step();
          od->step();
          const std::vector<Tensor> pc = nc->parameters(), pd = nd->parameters();
          for (size_t k = 0; k < pc.size(); ++k) {
            const device_test::Diff d =
                device_test::compare(pd[k].detach().cpu(), pc[k].detach(), tol);
            CHECK_MESSAGE(d.ok, label, " step ", step, " parameter ", k, ": ", d.msg);
            for (const auto& [key, t] : oc->state(k).buffers) {
              const Tensor& b = od->state(k).buffers.at(key);
              CHECK(b.device() == kDev);
              const device_test::Diff db = device_test::compare(b.cpu(), t, tol);
              CHECK_MESSAGE(db.ok, label, " step ", step, " ", k, ".", key, ": ", db.msg);
            }
          }
        }
      }
  }

  TEST_CASE("checkpoints from the device equal the CPU's and resume the same trajectory") {
    if (!have_cuda("checkpoints from the device equal the CPU's and resume the same trajectory"))
      return;
    TempDir dir;
    for (DType dt : {kFloat64, kFloat32})
      for (const OptimCase& c : checkpoint_cases()) {
        const std::string label = str(c.name, " [", dtype_name(dt), "]");
        INFO(label);
        Run cpu(c, dt, kCPU), dev(c, dt, kDev);
        cpu.steps(0, 4);
        dev.steps(0, 4);
        check_state_on(dev, kDev, label);
        TrainingState ts;
        ts.epoch = 1;
        ts.step = 4;
        const std::string ck_cpu = dir.file("cpu.ckpt"), ck_dev = dir.file("dev.ckpt");
        const std::string w_cpu = dir.file("cpu.safetensors"), w_dev = dir.file("dev.safetensors");
        save_checkpoint(ck_cpu, *cpu.net, *cpu.opt, ts);
        save_checkpoint(ck_dev, *dev.net, *dev.opt, ts);
        nn::save(*cpu.net, w_cpu);
        nn::save(*dev.net, w_dev);
        if (dt == kFloat64) {
          // nn/checkpoint.cpp and nn/serialize.cpp copy device tensors to the host before
          // writing; with the kernels agreeing bit for bit, so do the files
          CHECK_MESSAGE(read_bytes(ck_dev) == read_bytes(ck_cpu), label,
                        ": the checkpoint saved from the device differs from the CPU's");
          CHECK_MESSAGE(read_bytes(w_dev) == read_bytes(w_cpu), label,
                        ": nn::save from the device differs from the CPU's");
        } else {
          // float32 trajectories differ by rounding: compare what the files hold
          const TensorMap a = load_safetensors(ck_dev), b = load_safetensors(ck_cpu);
          REQUIRE(a.size() == b.size());
          for (const auto& [name, t] : b) {
            REQUIRE_MESSAGE(a.count(name), label, " lacks ", name);
            const device_test::Diff d = device_test::compare(a.at(name), t, tol_for(dt));
            CHECK_MESSAGE(d.ok, label, " ", name, ": ", d.msg);
          }
        }

        // the device's checkpoint loads onto either device, state where the parameters are
        for (Device to : {kCPU, kDev}) {
          Run loaded(c, dt, to);
          const TrainingState back = load_checkpoint(ck_dev, *loaded.net, *loaded.opt);
          CHECK(back.step == 4);
          check_state_on(loaded, to, str(label, " loaded onto ", to.str()));
          check_bitwise_same(loaded, dev, str(label, " loaded onto ", to.str()));
        }

        // resuming on the device continues the unbroken device run bit for bit
        Run resumed(c, dt, kDev);
        (void)load_checkpoint(ck_dev, *resumed.net, *resumed.opt);
        dev.steps(4, 3);
        resumed.steps(4, 3);
        check_bitwise_same(resumed, dev, str(label, " resumed on ", kDev.str()));
        check_state_on(resumed, kDev, label);
      }
  }

  TEST_CASE("a parameter and its gradient or state on different devices or dtypes is an error") {
    if (!have_cuda("a parameter and its gradient or state on different devices or dtypes")) return;
    // a CPU parameter with a device gradient, and the other way round
    for (bool param_on_cpu : {true, false}) {
      const Device pdev = param_on_cpu ? kCPU : kDev, gdev = param_on_cpu ? kDev : kCPU;
      Tensor w = zeros({3, 4}, dtype(kFloat64).set_device(pdev)).requires_grad_();
      w.set_grad(ones({3, 4}, dtype(kFloat64).set_device(gdev)));
      optim::SGD sgd({w}, optim::SGDOptions(0.1).momentum(0.9));
      const std::string msg =
          str("SGD: the gradient of parameter 0 is float64 [3,4] on ", gdev.str(),
              " but the parameter is float64 [3,4] on ", pdev.str());
      CHECK_THROWS_WITH_AS(sgd.step(), Contains(msg.c_str()), Error);
      CHECK(!sgd.state(0).initialized());  // nothing was created
      optim::Adam adam({w});
      CHECK_THROWS_WITH_AS(adam.step(), Contains("Adam: the gradient of parameter 0"), Error);
      CHECK(!adam.state(0).initialized());
    }
    // the dispatch itself: a state buffer elsewhere, or of another dtype
    const TensorOptions f64 = dtype(kFloat64).set_device(kDev);
    Tensor p = zeros({2, 5}, f64), g = ones({2, 5}, f64), m = zeros({2, 5}, f64);
    CHECK_THROWS_WITH_AS(
        kernels::adam_step(p, g, zeros({2, 5}, dtype(kFloat64)), m, Tensor(), {}, "AdamW"),
        Contains(
            str("AdamW: parameter [2,5] is on ", kDev.str(), " but its exp_avg is on cpu").c_str()),
        Error);
    CHECK_THROWS_WITH_AS(kernels::sgd_step(p, g.to(kFloat32), Tensor(), {}, "SGD"),
                         Contains("SGD: parameter [2,5] is float64 but its gradient is float32"),
                         Error);
    CHECK_THROWS_WITH_AS(
        kernels::sgd_step(p, g, zeros({2, 5}, dtype(kFloat32).set_device(kDev)), {}, "SGD"),
        Contains("SGD: parameter [2,5] is float64 but its momentum_buffer is float32"), Error);
    CHECK_THROWS_WITH_AS(kernels::sgd_step(p, g.reshape({5, 2}), Tensor(), {}, "SGD"),
                         Contains("SGD: parameter [2,5] has a gradient of shape [5,2]"), Error);
    // nothing moved
    CHECK(p.to_vector<double>() == std::vector<double>(10, 0.0));
  }

  TEST_CASE("empty parameters step without a launch") {
    if (!have_cuda("empty parameters step without a launch")) return;
    for (DType dt : {kFloat32, kFloat64}) {
      const TensorOptions o = dtype(dt).set_device(kDev);
      Tensor p = zeros({0, 3}, o), g = zeros({0, 3}, o);
      kernels::sgd_step(p, g, zeros({0, 3}, o), {});
      kernels::adam_step(p, g, zeros({0, 3}, o), zeros({0, 3}, o), zeros({0, 3}, o), {});
      CHECK(p.numel() == 0);
    }
  }
}
