#include "nn/upsample.h"

#include "nn/repr.h"

namespace glassbox::nn {

Tensor UpsampleImpl::forward(const Tensor& input) {
  return detail::with_module_errors(*this, [&] {
    functional::InterpolateFuncOptions f;
    f.mode(options.mode());
    if (options.size()) f.size(*options.size());
    if (options.scale_factor()) f.scale_factor(*options.scale_factor());
    if (options.align_corners()) f.align_corners(*options.align_corners());
    return functional::interpolate(input, f);
  });
}

namespace {
// one value when every dim agrees, else a tuple (as int_or_tuple)
template <class T, class Fmt>
std::string one_or_tuple(const std::vector<T>& v, Fmt fmt) {
  bool same = true;
  for (const T& x : v) same = same && x == v[0];
  if (same && !v.empty()) return fmt(v[0]);
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + fmt(v[i]);
  return s + ")";
}
}  // namespace

void UpsampleImpl::pretty_print(std::ostream& os) const {
  os << "Upsample(";
  if (options.scale_factor())
    os << "scale_factor=" << one_or_tuple(*options.scale_factor(), detail::py_float);
  else if (options.size())
    os << "size=" << one_or_tuple(*options.size(), [](int64_t v) { return std::to_string(v); });
  else
    os << "size=None";
  os << ", mode=" << functional::mode_name(options.mode()) << ")";  // unquoted, as PyTorch's repr
}

}  // namespace glassbox::nn
