// Device dispatch for the tensor ops: every kernel entry checks where its operands live and
// routes to the backend (core/dispatch.h): core/cpu/ for the CPU, cuda/ (gpu::) for a CUDA
// device, real or emulated. The layers, convolution and optimizers dispatch the same way from
// kernels_nn.cpp, kernels_conv.cpp and kernels_optim.cpp.
#include "core/kernels.h"

#include "core/cpu/cpu_kernels.h"
#include "core/dispatch.h"
#include "cuda/runtime.h"
#if defined(GLASSBOX_WITH_CUDA)
#include "cuda/gpu_kernels.h"
#endif

namespace glassbox::kernels {

Device common_device(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t->defined()) continue;  // optional operands (weight, bias)
    if (!first) first = t;
    GB_CHECK(t->device() == first->device(), op, ": tensors are on different devices (",
             first->device().str(), " and ", t->device().str(), ", shapes ", first->shape_str(),
             " and ", t->shape_str(), "); move one with .to(", first->device().str(), ")");
  }
  return first ? first->device() : kCPU;
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* name) {
  GB_CHECK(a.dtype() == b.dtype(), name, ": dtype mismatch ", dtype_name(a.dtype()), " vs ",
           dtype_name(b.dtype()), " (a ", a.shape_str(), ", b ", b.shape_str(),
           "); convert one with .to(dtype)");
}

void copy(const Tensor& dst, const Tensor& src) {
  if (dst.device() == src.device()) return GB_ROUTE(dst.device(), copy(dst, src));
  GB_CHECK(!(dst.device().is_cuda() && src.device().is_cuda()), "copy_: tensors on two GPUs (",
           dst.device().str(), ", ", src.device().str(), "); go through .cpu()");
  // Between host and device: one contiguous transfer of the destination's dtype and shape;
  // broadcasting, conversion and strides are done on whichever side holds that layout.
  const bool plain = dst.dtype() == src.dtype() && dst.shape() == src.shape() &&
                     dst.is_contiguous() && src.is_contiguous();
  if (dst.device().is_cuda()) {
    Tensor staged = src;
    if (!plain) {
      staged = empty(dst.shape(), TensorOptions().set_dtype(dst.dtype()));
      cpu::copy(staged, src);
    }
    if (dst.is_contiguous()) {
      if (dst.nbytes())
        cuda::copy_host_to_device(dst.raw_data(), staged.raw_data(), dst.nbytes(),
                                  dst.device().index);
    } else {
      Tensor on_device = staged.to(dst.device());
      copy(dst, on_device);
    }
    return;
  }
  Tensor staged = src;
  if (!plain) {
    staged = empty(dst.shape(), TensorOptions().set_dtype(dst.dtype()).set_device(src.device()));
    copy(staged, src);  // on the device: convert, broadcast and gather the strides there
  }
  if (dst.is_contiguous()) {
    if (dst.nbytes())
      cuda::copy_device_to_host(dst.raw_data(), staged.raw_data(), dst.nbytes(),
                                src.device().index);
  } else {
    cpu::copy(dst, staged.to(kCPU));
  }
}
void fill(const Tensor& dst, double value) {
  common_device("fill_", {&dst});
  GB_ROUTE(dst.device(), fill(dst, value));
}
Tensor binary(Binary op, const Tensor& a, const Tensor& b, const char* name) {
  return GB_ROUTE(common_device(name, {&a, &b}), binary(op, a, b, name));
}
void binary_(Binary op, const Tensor& dst, const Tensor& src, const char* name) {
  GB_ROUTE(common_device(name, {&dst, &src}), binary_(op, dst, src, name));
}
void axpy_(const Tensor& dst, const Tensor& src, double alpha) {
  GB_ROUTE(common_device("add_", {&dst, &src}), axpy_(dst, src, alpha));
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
    case Unary::Silu:
      return "silu";
    case Unary::Gelu:
    case Unary::GeluTanh:
      return "gelu";
    case Unary::LeakyRelu:
      return "leaky_relu";
    case Unary::Elu:
      return "elu";
    case Unary::Softplus:
      return "softplus";
    case Unary::Mish:
      return "mish";
    case Unary::Clamp:
      return "clamp";
    case Unary::SiluGrad:
      return "silu backward";
    case Unary::GeluGrad:
    case Unary::GeluTanhGrad:
      return "gelu backward";
    case Unary::LeakyReluGrad:
      return "leaky_relu backward";
    case Unary::EluGrad:
      return "elu backward";
    case Unary::SoftplusGrad:
      return "softplus backward";
    case Unary::MishGrad:
      return "mish backward";
    case Unary::InClosedRange:
      return "clamp backward";
    case Unary::InOpenRange:
      return "hardtanh backward";
  }
  return "unary op";
}

