// Device dispatch: every kernel entry checks where its operands live and routes to the
// backend. The CUDA kernels arrive with the CUDA issue; until then a GPU operand gets an
// error naming the op, never a silent host fallback.
#include "core/kernels.h"

#include "core/cpu/cpu_kernels.h"
#include "cuda/runtime.h"

namespace glassbox::kernels {
void on_cpu(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t->defined()) continue;  // optional operands (weight, bias)
    if (!first) first = t;
    GB_CHECK(t->device() == first->device(), op, ": tensors are on different devices (",
             first->device().str(), " and ", t->device().str(), ", shapes ", first->shape_str(),
             " and ", t->shape_str(), ")");
  }
  GB_CHECK(!first || first->device().is_cpu(), op, ": not implemented on ", first->device().str(),
           " yet; move the tensor with .cpu()");
}

void copy(const Tensor& dst, const Tensor& src) {
  if (dst.device().is_cuda() || src.device().is_cuda()) {
    // Until the CUDA kernels land, copies that touch a GPU are whole-buffer transfers.
    GB_CHECK(dst.dtype() == src.dtype() && dst.shape() == src.shape() && dst.is_contiguous() &&
                 src.is_contiguous(),
             "copy_: between devices only same-dtype, same-shape contiguous copies are "
             "supported so far (dst ",
             dst.shape_str(), " on ", dst.device().str(), ", src ", src.shape_str(), " on ",
             src.device().str(), ")");
    if (dst.nbytes() == 0) return;
    if (dst.device().is_cuda() && src.device().is_cuda()) {
      GB_CHECK(dst.device() == src.device(), "copy_: tensors on two GPUs (", dst.device().str(),
               ", ", src.device().str(), ")");
      cuda::copy_device_to_device(dst.raw_data(), src.raw_data(), dst.nbytes(), dst.device().index);
    } else if (dst.device().is_cuda()) {
      cuda::copy_host_to_device(dst.raw_data(), src.raw_data(), dst.nbytes(), dst.device().index);
    } else {
      cuda::copy_device_to_host(dst.raw_data(), src.raw_data(), dst.nbytes(), src.device().index);
    }
    return;
  }
  on_cpu("copy_", {&dst, &src});
  cpu::copy(dst, src);
}
void fill(const Tensor& dst, double value) {
  on_cpu("fill_", {&dst});
  cpu::fill(dst, value);
}
Tensor binary(Binary op, const Tensor& a, const Tensor& b, const char* name) {
  on_cpu(name, {&a, &b});
  return cpu::binary(op, a, b, name);
}
void binary_(Binary op, const Tensor& dst, const Tensor& src, const char* name) {
  on_cpu(name, {&dst, &src});
  cpu::binary_(op, dst, src, name);
}
void axpy_(const Tensor& dst, const Tensor& src, double alpha) {
  on_cpu("add_", {&dst, &src});
  cpu::axpy_(dst, src, alpha);
}
const char* unary_name(Unary op) {
  switch (op) {
    case Unary::Neg:
      return "neg";
    case Unary::Exp:
      return "exp";
    case Unary::Log:
      return "log";
    case Unary::Sqrt:
      return "sqrt";
    case Unary::Relu:
      return "relu";
    case Unary::Sigmoid:
      return "sigmoid";
    case Unary::Tanh:
      return "tanh";
    case Unary::Abs:
      return "abs";
    case Unary::PowScalar:
      return "pow";
    case Unary::Sign:
      return "sign";
  }
  return "unary op";
}

Tensor unary(Unary op, const Tensor& a, double param) {
  on_cpu(unary_name(op), {&a});
  return cpu::unary(op, a, param);
}
Tensor compare(Compare op, const Tensor& a, const Tensor& b, const char* name) {
  on_cpu(name, {&a, &b});
  return cpu::compare(op, a, b, name);
}
Tensor reduce(Reduce op, const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  on_cpu("reduce", {&a});
  return cpu::reduce(op, a, dims, keepdim);
}
std::pair<Tensor, Tensor> reduce_with_index(Reduce op, const Tensor& a, int64_t dim, bool keepdim) {
  on_cpu(op == Reduce::Max ? "max" : "min", {&a});
  return cpu::reduce_with_index(op, a, dim, keepdim);
}
Tensor bmm(const Tensor& a, const Tensor& b) {
  on_cpu("matmul", {&a, &b});
  return cpu::bmm(a, b);
}
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index) {
  on_cpu("index_select", {&a, &index});
  return cpu::index_select(a, dim, index);
}
void index_add_(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) {
  on_cpu("index_add_", {&dst, &index, &src});
  cpu::index_add_(dst, dim, index, src);
}
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index) {
  on_cpu("gather", {&a, &index});
  return cpu::gather(a, dim, index);
}
void scatter_add_(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) {
  on_cpu("scatter_add_", {&dst, &index, &src});
  cpu::scatter_add_(dst, dim, index, src);
}

}  // namespace glassbox::kernels
