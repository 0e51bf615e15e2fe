#pragma once
// Activation modules: ReLU, Sigmoid, Tanh, Softmax(dim), LogSoftmax(dim).
#include <cstdint>
#include <ostream>

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

}  // namespace glassbox::nn