Tensor unary(Unary op, const Tensor& a, double param, double param2) {
  return GB_ROUTE(common_device(unary_name(op), {&a}), unary(op, a, param, param2));
}
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  const Device dev = common_device("where", {&cond, &a, &b});
  GB_CHECK(cond.dtype() == kBool, "where: condition must be bool, got ", dtype_name(cond.dtype()),
           " ", cond.shape_str(), "; build it with a comparison such as x > 0");
  check_same_dtype(a, b, "where");
  broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  return GB_ROUTE(dev, where(cond, a, b));
}
Tensor compare(Compare op, const Tensor& a, const Tensor& b, const char* name) {
  return GB_ROUTE(common_device(name, {&a, &b}), compare(op, a, b, name));
}
Tensor reduce(Reduce op, const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  return GB_ROUTE(common_device("reduce", {&a}), reduce(op, a, dims, keepdim));
}
std::pair<Tensor, Tensor> reduce_with_index(Reduce op, const Tensor& a, int64_t dim, bool keepdim) {
  return GB_ROUTE(common_device(op == Reduce::Max ? "max" : "min", {&a}),
                  reduce_with_index(op, a, dim, keepdim));
}
Tensor bmm(const Tensor& a, const Tensor& b) {
  return GB_ROUTE(common_device("matmul", {&a, &b}), bmm(a, b));
}
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index) {
  return GB_ROUTE(common_device("index_select", {&a, &index}), index_select(a, dim, index));
}
void index_add_(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) {
  GB_ROUTE(common_device("index_add_", {&dst, &index, &src}), index_add_(dst, dim, index, src));
}
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index) {
  return GB_ROUTE(common_device("gather", {&a, &index}), gather(a, dim, index));
}
void scatter_add_(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) {
  GB_ROUTE(common_device("scatter_add_", {&dst, &index, &src}), scatter_add_(dst, dim, index, src));
}
std::pair<Tensor, Tensor> sort_rows(const Tensor& a, bool descending) {
  GB_CHECK(a.dim() == 2 && a.is_contiguous(),
           "sort: internal: expected a contiguous 2-D input, got ", a.shape_str());
  return GB_ROUTE(common_device("sort", {&a}), sort_rows(a, descending));
}
void masked_fill_(const Tensor& dst, const Tensor& mask, double value) {
  GB_CHECK(dst.is_contiguous() && mask.is_contiguous() && mask.dtype() == kBool &&
               mask.shape() == dst.shape(),
           "masked_fill: internal: expected contiguous operands of one shape, got ",
           dst.shape_str(), " and a ", dtype_name(mask.dtype()), " mask ", mask.shape_str());
  GB_ROUTE(common_device("masked_fill", {&dst, &mask}), masked_fill_(dst, mask, value));
}
void random_fill(const Tensor& out, const RandomDist& dist, uint64_t seed, uint64_t base_offset) {
  GB_CHECK(is_floating(out.dtype()), "random_fill: needs a floating dtype, got ",
           dtype_name(out.dtype()), " (shape ", out.shape_str(), ")");
  GB_CHECK(out.is_contiguous(), "random_fill: the output ", out.shape_str(),
           " must be contiguous (element i takes the bits of counter i)");
  GB_ROUTE(common_device("random_fill", {&out}), random_fill(out, dist, seed, base_offset));
}

}  // namespace glassbox::kernels
