// nn::Module: registration, traversal with dotted names, modes, conversion, state and the
// PyTorch-style printing of the module tree; the anomaly call path's names (ForwardScope).
#include "nn/module.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>
#include <tuple>
#include <typeinfo>

#include "autograd/grad_mode.h"
#include "core/generator.h"

namespace glassbox::nn {
namespace {

// "glassbox::nn::LinearImpl" -> "Linear", "(anonymous namespace)::NetImpl" -> "Net"
std::string short_type_name(const std::type_info& type) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string full = (status == 0 && demangled) ? demangled : type.name();
  std::free(demangled);
  size_t cut = 0;
  int depth = 0;
  for (size_t i = 0; i + 1 < full.size(); ++i) {
    if (full[i] == '<' || full[i] == '(') ++depth;
    if (full[i] == '>' || full[i] == ')') --depth;
    if (depth == 0 && full[i] == ':' && full[i + 1] == ':') cut = i + 2;
  }
  std::string n = full.substr(cut);
  if (n.size() > 4 && n.compare(n.size() - 4, 4, "Impl") == 0) n.resize(n.size() - 4);
  return n;
}

// Points `dst` (a registered handle) at `src`'s data, so every copy of the handle sees it.
void rebind(const Tensor& dst, const Tensor& src) {
  if (src.impl() == dst.impl()) return;
  TensorImpl* d = dst.impl();
  d->storage = src.impl()->storage;
  d->sizes = src.impl()->sizes;
  d->strides = src.impl()->strides;
  d->offset = src.impl()->offset;
  d->dtype = src.impl()->dtype;
  d->grad.reset();
}

}  // namespace

const std::string& Module::name() const {
  if (name_.empty()) name_ = short_type_name(typeid(*this));
  return name_;
}

void Module::check_new_name(const std::string& n, const char* what) const {
  GB_CHECK(!n.empty(), what, ": the name must not be empty (in ", name(), ")");
  GB_CHECK(n.find('.') == std::string::npos, what, ": the name '", n, "' must not contain '.' (in ",
           name(), ")");
  GB_CHECK(!parameters_.contains(n), what, ": ", name(), " already has a parameter named '", n,
           "'");
  GB_CHECK(!buffers_.contains(n), what, ": ", name(), " already has a buffer named '", n, "'");
  GB_CHECK(!children_.contains(n), what, ": ", name(), " already has a submodule named '", n, "'");
}

Tensor Module::register_parameter(std::string n, Tensor tensor, bool requires_grad) {
  check_new_name(n, "register_parameter");
  if (tensor.defined()) {
    if (!tensor.is_leaf()) tensor = tensor.detach();
    GB_CHECK(!requires_grad || is_floating(tensor.dtype()), "register_parameter: '", n, "' of ",
             name(), " is ", dtype_name(tensor.dtype()), " ", tensor.shape_str(),
             "; only floating-point parameters can require grad");
    tensor.requires_grad_(requires_grad);
  }
  parameters_.emplace_back(std::move(n), tensor);
  return tensor;
}

Tensor Module::register_buffer(std::string n, Tensor tensor) {
  check_new_name(n, "register_buffer");
  buffers_.emplace_back(std::move(n), tensor);
  return tensor;
}

void Module::add_child(std::string n, std::shared_ptr<Module> child) {
  check_new_name(n, "register_module");
  GB_CHECK(child != nullptr, "register_module: submodule '", n, "' of ", name(),
           " is null (an empty module handle?)");
  GB_CHECK(child.get() != this, "register_module: ", name(), " cannot be its own child");
  if (child->registered_as_.empty()) child->registered_as_ = n;
  children_.emplace_back(std::move(n), std::move(child));
}

std::string Module::path_segment(const Module* caller) const {
  if (caller)  // a module shared by two parents is named as the running one registered it
    for (const auto& [n, c] : caller->children_)
      if (c.get() == this) return n;
  return registered_as_.empty() ? name() : registered_as_;
}

void ForwardScope::enter(const Module& module) {
  const auto* caller = static_cast<const Module*>(autograd::scope_owner());
  autograd::push_scope(&module, module.path_segment(caller), module.name());
  entered_ = true;
}

void Module::collect(const std::string& prefix, bool recurse, bool buffers,
                     OrderedDict<Tensor>& out, std::vector<const TensorImpl*>& seen) const {
  for (const auto& [n, t] : buffers ? buffers_ : parameters_) {
    if (!t.defined() || std::find(seen.begin(), seen.end(), t.impl()) != seen.end()) continue;
    seen.push_back(t.impl());
    out.emplace_back(prefix + n, t);
  }
  if (!recurse) return;
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", true, buffers, out, seen);
}

