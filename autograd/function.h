#pragma once
// Writing an op with its own backward. Two ways, from the thinnest up.
//
// 1. The house way (how every glassbox op is written): compute the forward, then, if any input
//    needs a gradient, record a backward lambda on the tape. What the lambda captures is the
//    op's saved state; list those tensors in `saved` too, so an in-place write to them before
//    backward() is caught. The lambda gets d(loss)/d(out) and returns one gradient per input,
//    each of that input's shape and dtype (an undefined Tensor() means "no gradient").
//
//      Tensor fused_silu(const Tensor& x) {          // silu(x) = x * sigmoid(x)
//        Tensor s, out;
//        {
//          NoGradGuard no_grad;                      // the forward's ops record nothing
//          s = sigmoid(x);
//          out = x * s;
//        }
//        if (autograd::needs_grad({x}))
//          autograd::record("FusedSiluBackward", out, {x},
//                           [x = x.detach(), s](const Tensor& g) {  // s' = s (1 - s)
//                             return std::vector<Tensor>{g * s * (1.0 + x * (1.0 - s))};
//                           },
//                           {x});
//        return out;
//      }
//
// 2. LibTorch's torch::autograd::Function: a struct with static forward/backward and a
//    context; `apply` runs forward with grad mode off and records backward for you, checking
//    what backward returns (count, shape, dtype, device) with errors that name the op.
//
//      struct FusedSilu : autograd::Function<FusedSilu> {
//        static constexpr const char* name = "FusedSiluBackward";  // optional
//        static Tensor forward(autograd::AutogradContext* ctx, const Tensor& x) {
//          Tensor s = sigmoid(x);
//          ctx->save_for_backward({x, s});
//          return x * s;
//        }
//        static std::vector<Tensor> backward(autograd::AutogradContext* ctx,
//                                            std::vector<Tensor> grad_outputs) {
//          auto saved = ctx->get_saved_variables();
//          const Tensor &x = saved[0], &s = saved[1];
//          return {grad_outputs[0] * s * (1.0 + x * (1.0 - s))};
//        }
//      };
//      Tensor y = FusedSilu::apply(x);
//
//    forward may take non-tensor arguments too (apply(x, 0.5)); as in LibTorch, backward then
//    returns one entry per forward argument, an undefined Tensor() for the non-tensor ones.
//    Keep non-tensor state in ctx->saved_data. One tensor output per op (the tape's unit).
//
// Either way, check the backward against finite differences with gradcheck (float64):
//   CHECK(gradcheck([](auto& v) { return fused_silu(v[0]); }, {x}));
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "core/error.h"
#include "core/tensor.h"

namespace glassbox::autograd {

// A non-tensor value kept for backward, as LibTorch's IValue in ctx->saved_data.
class SavedValue {
 public:
  SavedValue() = default;
  SavedValue(double v) : v_(v) {}
  SavedValue(int64_t v) : v_(v) {}
  SavedValue(int v) : v_(int64_t(v)) {}
  SavedValue(bool v) : v_(v) {}
  SavedValue(Shape v) : v_(std::move(v)) {}
  SavedValue(Tensor v) : v_(std::move(v)) {}
  double toDouble() const { return get<double>("a double"); }
  int64_t toInt() const { return get<int64_t>("an int"); }
  bool toBool() const { return get<bool>("a bool"); }
  const Shape& toShape() const { return get<Shape>("a shape"); }
  const Tensor& toTensor() const { return get<Tensor>("a tensor"); }

 private:
  template <class T>
  const T& get(const char* what) const {
    const T* p = std::get_if<T>(&v_);
    GB_CHECK(p, "AutogradContext::saved_data: the value is not ", what, " (kind ", v_.index(),
             " of empty, double, int, bool, shape, tensor)");
    return *p;
  }
  std::variant<std::monostate, double, int64_t, bool, Shape, Tensor> v_;
};

// What forward leaves for backward: tensors (save_for_backward) and other values (saved_data).
class AutogradContext {
 public:
  // Saved detached; an in-place write to any of them before backward() is an error.
  void save_for_backward(std::vector<Tensor> to_save) { saved_ = std::move(to_save); }
  const std::vector<Tensor>& get_saved_variables() const { return saved_; }
  // needs_input_grad(i): forward's tensor argument number i (counting tensors only) needs a
  // gradient, so backward may skip the others (return Tensor() for them).
  bool needs_input_grad(size_t i) const { return i < needs_.size() && needs_[i]; }
  std::map<std::string, SavedValue> saved_data;

