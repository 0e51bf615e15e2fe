#include "optim/adam.h"

#include "core/error.h"
#include "core/kernels_optim.h"

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
    const Tensor& p = params()[i];
    // new buffers and the advanced step count join the state once the update has succeeded
    const bool fresh = !st.initialized();
    auto buffer = [&](const char* key) { return fresh ? zeros_like(p) : st.buffers.at(key); };
    Tensor m = buffer("exp_avg"), v = buffer("exp_avg_sq");
    Tensor vmax = h.amsgrad ? buffer("max_exp_avg_sq") : Tensor();
    const kernels::AdamStep s{lr(),           h.beta1,     h.beta2,    h.eps,
                              h.weight_decay, h.decoupled, st.step + 1};
    update_in_place(
        i, [&](const Tensor& w) { kernels::adam_step(w, g, m, v, vmax, s, name().c_str()); });
    st.step = s.step;
    if (fresh) {
      st.buffers["exp_avg"] = m;
      st.buffers["exp_avg_sq"] = v;
      if (vmax.defined()) st.buffers["max_exp_avg_sq"] = vmax;
    }
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