OrderedDict<Tensor> Module::named_parameters(bool recurse) const {
  OrderedDict<Tensor> out;
  std::vector<const TensorImpl*> seen;
  collect("", recurse, false, out, seen);
  return out;
}
std::vector<Tensor> Module::parameters(bool recurse) const {
  return named_parameters(recurse).values();
}
OrderedDict<Tensor> Module::named_buffers(bool recurse) const {
  OrderedDict<Tensor> out;
  std::vector<const TensorImpl*> seen;
  collect("", recurse, true, out, seen);
  return out;
}
std::vector<Tensor> Module::buffers(bool recurse) const { return named_buffers(recurse).values(); }

std::vector<std::shared_ptr<Module>> Module::children() const { return children_.values(); }
OrderedDict<std::shared_ptr<Module>> Module::named_children() const { return children_; }

OrderedDict<std::shared_ptr<Module>> Module::named_modules() const {
  OrderedDict<std::shared_ptr<Module>> out;
  for (const auto& [n, c] : children_) {
    out.emplace_back(n, c);
    for (auto& [sub, m] : c->named_modules()) out.emplace_back(n + "." + sub, m);
  }
  return out;
}

void Module::apply(const std::function<void(Module&)>& fn) {
  fn(*this);
  for (auto& [n, c] : children_) c->apply(fn);
}

// ---------------------------------------------------------------- clone
std::shared_ptr<Module> Module::new_instance() const {
  if (rebuild_)
    if (std::shared_ptr<Module> m = rebuild_(*this)) return m;
  fail(str(name(), ": clone() cannot build a new ", name(),
           ": it needs a constructor from its `options` member or a default constructor, or "
           "an override of new_instance() (see nn/module.h); a module made with "
           "std::make_shared rather than its handle or register_module needs the override"));
}

std::shared_ptr<Module> Module::clone(const std::optional<Device>& device) const {
  Generator& gen = default_generator();
  const Generator::State state = gen.state();  // the new instance's init draws are discarded
  std::shared_ptr<Module> copy;
  try {
    copy = new_instance();
  } catch (...) {
    gen.set_state(state);
    throw;
  }
  gen.set_state(state);
  GB_CHECK(copy && typeid(*copy) == typeid(*this), name(), ": new_instance() returned ",
           copy ? copy->name() : std::string("nullptr"), ", not a new ", name());
  copy->copy_from(*this, device);
  return copy;
}

void Module::adopt_clone(const Module&, const std::string& n, std::shared_ptr<Module> clone) {
  add_child(n, std::move(clone));
}