 private:
  template <class T>
  friend struct Function;
  std::vector<Tensor> saved_;
  std::vector<bool> needs_;
};

namespace detail {
template <class T, class = void>
struct op_name {
  static constexpr const char* value = "CustomFunctionBackward";
};
template <class T>
struct op_name<T, std::void_t<decltype(T::name)>> {
  static constexpr const char* value = T::name;
};

template <class A>
constexpr bool is_tensor_arg = std::is_same_v<std::decay_t<A>, Tensor>;
// Tensors inside a container are not inputs of the tape here: refused at compile time rather
// than silently given no gradient (LibTorch would differentiate them).
template <class A>
struct is_tensor_container : std::false_type {};
template <class A>
struct is_tensor_container<std::vector<A>> : std::is_same<A, Tensor> {};
template <class A>
struct is_tensor_container<std::optional<A>> : std::is_same<A, Tensor> {};

// What backward's gradient for one tensor argument must match (not the tensor itself, so the
// tape does not keep the input's storage alive).
struct InputMeta {
  bool defined = false;
  Shape shape;
  DType dtype = kFloat32;
  Device device = kCPU;
};
std::vector<InputMeta> input_metas(const std::vector<Tensor>& inputs);

// Checks a custom op's gradients before the engine sees them: one per forward argument,
// undefined for the non-tensor ones, else the argument's shape, dtype and device.
void check_custom_grads(const char* name, const std::vector<Tensor>& grads,
                        const std::vector<bool>& is_tensor, const std::vector<InputMeta>& inputs);
}  // namespace detail

// CRTP base: `struct MyOp : Function<MyOp> { static Tensor forward(AutogradContext*, ...);
// static std::vector<Tensor> backward(AutogradContext*, std::vector<Tensor>); };`
template <class T>
struct Function {
  template <class... Args>
  static Tensor apply(Args&&... args) {
    const char* name = detail::op_name<T>::value;
    std::vector<Tensor> inputs;  // the tensor arguments, in order
    static_assert(!(detail::is_tensor_container<std::decay_t<Args>>::value || ...),
                  "autograd::Function::apply: pass each tensor as its own Tensor argument "
                  "(a std::vector<Tensor> or std::optional<Tensor> would get no gradient)");
    std::vector<bool> is_tensor{detail::is_tensor_arg<Args>...};
    (
        [&](const auto& a) {
          if constexpr (detail::is_tensor_arg<decltype(a)>) inputs.push_back(a);
        }(args),
        ...);
    auto ctx = std::make_shared<AutogradContext>();
    for (const Tensor& t : inputs) ctx->needs_.push_back(t.defined() && t.requires_grad());
    const bool record_it = needs_grad(inputs);
    Tensor out;
    {
      NoGradGuard no_grad;  // forward's own ops are not recorded: backward replaces them
      out = T::forward(ctx.get(), std::forward<Args>(args)...);
    }
    GB_CHECK(out.defined(), name, ": forward returned an undefined tensor");
    if (!record_it) return out;
    for (Tensor& s : ctx->saved_) s = s.defined() ? s.detach() : s;
    // a fresh tensor object, so a forward that returns an argument (or a view of one) does not
    // put this op's tape entry on the argument itself
    out = out.detach();
    std::vector<Tensor> saved = ctx->saved_;
    record(
        name, out, inputs,
        [ctx, name, is_tensor, metas = detail::input_metas(inputs)](const Tensor& g) {
          std::vector<Tensor> grads = T::backward(ctx.get(), std::vector<Tensor>{g});
          detail::check_custom_grads(name, grads, is_tensor, metas);
          std::vector<Tensor> per_input;  // drop the non-tensor arguments' entries
          for (size_t i = 0; i < grads.size(); ++i)
            if (is_tensor[i]) per_input.push_back(std::move(grads[i]));
          return per_input;
        },
        saved);
    return out;
  }
};

}  // namespace glassbox::autograd
