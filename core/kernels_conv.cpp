// Device dispatch for the convolution kernels (same pattern as core/kernels.cpp): operands
// must share a device; CPU goes to core/cpu/conv_*.cpp, CUDA to cuda/conv.cu. Shapes and
// dtypes were checked by the caller (autograd/functions/conv.cpp); this layer re-checks the
// cheap invariants it relies on.
#include "core/kernels.h"
#include "core/kernels_conv.h"

#include <initializer_list>

#include "core/cpu/conv_cpu.h"
#include "core/dispatch.h"
#if defined(GLASSBOX_WITH_CUDA)
#include "cuda/gpu_conv_kernels.h"
#endif

namespace glassbox::kernels {
namespace {

void expect(const char* op, const char* what, const Tensor& t, const Shape& shape, DType dt) {
  GB_CHECK(t.shape() == shape, op, ": internal error: ", what, " has shape ", t.shape_str(),
           ", expected ", shape_str(shape));
  GB_CHECK(t.dtype() == dt, op, ": internal error: ", what, " is ", dtype_name(t.dtype()),
           ", expected ", dtype_name(dt));
}

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? t.contiguous() : t; }

// The operands' one device (core/dispatch.h); CUDA has no ShiftGemm.
Device operands_device(const char* op, ConvKernel k, std::initializer_list<const Tensor*> ts) {
  const Device d = common_device(op, ts);
  GB_CHECK(!(d.is_cuda() && k == ConvKernel::ShiftGemm), op,
           ": the shiftgemm algorithm has no CUDA version; on ", d.str(),
           " use auto, flat, im2col or direct");
  return d;
}

#if defined(GLASSBOX_WITH_CUDA)
#define GB_CONV_ON_GPU(device, call) \
  if ((device).is_cuda()) return gpu::call
#else
#define GB_CONV_ON_GPU(device, call) (void)(device)
#endif

}  // namespace

const char* conv_kernel_name(ConvKernel k) {
  switch (k) {
    case ConvKernel::Direct:
      return "direct";
    case ConvKernel::ShiftGemm:
      return "shiftgemm";
    case ConvKernel::Im2col:
      return "im2col";
    case ConvKernel::Flat:
      return "flat";
  }
  return "?";
}

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const ConvGeometry& g,
                      ConvKernel k, const char* op) {
  const Device device = operands_device(op, k, {&x, &w, &b});
  expect(op, "input", x, g.input_shape(), x.dtype());
  expect(op, "weight", w, g.weight_shape(), x.dtype());
  if (b.defined()) expect(op, "bias", b, {g.out_channels}, x.dtype());
  Tensor xc = x.contiguous(), wc = w.contiguous(), bc = contiguous_or_undefined(b);
  GB_CONV_ON_GPU(device, conv2d_forward(xc, wc, bc, g, k));
  switch (k) {
    case ConvKernel::Direct:
      return cpu::conv2d_forward_direct(xc, wc, bc, g);
    case ConvKernel::ShiftGemm:
      return cpu::conv2d_forward_shiftgemm(xc, wc, bc, g);
    case ConvKernel::Im2col:
      return cpu::conv2d_forward_im2col(xc, wc, bc, g);
    case ConvKernel::Flat:
      return cpu::conv2d_forward_flat(xc, wc, bc, g);
  }
  fail(str(op, ": unknown convolution algorithm"));
}

Tensor conv2d_grad_input(const Tensor& dy, const Tensor& w, const Tensor& b, const ConvGeometry& g,
                         ConvKernel k, const char* op) {
  const Device device = operands_device(op, k, {&dy, &w, &b});
  expect(op, "output gradient", dy, g.output_shape(), dy.dtype());
  expect(op, "weight", w, g.weight_shape(), dy.dtype());
  if (b.defined()) expect(op, "bias", b, {g.in_channels}, dy.dtype());
  Tensor dyc = dy.contiguous(), wc = w.contiguous(), bc = contiguous_or_undefined(b);
  GB_CONV_ON_GPU(device, conv2d_grad_input(dyc, wc, bc, g, k));
  switch (k) {
    case ConvKernel::Direct:
      return cpu::conv2d_grad_input_direct(dyc, wc, bc, g);
    case ConvKernel::ShiftGemm:
      return cpu::conv2d_grad_input_shiftgemm(dyc, wc, bc, g);
    case ConvKernel::Im2col:
      return cpu::conv2d_grad_input_im2col(dyc, wc, bc, g);
    case ConvKernel::Flat:
      return cpu::conv2d_grad_input_flat(dyc, wc, bc, g);
  }
  fail(str(op, ": unknown convolution algorithm"));
}

Tensor conv2d_grad_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g, ConvKernel k,
                          const char* op) {
  const Device device = operands_device(op, k, {&x, &dy});
  expect(op, "input", x, g.input_shape(), x.dtype());
  expect(op, "output gradient", dy, g.output_shape(), x.dtype());
  Tensor xc = x.contiguous(), dyc = dy.contiguous();
  GB_CONV_ON_GPU(device, conv2d_grad_weight(xc, dyc, g, k));
  switch (k) {
    case ConvKernel::Direct:
      return cpu::conv2d_grad_weight_direct(xc, dyc, g);
    case ConvKernel::ShiftGemm:
      return cpu::conv2d_grad_weight_shiftgemm(xc, dyc, g);
    case ConvKernel::Im2col:
      return cpu::conv2d_grad_weight_im2col(xc, dyc, g);
    case ConvKernel::Flat:
      return cpu::conv2d_grad_weight_flat(xc, dyc, g);
  }
  fail(str(op, ": unknown convolution algorithm"));
}

Tensor conv2d_grad_bias(const Tensor& dy, const char* op) {
  const Device device = operands_device(op, ConvKernel::Direct, {&dy});
  GB_CHECK(dy.dim() == 4, op, ": internal error: bias gradient of a ", dy.shape_str(), " tensor");
  GB_CONV_ON_GPU(device, conv2d_grad_bias(dy));
  return cpu::conv2d_grad_bias(dy.contiguous());
}

}  // namespace glassbox::kernels
