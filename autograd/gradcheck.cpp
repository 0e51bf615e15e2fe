// Builds the full Jacobian twice, once by autograd (one backward per output element over a
// retained tape) and once by central differences, and compares them entry by entry.
#include "autograd/gradcheck.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "core/ops.h"

namespace glassbox {

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opt) {
  std::vector<Tensor> leaves;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& in = inputs[i];
    GB_CHECK(in.defined(), "gradcheck: input ", i, " is undefined");
    bool rg = in.requires_grad();
    GB_CHECK(!rg || in.dtype() == kFloat64, "gradcheck: input ", i, " is ", dtype_name(in.dtype()),
             "; use .to(kFloat64) so finite differences are exact");
    Tensor leaf = in.detach().clone();
    if (rg) leaf.requires_grad_(true);
    leaves.push_back(leaf);
  }

  Tensor out = fn(leaves);
  GB_CHECK(out.defined() && out.dtype() == kFloat64,
           "gradcheck: the function must return a "
           "float64 tensor, got ",
           out.defined() ? dtype_name(out.dtype()) : "undefined");
  const int64_t n_out = out.numel();

  // analytic: row j of the Jacobian is the gradient of out[j]
  std::vector<std::vector<double>> analytic(leaves.size());
  for (size_t i = 0; i < leaves.size(); ++i)
    if (leaves[i].requires_grad()) analytic[i].assign(n_out * leaves[i].numel(), 0.0);
  if (out.requires_grad()) {
    for (int64_t j = 0; j < n_out; ++j) {
      for (Tensor& l : leaves) l.set_grad(Tensor());
      Tensor seed = zeros(out.shape(), dtype(kFloat64));
      seed.data_ptr<double>()[j] = 1.0;
      out.backward(seed.to(out.device()), /*retain_graph=*/true);
      for (size_t i = 0; i < leaves.size(); ++i) {
        if (!leaves[i].requires_grad() || !leaves[i].grad().defined()) continue;
        std::vector<double> g = leaves[i].grad().to_vector<double>();
        for (size_t k = 0; k < g.size(); ++k) analytic[i][j * g.size() + k] = g[k];
      }
    }
  }

  // numeric: perturb one input element at a time
  NoGradGuard no_record;
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (!leaves[i].requires_grad()) continue;
    // the leaf is a contiguous clone, so a flat view's element k is its element k, on any
    // device (a one-element fill_ writes it there)
    const int64_t n_in = leaves[i].numel();
    Tensor flat = leaves[i].view({n_in});
    const std::vector<double> values = flat.to_vector<double>();
    for (int64_t k = 0; k < n_in; ++k) {
      const double orig = values[k];
      Tensor element = flat.narrow(0, k, 1);
      element.fill_(orig + opt.eps);
      std::vector<double> plus = fn(leaves).to_vector<double>();
      element.fill_(orig - opt.eps);
      std::vector<double> minus = fn(leaves).to_vector<double>();
      element.fill_(orig);
      for (int64_t j = 0; j < n_out; ++j) {
        double numeric = (plus[j] - minus[j]) / (2 * opt.eps);
        double a = analytic[i][j * n_in + k];
        if (!(std::abs(a - numeric) <= opt.atol + opt.rtol * std::abs(numeric))) {
          return GradcheckResult{
              false, str("gradcheck: d out[", j, "] / d input", i, "[", k, "] (input ",
                         leaves[i].shape_str(), ", output ", out.shape_str(), "): analytic ", a,
                         " vs numeric ", numeric)};
        }
      }
    }
  }
  return GradcheckResult{true, ""};
}

}  // namespace glassbox
