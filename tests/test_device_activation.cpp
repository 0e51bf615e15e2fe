// The device-generic suite for the activations, clamp / square / where and the compound
// assignment operators: each case runs on the device under test and on the CPU with the same
// inputs, forward and backward (device_harness.h). The CPU side of the contiguous cases runs
// Eigen's vectorised functions, the device its own libm, so float32 agreement also checks the
// fast CPU path. Inputs are scaled (x * 12) where a branch needs large |x| (Softplus's
// threshold, Mish and GELU's saturation); shapes straddle a 32- and 256-thread block and
// include a transposed and a step-2 view.
#include "device_harness.h"

namespace {

using Act = std::function<Tensor(const Tensor&)>;

std::vector<Case> activation_cases() {
  const std::vector<std::pair<std::string, Act>> acts = {
      {"silu", [](const Tensor& x) { return F::silu(x); }},
      {"gelu", [](const Tensor& x) { return F::gelu(x); }},
      {"gelu tanh", [](const Tensor& x) { return F::gelu(x, "tanh"); }},
      {"leaky_relu 0.2", [](const Tensor& x) { return F::leaky_relu(x, 0.2); }},
      {"elu 0.7", [](const Tensor& x) { return F::elu(x, 0.7); }},
      {"softplus", [](const Tensor& x) { return F::softplus(x); }},
      {"softplus beta 2 threshold 5", [](const Tensor& x) { return F::softplus(x, 2.0, 5.0); }},
      {"hardtanh -0.5 2", [](const Tensor& x) { return F::hardtanh(x, -0.5, 2.0); }},
      {"mish", [](const Tensor& x) { return F::mish(x); }},
      {"clamp -0.5 0.8", [](const Tensor& x) { return clamp(x, -0.5, 0.8); }},
      {"clamp_min 0.1", [](const Tensor& x) { return x.clamp_min(0.1); }},
      {"clamp_max -0.1", [](const Tensor& x) { return x.clamp_max(-0.1); }},
      {"square", [](const Tensor& x) { return x.square(); }},
      {"exp", [](const Tensor& x) { return exp(x); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
  };
  std::vector<Case> c;
  for (const auto& [name, f] : acts) {
    Act fn = f;
    c.push_back({name + " [257]",
                 kFloats,
                 {{{257}}},
                 [fn](Inputs x) { return fn(x[0]); },
                 Kind::Pointwise,
                 Kind::Pointwise});
    c.push_back({name + " x12 [33,31].t()",
                 kFloats,
                 {{{33, 31}}},
                 [fn](Inputs x) { return fn(x[0].t() * 12.0); },
                 Kind::Pointwise,
                 Kind::Pointwise});
    c.push_back({name + " step-2 slice [2,255]",
                 kFloats,
                 {{{2, 255}}},
                 [fn](Inputs x) { return fn(x[0].slice(1, 0, 255, 2) * 3.0); },
                 Kind::Pointwise,
                 Kind::Pointwise});
  }
  c.push_back({"silu 0-d",
               kFloats,
               {{{}}},
               [](Inputs x) { return F::silu(x[0]); },
               Kind::Pointwise,
               Kind::Pointwise});
  c.push_back({"gelu empty [0,3]",
               kFloats,
               {{{0, 3}}},
               [](Inputs x) { return F::gelu(x[0]); },
               Kind::Pointwise,
               Kind::Pointwise});
  c.push_back({"mish multi-block [100000]",
               kFloats,
               {{{100000}}},
               [](Inputs x) { return F::mish(x[0] * 5.0); },
               Kind::Pointwise,
               Kind::Pointwise});
  return c;
}

std::vector<Case> where_cases() {
  std::vector<Case> c;
  c.push_back({"where same shape [33,31]",
               kFloats,
               {{{33, 31}}, {{33, 31}}, idx({33, 31}, 2)},
               [](Inputs x) { return where(x[2] > 0, x[0], x[1]); }});
  c.push_back({"where broadcast cond [31], a [2,1,31], b [3,1]",
               kFloats,
               {{{2, 1, 31}}, {{3, 1}}, idx({31}, 2)},
               [](Inputs x) { return where(x[2] > 0, x[0], x[1]); }});
  c.push_back(
      {"where from a comparison, scalar b, transposed a", kFloats, {{{31, 33}}}, [](Inputs x) {
         return where(x[0].t() > 0.3, x[0].t(), -2.0);
       }});
  c.push_back({"where int64",
               {kInt64},
               {{{257}, Init::Ints}, {{257}, Init::Ints}, idx({257}, 2)},
               [](Inputs x) { return where(x[2] > 0, x[0], x[1]); },
               Kind::Exact,
               Kind::Skip});
  return c;
}

std::vector<Case> compound_cases() {
  std::vector<Case> c;
  c.push_back({"a += b; a *= c; a -= 1.5; a /= d, broadcast",
               kFloats,
               {{{33, 31}}, {{31}}, {{33, 1}}, {{33, 31}, Init::AwayFromZero}},
               [](Inputs x) {
                 Tensor a = x[0] * 1.0;
                 a += x[1];
                 a *= x[2];
                 a -= 1.5;
                 a /= x[3];
                 return a;
               }});
  c.push_back({"int64 a *= a.t(); a += 3",
               {kInt64},
               {{{31, 31}, Init::Ints}},
               [](Inputs x) {
                 Tensor a = x[0].clone();
                 a *= x[0].t();
                 a += 3.0;
                 return a;
               },
               Kind::Exact,
               Kind::Skip});
  return c;
}

}  // namespace

TEST_SUITE("device_activation") {
  TEST_CASE("activations, clamp and square match the CPU forward and backward") {
    if (!have_cuda("activations")) return;
    run_table("activations", activation_cases());
  }

  TEST_CASE("where matches the CPU, broadcasting all three operands") {
    if (!have_cuda("where")) return;
    run_table("where", where_cases());
  }

  TEST_CASE("compound assignment matches the CPU, rebased history included") {
    if (!have_cuda("compound")) return;
    run_table("compound", compound_cases());
  }
}
