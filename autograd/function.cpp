// The checks behind autograd::Function (autograd/function.h): a custom backward is user code,
// so what it returns is validated with errors that name the op and the argument, before the
// engine would fail later with less to go on.
#include "autograd/function.h"

namespace glassbox::autograd::detail {

std::vector<InputMeta> input_metas(const std::vector<Tensor>& inputs) {
  std::vector<InputMeta> m;
  for (const Tensor& t : inputs)
    m.push_back(t.defined() ? InputMeta{true, t.shape(), t.dtype(), t.device()} : InputMeta{});
  return m;
}

void check_custom_grads(const char* name, const std::vector<Tensor>& grads,
                        const std::vector<bool>& is_tensor, const std::vector<InputMeta>& inputs) {
  GB_CHECK(grads.size() == is_tensor.size(), name, ": backward returned ", grads.size(),
           " gradient(s) but forward took ", is_tensor.size(),
           " argument(s); return one per forward argument (Tensor() for a non-tensor one or "
           "one that needs no gradient)");
  size_t t = 0;  // index among the tensor arguments
  for (size_t i = 0; i < grads.size(); ++i) {
    const Tensor& g = grads[i];
    if (!is_tensor[i]) {
      GB_CHECK(!g.defined(), name, ": backward returned a gradient ", g.shape_str(),
               " for forward argument ", i, ", which is not a tensor; return Tensor() there");
      continue;
    }
    const InputMeta& in = inputs[t++];
    if (!g.defined() || !in.defined) continue;
    GB_CHECK(g.shape() == in.shape, name, ": backward returned a gradient of shape ", g.shape_str(),
             " for forward argument ", i, " of shape ", shape_str(in.shape));
    GB_CHECK(g.dtype() == in.dtype, name, ": backward returned a ", dtype_name(g.dtype()),
             " gradient for forward argument ", i, ", which is ", dtype_name(in.dtype), " ",
             shape_str(in.shape));
    GB_CHECK(g.device() == in.device, name, ": backward returned a gradient on ", g.device().str(),
             " for forward argument ", i, ", which is on ", in.device.str(), " (shape ",
             shape_str(in.shape), ")");
  }
}

}  // namespace glassbox::autograd::detail
