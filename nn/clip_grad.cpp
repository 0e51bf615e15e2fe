// Gradient clipping composed from tensor ops, so it runs wherever each gradient lives: one
// norm reduction per gradient (on its device), the per-parameter norms gathered per device
// and brought to the host once, combined there in double
//   total = (sum_i norm_i^p)^(1/p)        (p = inf: max_i norm_i)
// which equals the norm over all elements at once, and then one in-place scale per gradient.
#include "nn/clip_grad.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/ops.h"

namespace glassbox::nn::utils {

namespace {
std::vector<Tensor> grads_of(const std::vector<Tensor>& parameters, const char* op) {
  std::vector<Tensor> grads;
  for (size_t i = 0; i < parameters.size(); ++i) {
    GB_CHECK(parameters[i].defined(), op, ": parameter ", i, " is an undefined tensor");
    Tensor g = parameters[i].grad();
    if (g.defined()) grads.push_back(g);
  }
  return grads;
}
}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  const char* op = "clip_grad_norm_";
  GB_CHECK(norm_type > 0.0, op, ": norm_type must be > 0 or inf, got ", norm_type);
  GB_CHECK(max_norm >= 0.0, op, ": max_norm must be >= 0, got ", max_norm);
  const std::vector<Tensor> grads = grads_of(parameters, op);
  if (grads.empty()) return 0.0;
  NoGradGuard no_record;
  const bool inf = std::isinf(norm_type);
  // one reduction per gradient, gathered per device so each device syncs once
  std::map<std::pair<int, int>, std::vector<Tensor>> per_device;
  for (const Tensor& g : grads) {
    Tensor n = g.numel() == 0 ? zeros({1}, dtype(kFloat64).set_device(g.device()))
                              : norm(g, norm_type).to(kFloat64).reshape({1});
    per_device[{int(g.device().type), g.device().index}].push_back(n);
  }
  double total = 0.0;
  bool nan = false;  // std::max would drop a nan; PyTorch's max keeps it
  for (const auto& [device, norms] : per_device)
    for (double n : cat(norms).cpu().to_vector<double>()) {
      nan = nan || std::isnan(n);
      total = inf ? std::max(total, n) : total + std::pow(n, norm_type);
    }
  if (!inf) total = std::pow(total, 1.0 / norm_type);
  if (nan) total = std::nan("");
  GB_CHECK(!error_if_nonfinite || std::isfinite(total), op, ": the total norm of order ", norm_type,
           " of the gradients of ", parameters.size(), " parameters is ", total,
           ", so they cannot be clipped; pass error_if_nonfinite=false to scale them by it anyway");
  const double coef = max_norm / (total + 1e-6);
  if (!(coef >= 1.0))  // a nan coefficient scales too, as in PyTorch
    for (const Tensor& g : grads) Tensor(g).mul_(coef);
  return total;
}

double clip_grad_norm_(const Tensor& parameter, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  return clip_grad_norm_(std::vector<Tensor>{parameter}, max_norm, norm_type, error_if_nonfinite);
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  GB_CHECK(clip_value >= 0.0, "clip_grad_value_: clip_value must be >= 0, got ", clip_value);
  NoGradGuard no_record;
  for (const Tensor& g : grads_of(parameters, "clip_grad_value_"))
    Tensor(g).copy_(g.clamp(-clip_value, clip_value));
}

void clip_grad_value_(const Tensor& parameter, double clip_value) {
  clip_grad_value_(std::vector<Tensor>{parameter}, clip_value);
}

}  // namespace glassbox::nn::utils
