// nn::init: draw on the host through the factories, then copy into the tensor in place.
#include "nn/init.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "core/ops.h"

namespace glassbox::nn::init {
namespace {

Tensor fill_from(Tensor t, const Tensor& values) {
  NoGradGuard no_record;
  t.copy_(values);
  return t;
}
TensorOptions like(const Tensor& t) {
  return TensorOptions().set_dtype(t.dtype()).set_device(t.device());
}
void check(const Tensor& t, const char* op) {
  GB_CHECK(t.defined(), "nn::init::", op, ": tensor is undefined");
  GB_CHECK(is_floating(t.dtype()), "nn::init::", op, ": expected a floating-point tensor, got ",
           dtype_name(t.dtype()), " ", t.shape_str());
}
double fan(const Tensor& t, FanMode mode) {
  auto [in, out] = calculate_fan_in_and_fan_out(t);
  return double(mode == FanMode::FanIn ? in : out);
}

}  // namespace

double calculate_gain(Nonlinearity nl, double param) {
  switch (nl) {
    case Nonlinearity::Linear:
    case Nonlinearity::Conv2d:
    case Nonlinearity::Sigmoid:
      return 1.0;
    case Nonlinearity::Tanh:
      return 5.0 / 3.0;
    case Nonlinearity::ReLU:
      return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU:
      return std::sqrt(2.0 / (1.0 + param * param));
  }
  return 1.0;
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  GB_CHECK(t.defined() && t.dim() >= 2,
           "nn::init: fan in and fan out can not be computed for a tensor with fewer than 2 "
           "dims, got ",
           t.shape_str());
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

Tensor uniform_(Tensor t, double low, double high, Generator* gen) {
  check(t, "uniform_");
  return fill_from(t, uniform(t.shape(), low, high, like(t), gen));
}
Tensor normal_(Tensor t, double mean, double std, Generator* gen) {
  check(t, "normal_");
  NoGradGuard no_record;
  return fill_from(t, randn(t.shape(), like(t), gen) * std + mean);
}
Tensor constant_(Tensor t, double value) {
  check(t, "constant_");
  NoGradGuard no_record;
  t.fill_(value);
  return t;
}
Tensor zeros_(Tensor t) { return constant_(t, 0.0); }
Tensor ones_(Tensor t) { return constant_(t, 1.0); }

Tensor kaiming_uniform_(Tensor t, double a, FanMode mode, Nonlinearity nl, Generator* gen) {
  check(t, "kaiming_uniform_");
  const double bound = std::sqrt(3.0) * calculate_gain(nl, a) / std::sqrt(fan(t, mode));
  return uniform_(t, -bound, bound, gen);
}
Tensor kaiming_normal_(Tensor t, double a, FanMode mode, Nonlinearity nl, Generator* gen) {
  check(t, "kaiming_normal_");
  return normal_(t, 0.0, calculate_gain(nl, a) / std::sqrt(fan(t, mode)), gen);
}
Tensor xavier_uniform_(Tensor t, double gain, Generator* gen) {
  check(t, "xavier_uniform_");
  auto [in, out] = calculate_fan_in_and_fan_out(t);
  const double bound = gain * std::sqrt(6.0 / double(in + out));
  return uniform_(t, -bound, bound, gen);
}
Tensor xavier_normal_(Tensor t, double gain, Generator* gen) {
  check(t, "xavier_normal_");
  auto [in, out] = calculate_fan_in_and_fan_out(t);
  return normal_(t, 0.0, gain * std::sqrt(2.0 / double(in + out)), gen);
}

}  // namespace glassbox::nn::init
