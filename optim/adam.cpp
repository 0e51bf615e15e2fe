#include "optim/adam.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Core>

#include "core/error.h"
#include "core/parallel.h"

namespace glassbox::optim {

namespace {
template <class Options>
const Options& checked(const Options& o, const char* name) {
  const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
  GB_CHECK(o.lr() >= 0.0, name, ": invalid learning rate ", o.lr(), " (must be >= 0)");
  GB_CHECK(o.eps() >= 0.0, name, ": invalid eps ", o.eps(), " (must be >= 0)");
  GB_CHECK(beta1 >= 0.0 && beta1 < 1.0, name, ": invalid beta1 (betas[0]) ", beta1,
           " (must be in [0, 1))");
  GB_CHECK(beta2 >= 0.0 && beta2 < 1.0, name, ": invalid beta2 (betas[1]) ", beta2,
           " (must be in [0, 1))");
  GB_CHECK(o.weight_decay() >= 0.0, name, ": invalid weight_decay ", o.weight_decay(),
           " (must be >= 0)");
  return o;
}

struct StepScalars {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;
  int64_t step;  // already advanced: 1 on the first update
};

// Per-step constants, rounded to the parameter's type as PyTorch rounds its Python scalars.
template <class T>
struct AdamConsts {
  T b1, b2, one_minus_b1, one_minus_b2, eps, wd, shrink, neg_step_size, bc2_sqrt;
};

// Elements [begin, end) of one parameter. Each line is one of PyTorch's tensor ops, in its
// order. The square roots go through Eigen in chunks: std::sqrt may set errno, which keeps
// the compiler from vectorizing a loop that calls it.
template <class T, bool kL2, bool kDecoupled, bool kAmsgrad>
void adam_range(T* p, const T* g, T* m, T* v, T* vmax, int64_t begin, int64_t end,
                const AdamConsts<T>& c) {
  constexpr int64_t kChunk = 256;
  alignas(64) T root[kChunk];
  for (int64_t b = begin; b < end; b += kChunk) {
    const int64_t len = std::min(kChunk, end - b);
    T *pc = p + b, *mc = m + b, *vc = v + b;
    const T* gc = g + b;
    for (int64_t i = 0; i < len; ++i) {
      T d = gc[i];
      if constexpr (kL2) d = d + c.wd * pc[i];             // grad.add(param, alpha=wd)
      const T mi = mc[i] * c.b1 + c.one_minus_b1 * d;      // exp_avg.mul_(b1).add_(g, 1-b1)
      const T vi = vc[i] * c.b2 + c.one_minus_b2 * d * d;  // exp_avg_sq.mul_(b2).addcmul_
      mc[i] = mi;
      vc[i] = vi;
      if constexpr (kAmsgrad) {
        const T old = vmax[b + i];
        const T mx = (old >= vi || old != old) ? old : vi;  // torch.maximum: NaN wins
        vmax[b + i] = mx;
        root[i] = mx;
      } else {
        root[i] = vi;
      }
    }
    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> r(root, len);
    r = r.sqrt();
    for (int64_t i = 0; i < len; ++i) {
      T pi = pc[i];
      if constexpr (kDecoupled) pi = pi * c.shrink;  // param.mul_(1 - lr*wd)
      const T denom = root[i] / c.bc2_sqrt + c.eps;  // sqrt(v) / sqrt(bc2) + eps
      pc[i] = pi + c.neg_step_size * mc[i] / denom;  // param.addcdiv_(m, denom, -step)
    }
  }
}

template <class T, bool kL2, bool kDecoupled>
void adam_dispatch_amsgrad(T* p, const T* g, T* m, T* v, T* vmax, int64_t n,
                           const AdamConsts<T>& c) {
  parallel_for(n, 24, [&](int64_t begin, int64_t end) {
    if (vmax)
      adam_range<T, kL2, kDecoupled, true>(p, g, m, v, vmax, begin, end, c);
    else
      adam_range<T, kL2, kDecoupled, false>(p, g, m, v, vmax, begin, end, c);
  });
}

// One parameter's update over n contiguous elements; vmax is null without amsgrad.
template <class T>
void adam_kernel(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const StepScalars& s) {
  const double bias_correction1 = 1.0 - std::pow(s.beta1, double(s.step));
  const double bias_correction2 = 1.0 - std::pow(s.beta2, double(s.step));
  const AdamConsts<T> c{T(s.beta1),
                        T(s.beta2),
                        T(1.0 - s.beta1),
                        T(1.0 - s.beta2),
                        T(s.eps),
                        T(s.weight_decay),
                        T(1.0 - s.lr * s.weight_decay),
                        T(-(s.lr / bias_correction1)),
                        T(std::sqrt(bias_correction2))};
  // PyTorch skips the weight-decay op when weight_decay is 0, so must we (0 * inf is NaN)
  if (s.weight_decay == 0.0)
    adam_dispatch_amsgrad<T, false, false>(p, g, m, v, vmax, n, c);
  else if (s.decoupled)
    adam_dispatch_amsgrad<T, false, true>(p, g, m, v, vmax, n, c);
  else
    adam_dispatch_amsgrad<T, true, false>(p, g, m, v, vmax, n, c);
}
}  // namespace

namespace detail {

AdamBase::AdamBase(std::vector<Tensor> params, double lr, const std::string& name,
                   const Hyper& hyper)
    : Optimizer(std::move(params), lr, name), hyper_(hyper) {}

Optimizer::Settings AdamBase::settings() const {
  return {{"lr", lr()},
          {"beta1", hyper_.beta1},
          {"beta2", hyper_.beta2},
          {"eps", hyper_.eps},
          {"weight_decay", hyper_.weight_decay},
          {"amsgrad", hyper_.amsgrad ? 1.0 : 0.0}};
}

void AdamBase::check_settings(const Settings& s) const {
  const double amsgrad = s.at("amsgrad");
  GB_CHECK(amsgrad == 0.0 || amsgrad == 1.0, name(), ": setting 'amsgrad' must be 0 or 1, got ",
           amsgrad);
  checked(AdamOptions(s.at("lr"))
              .betas({s.at("beta1"), s.at("beta2")})
              .eps(s.at("eps"))
              .weight_decay(s.at("weight_decay")),
          name().c_str());
}

void AdamBase::apply_settings(const Settings& s) noexcept {
  hyper_.beta1 = s.at("beta1");
  hyper_.beta2 = s.at("beta2");
  hyper_.eps = s.at("eps");
  hyper_.weight_decay = s.at("weight_decay");
  hyper_.amsgrad = s.at("amsgrad") != 0.0;
}

std::vector<std::string> AdamBase::state_keys(const Settings& s) const {
  if (s.at("amsgrad") != 0.0) return {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"step", "exp_avg", "exp_avg_sq"};
}

void AdamBase::adam_step() {
  const Hyper& h = hyper_;
  for (size_t i = 0; i < params().size(); ++i) {
    Tensor g = contiguous_grad(i);
    if (!g.defined()) continue;
    ParamState& st = mutable_state(i);
    if (!st.initialized()) {
      const Tensor& p = params()[i];
      st.buffers["exp_avg"] = zeros_like(p);
      st.buffers["exp_avg_sq"] = zeros_like(p);
      if (h.amsgrad) st.buffers["max_exp_avg_sq"] = zeros_like(p);
    }
    st.step += 1;
    const StepScalars s{lr(), h.beta1, h.beta2, h.eps, h.weight_decay, h.decoupled, st.step};
    Tensor m = st.buffers.at("exp_avg"), v = st.buffers.at("exp_avg_sq");
    Tensor vmax = h.amsgrad ? st.buffers.at("max_exp_avg_sq") : Tensor();
    update_in_place(i, [&](const Tensor& p) {
      GB_DISPATCH_FLOAT(p.dtype(), name(), [&] {
        adam_kernel<scalar_t>(p.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(),
                              m.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(),
                              vmax.defined() ? vmax.data_ptr<scalar_t>() : nullptr, p.numel(), s);
      });
    });
  }
}

}  // namespace detail

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options)
    : AdamBase(std::move(params), checked(options, "Adam").lr(), "Adam",
               Hyper{std::get<0>(options.betas()), std::get<1>(options.betas()), options.eps(),
                     options.weight_decay(), options.amsgrad(), /*decoupled=*/false}) {}

AdamOptions Adam::options() const {
  const Hyper& h = hyper();
  return AdamOptions(lr())
      .betas({h.beta1, h.beta2})
      .eps(h.eps)
      .weight_decay(h.weight_decay)
      .amsgrad(h.amsgrad);
}

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& options)
    : AdamBase(std::move(params), checked(options, "AdamW").lr(), "AdamW",
               Hyper{std::get<0>(options.betas()), std::get<1>(options.betas()), options.eps(),
                     options.weight_decay(), options.amsgrad(), /*decoupled=*/true}) {}

AdamWOptions AdamW::options() const {
  const Hyper& h = hyper();
  return AdamWOptions(lr())
      .betas({h.beta1, h.beta2})
      .eps(h.eps)
      .weight_decay(h.weight_decay)
      .amsgrad(h.amsgrad);
}

}  // namespace glassbox::optim
