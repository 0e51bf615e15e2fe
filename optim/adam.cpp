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

template <class Options>
Settings adam_settings(const Options& o) {
  return {
      {"lr", o.lr()},   {"beta1", std::get<0>(o.betas())},  {"beta2", std::get<1>(o.betas())},
      {"eps", o.eps()}, {"weight_decay", o.weight_decay()}, {"amsgrad", o.amsgrad() ? 1.0 : 0.0}};
}

template <class Options>
Options adam_options(const Settings& s) {
  return Options(s.at("lr"))
      .betas({s.at("beta1"), s.at("beta2")})
      .eps(s.at("eps"))
      .weight_decay(s.at("weight_decay"))
      .amsgrad(s.at("amsgrad") != 0.0);
}
}  // namespace

Settings AdamOptions::to_settings() const { return adam_settings(*this); }
Settings AdamWOptions::to_settings() const { return adam_settings(*this); }

namespace detail {

AdamBase::AdamBase(Settings defaults, const std::string& name, bool decoupled)
    : Optimizer(std::move(defaults), name), decoupled_(decoupled) {}

void AdamBase::check_settings(const Settings& s) const {
  const double amsgrad = s.at("amsgrad");
  GB_CHECK(amsgrad == 0.0 || amsgrad == 1.0, name(), ": setting 'amsgrad' must be 0 or 1, got ",
           amsgrad);
  checked(adam_options<AdamOptions>(s), name().c_str());
}

std::vector<std::string> AdamBase::state_keys(const Settings& s) const {
  if (s.at("amsgrad") != 0.0) return {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"step", "exp_avg", "exp_avg_sq"};
}

void AdamBase::adam_step() {
  for (size_t group = 0; group < num_param_groups(); ++group) {
    const AdamOptions h = adam_options<AdamOptions>(settings(group));
    for (size_t i = group_begin(group); i < group_end(group); ++i) {
      Tensor g = contiguous_grad(i);
      if (!g.defined()) continue;
      ParamState& st = mutable_state(i);
      const Tensor& p = params()[i];
      // new buffers and the advanced step count join the state once the update has succeeded
      const bool fresh = !st.initialized();
      auto buffer = [&](const char* key) { return fresh ? zeros_like(p) : st.buffers.at(key); };
      Tensor m = buffer("exp_avg"), v = buffer("exp_avg_sq");
      Tensor vmax = h.amsgrad() ? buffer("max_exp_avg_sq") : Tensor();
      const kernels::AdamStep s{h.lr(),     std::get<0>(h.betas()), std::get<1>(h.betas()),
                                h.eps(),    h.weight_decay(),       decoupled_,
                                st.step + 1};
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
}

}  // namespace detail

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options)
    : Adam(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults)
    : AdamBase(checked(defaults, "Adam").to_settings(), "Adam", /*decoupled=*/false) {
  init_groups(std::move(groups));
}

AdamOptions Adam::options(size_t group) const { return adam_options<AdamOptions>(settings(group)); }

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& options)
    : AdamW(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults)
    : AdamBase(checked(defaults, "AdamW").to_settings(), "AdamW", /*decoupled=*/true) {
  init_groups(std::move(groups));
}

AdamWOptions AdamW::options(size_t group) const {
  return adam_options<AdamWOptions>(settings(group));
}

}  // namespace glassbox::optim