// Overwrites this new instance's values with copies of src's, recursively. The new instance
// must have src's structure (its constructor made the same parameters, buffers and children,
// with the same shapes); children src gained after construction are cloned in.
void Module::copy_from(const Module& src, const std::optional<Device>& device) {
  NoGradGuard no_record;
  name_ = src.name_;
  training_ = src.training_;
  const std::string hint =
      str("; its constructor builds another structure than the original has (see new_instance() "
          "in nn/module.h)");
  for (auto [mine, theirs, what] : {std::tuple{&parameters_, &src.parameters_, "parameter"},
                                    std::tuple{&buffers_, &src.buffers_, "buffer"}}) {
    GB_CHECK(mine->size() == theirs->size(), "clone: the new ", name(), " has ", mine->size(), " ",
             what, "s where the original has ", theirs->size(), hint);
    for (const auto& [n, t] : *theirs) {
      Tensor* dst = mine->find(n);
      GB_CHECK(dst != nullptr, "clone: the new ", name(), " has no ", what, " '", n, "'", hint);
      GB_CHECK(dst->defined() == t.defined(), "clone: ", what, " '", n, "' of the new ", name(),
               " is ", dst->defined() ? "defined" : "undefined", " but the original's is not",
               hint);
      if (!t.defined()) continue;
      GB_CHECK(dst->shape() == t.shape(), "clone: ", what, " '", n, "' of the new ", name(), " is ",
               dst->shape_str(), " but the original's is ", t.shape_str(), hint);
      Tensor value = t.detach().clone();
      if (device) value = value.to(*device);
      rebind(*dst, value);
      if (is_floating(dst->dtype())) dst->requires_grad_(t.requires_grad());
    }
  }
  for (const auto& [n, c] : src.children_) {
    if (auto* mine = children_.find(n)) {
      GB_CHECK(typeid(**mine) == typeid(*c), "clone: child '", n, "' of the new ", name(), " is a ",
               (*mine)->name(), " but the original's is a ", c->name(), hint);
      (*mine)->copy_from(*c, device);
    } else {
      adopt_clone(src, n, c->clone(device));
    }
  }
  for (const auto& [n, c] : children_)
    GB_CHECK(src.children_.contains(n), "clone: the new ", name(), " has a child '", n,
             "' that the original does not", hint);
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::zero_grad(bool set_to_none) {
  for (Tensor& p : parameters()) {
    if (set_to_none)
      p.set_grad(Tensor());
    else
      p.zero_grad();
  }
}

void Module::convert(const std::function<Tensor(const Tensor&)>& fn) {
  NoGradGuard no_record;
  for (auto* dict : {&parameters_, &buffers_})
    for (auto& [n, t] : *dict)
      if (t.defined()) rebind(t, fn(t));
  for (auto& [n, c] : children_) c->convert(fn);
}

void Module::to(DType dt) {
  GB_CHECK(is_floating(dt), "Module::to: ", name(),
           " can only be converted to a floating dtype, got ", dtype_name(dt));
  convert([dt](const Tensor& t) { return is_floating(t.dtype()) ? t.detach().to(dt) : t; });
}

void Module::to(Device device) {
  convert([device](const Tensor& t) { return t.detach().to(device); });
}

void Module::collect_state(const std::string& prefix, OrderedDict<Tensor>& out) const {
  for (const auto& [n, t] : parameters_)
    if (t.defined()) out.emplace_back(prefix + n, t);
  for (const auto& [n, t] : buffers_)
    if (t.defined()) out.emplace_back(prefix + n, t);
  for (const auto& [n, c] : children_) c->collect_state(prefix + n + ".", out);
}

OrderedDict<Tensor> Module::state_dict() const {
  OrderedDict<Tensor> out;
  collect_state("", out);
  return out;
}

std::string LoadReport::to_string() const {
  if (ok()) return "everything matched";
  std::string out;
  auto line = [&out](const std::string& text) { out += (out.empty() ? "" : "\n") + text; };
  auto names = [&line](const char* what, const std::vector<std::string>& keys) {
    if (keys.empty()) return;
    std::string text = str(what, ": ");
    for (size_t i = 0; i < keys.size(); ++i) text += (i ? ", '" : "'") + keys[i] + "'";
    line(text);
  };
  names("missing", missing);
  names("unexpected", unexpected);
  for (const std::string& m : mismatched) line("mismatched: " + m);
  return out;
}

LoadReport Module::load_state_dict(const TensorMap& state, bool strict) {
  return load_state_dict(state, strict, "the state dict");
}

LoadReport Module::load_state_dict(const TensorMap& state, bool strict, const std::string& source) {
  OrderedDict<Tensor> mine = state_dict();
  LoadReport report;
  std::vector<std::pair<Tensor, Tensor>> load;  // (model tensor, value), checked
  for (const auto& [k, t] : mine) {
    auto it = state.find(k);
    if (it == state.end()) {
      report.missing.push_back(k);
      continue;
    }
    const Tensor& v = it->second;
    if (!v.defined()) {
      report.mismatched.push_back(str(k, ": ", dtype_name(t.dtype()), " ", t.shape_str(),
                                      " in the model, an undefined tensor in ", source));
      continue;
    }
    const bool same_shape = v.shape() == t.shape(), same_dtype = v.dtype() == t.dtype();
    if (!same_shape && !same_dtype)
      report.mismatched.push_back(str(k, ": ", dtype_name(t.dtype()), " ", t.shape_str(),
                                      " in the model, ", dtype_name(v.dtype()), " ", v.shape_str(),
                                      " in ", source));
    else if (!same_shape)
      report.mismatched.push_back(
          str(k, ": shape ", t.shape_str(), " in the model, ", v.shape_str(), " in ", source));
    else if (!same_dtype)
      report.mismatched.push_back(str(k, ": ", dtype_name(t.dtype()), " in the model, ",
                                      dtype_name(v.dtype()), " in ", source));
    else
      load.emplace_back(t, v);
  }
  std::set<std::string> names;
  for (const auto& [k, t] : mine) names.insert(k);
  for (const auto& [k, v] : state)
    if (!names.count(k)) report.unexpected.push_back(k);

  if (strict && !report.ok()) {  // one error listing everything; nothing has been changed
    std::string list = report.to_string(), indented = "  ";
    for (char c : list) indented += c == '\n' ? std::string("\n  ") : std::string(1, c);
    std::string counts;
    const std::pair<size_t, const char*> parts[] = {{report.missing.size(), "missing"},
                                                    {report.unexpected.size(), "unexpected"},
                                                    {report.mismatched.size(), "mismatched"}};
    for (const auto& [n, what] : parts)
      if (n) counts += str(counts.empty() ? "" : ", ", n, " ", what);
    fail(str("load_state_dict: ", source, " does not match ", name(), " (", counts,
             "); nothing was loaded:\n", indented));
  }
  NoGradGuard no_record;
  for (auto& [dst, v] : load) dst.copy_(v.contiguous());  // contiguous: copies across devices
  return report;
}

void Module::pretty_print(std::ostream& os) const {
  os << name();
  if (children_.empty()) os << "()";
}

void print_tree(std::ostream& os, const Module& m, const std::string& indent) {
  m.pretty_print(os);
  if (m.children_.empty()) return;
  os << "(\n";
  for (const auto& [n, c] : m.children_) {
    os << indent << "  (" << n << "): ";
    print_tree(os, *c, indent + "  ");
    os << "\n";
  }
  os << indent << ")";
}

std::string Module::to_string() const {
  std::ostringstream os;
  print_tree(os, *this, "");
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& m) {
  print_tree(os, m, "");
  return os;
}

}  // namespace glassbox::nn
