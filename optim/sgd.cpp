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

Settings SGDOptions::to_settings() const {
  return {{"lr", lr()},
          {"momentum", momentum()},
          {"dampening", dampening()},
          {"weight_decay", weight_decay()},
          {"nesterov", nesterov() ? 1.0 : 0.0}};
}

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : SGD(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults)
    : Optimizer(checked(defaults).to_settings(), "SGD") {
  init_groups(std::move(groups));
}

SGDOptions SGD::options(size_t group) const { return from_settings(settings(group)); }

void SGD::check_settings(const Settings& settings) const {
  const double nesterov = settings.at("nesterov");
  GB_CHECK(nesterov == 0.0 || nesterov == 1.0, "SGD: setting 'nesterov' must be 0 or 1, got ",
           nesterov);
  checked(from_settings(settings));
}

std::vector<std::string> SGD::state_keys(const Settings& settings) const {
  if (settings.at("momentum") == 0.0) return {};
  return {"momentum_buffer"};
}

void SGD::step() {
  for (size_t group = 0; group < num_param_groups(); ++group) {
    const SGDOptions o = options(group);
    for (size_t i = group_begin(group); i < group_end(group); ++i) {
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
      const kernels::SgdStep s{o.lr(),           o.momentum(), o.dampening(),
                               o.weight_decay(), o.nesterov(), first};
      update_in_place(i, [&](const Tensor& p) { kernels::sgd_step(p, g, buf, s, name().c_str()); });
      if (first) mutable_state(i).buffers["momentum_buffer"] = buf;
    }
  }
}

}  // namespace glassbox::optim
