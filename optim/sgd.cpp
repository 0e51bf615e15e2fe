#include "optim/sgd.h"

#include "core/error.h"
#include "core/kernels_optim.h"

namespace glassbox::optim {

namespace {
const SGDOptions& checked(const SGDOptions& o) {
  GB_CHECK(o.lr() >= 0.0, "SGD: invalid learning rate ", o.lr(), " (must be >= 0)");
  GB_CHECK(o.momentum() >= 0.0, "SGD: invalid momentum ", o.momentum(), " (must be >= 0)");
  GB_CHECK(o.dampening() == o.dampening(), "SGD: invalid dampening ", o.dampening());
  GB_CHECK(o.weight_decay() >= 0.0, "SGD: invalid weight_decay ", o.weight_decay(),
           " (must be >= 0)");
  GB_CHECK(!o.nesterov() || (o.momentum() > 0.0 && o.dampening() == 0.0),
           "SGD: nesterov momentum requires a momentum > 0 and zero dampening (got momentum ",
           o.momentum(), ", dampening ", o.dampening(), ")");
  return o;
}

// The options `settings` describe (already checked for keys); booleans are nonzero.
SGDOptions from_settings(const Optimizer::Settings& s) {
  return SGDOptions(s.at("lr"))
      .momentum(s.at("momentum"))
      .dampening(s.at("dampening"))
      .weight_decay(s.at("weight_decay"))
      .nesterov(s.at("nesterov") != 0.0);
}
}  // namespace

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : Optimizer(std::move(params), checked(options).lr(), "SGD"), options_(options) {}

SGDOptions SGD::options() const {
  SGDOptions o = options_;
  o.lr(lr());
  return o;
}

Optimizer::Settings SGD::settings() const {
  return {{"lr", lr()},
          {"momentum", options_.momentum()},
          {"dampening", options_.dampening()},
          {"weight_decay", options_.weight_decay()},
          {"nesterov", options_.nesterov() ? 1.0 : 0.0}};
}

void SGD::check_settings(const Settings& settings) const {
  const double nesterov = settings.at("nesterov");
  GB_CHECK(nesterov == 0.0 || nesterov == 1.0, "SGD: setting 'nesterov' must be 0 or 1, got ",
           nesterov);
  checked(from_settings(settings));
}

void SGD::apply_settings(const Settings& settings) noexcept { options_ = from_settings(settings); }

std::vector<std::string> SGD::state_keys(const Settings& settings) const {
  if (settings.at("momentum") == 0.0) return {};
  return {"momentum_buffer"};
}

void SGD::step() {
  const SGDOptions& o = options_;
  for (size_t i = 0; i < params().size(); ++i) {
    Tensor g = contiguous_grad(i);
    if (!g.defined()) continue;
    Tensor buf;
    bool first = false;
    if (o.momentum() != 0.0) {
      auto& buffers = mutable_state(i).buffers;
      auto it = buffers.find("momentum_buffer");
      first = it == buffers.end();
      // a new buffer joins the state once the step that fills it (buf = d) has succeeded
      buf = first ? zeros_like(params()[i]) : it->second;
    }
    const kernels::SgdStep s{lr(),         o.momentum(), o.dampening(), o.weight_decay(),
                             o.nesterov(), first};
    update_in_place(i, [&](const Tensor& p) { kernels::sgd_step(p, g, buf, s, name().c_str()); });
    if (first) mutable_state(i).buffers["momentum_buffer"] = buf;
  }
}

}  // namespace glassbox::optim
