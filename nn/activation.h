#pragma once
// Activation modules: ReLU, Sigmoid, Tanh, Softmax(dim), LogSoftmax(dim), and SiLU, GELU,
// LeakyReLU, ELU, Softplus, Hardtanh, Mish (nn/functional_activation.h), with LibTorch-style
// options and PyTorch's repr.
#include <cstdint>
#include <ostream>
#include <string>

#include "nn/module.h"
#include "nn/options.h"

namespace glassbox::nn {

class ReLUImpl : public Module {
 public:
  Tensor forward(const Tensor& input);
};
GB_MODULE(ReLU);

class SigmoidImpl : public Module {
 public:
  Tensor forward(const Tensor& input);
};
GB_MODULE(Sigmoid);

class TanhImpl : public Module {
 public:
  Tensor forward(const Tensor& input);
};
GB_MODULE(Tanh);

struct SoftmaxOptions {
  SoftmaxOptions(int64_t dim) : dim_(dim) {}
  GB_ARG(int64_t, dim);
};

class SoftmaxImpl : public Module {
 public:
  explicit SoftmaxImpl(int64_t dim) : options(dim) {}
  explicit SoftmaxImpl(const SoftmaxOptions& options) : options(options) {}
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;
  SoftmaxOptions options;
};
GB_MODULE(Softmax);

struct LogSoftmaxOptions {
  LogSoftmaxOptions(int64_t dim) : dim_(dim) {}
  GB_ARG(int64_t, dim);
};

class LogSoftmaxImpl : public Module {
 public:
  explicit LogSoftmaxImpl(int64_t dim) : options(dim) {}
  explicit LogSoftmaxImpl(const LogSoftmaxOptions& options) : options(options) {}
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;
  LogSoftmaxOptions options;
};
GB_MODULE(LogSoftmax);

class SiLUImpl : public Module {
 public:
  Tensor forward(const Tensor& input);
};
GB_MODULE(SiLU);

class MishImpl : public Module {
 public:
  Tensor forward(const Tensor& input);
};
GB_MODULE(Mish);

struct GELUOptions {
  GB_ARG(std::string, approximate) = "none";  // "none" (erf) or "tanh"
};
class GELUImpl : public Module {
 public:
  explicit GELUImpl(const GELUOptions& options = {}) : options(options) {}
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;  // GELU(approximate='tanh')
  GELUOptions options;
};
GB_MODULE(GELU);

struct LeakyReLUOptions {
  LeakyReLUOptions(double negative_slope = 0.01) : negative_slope_(negative_slope) {}
  GB_ARG(double, negative_slope);
};
class LeakyReLUImpl : public Module {
 public:
  explicit LeakyReLUImpl(const LeakyReLUOptions& options = {}) : options(options) {}
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;  // LeakyReLU(negative_slope=0.2)
  LeakyReLUOptions options;
};
GB_MODULE(LeakyReLU);

struct ELUOptions {
  ELUOptions(double alpha = 1.0) : alpha_(alpha) {}
  GB_ARG(double, alpha);
};
class ELUImpl : public Module {
 public:
  explicit ELUImpl(const ELUOptions& options = {}) : options(options) {}
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;  // ELU(alpha=1.0)
  ELUOptions options;
};
GB_MODULE(ELU);

struct SoftplusOptions {
  GB_ARG(double, beta) = 1.0;
  GB_ARG(double, threshold) = 20.0;
};
class SoftplusImpl : public Module {
 public:
  explicit SoftplusImpl(const SoftplusOptions& options = {}) : options(options) {}
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;  // Softplus(beta=1, threshold=20)
  SoftplusOptions options;
};
GB_MODULE(Softplus);

struct HardtanhOptions {
  GB_ARG(double, min_val) = -1.0;
  GB_ARG(double, max_val) = 1.0;
};
class HardtanhImpl : public Module {
 public:
  explicit HardtanhImpl(const HardtanhOptions& options = {});
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;  // Hardtanh(min_val=-1.0, max_val=1.0)
  HardtanhOptions options;
};
GB_MODULE(Hardtanh);

}  // namespace glassbox::nn
