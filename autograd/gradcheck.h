#pragma once
// gradcheck: compares the gradients autograd computes against central finite differences.
// Public so users can check their own ops the way glassbox checks its own.
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace glassbox {

struct GradcheckOptions {
  double eps = 1e-6;   // finite-difference step
  double atol = 1e-5;  // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-3;
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // the first mismatch, naming input, element and both values
  explicit operator bool() const { return ok; }
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// `inputs` must be float64 (finite differences in float32 are too noisy to be a test).
// Inputs with requires_grad() are checked; the others are passed through unchanged.
// The function must be deterministic. Users' tensors and their .grad() are not touched.
GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace glassbox
