#pragma once
// CUDA bodies of core/kernels_conv.h (cuda/conv.cu). Operands arrive contiguous, on one CUDA
// device, with one floating dtype; `b` may be undefined. ConvKernel::Flat runs the tiled
// few-channel kernels, Im2col the im2col + cuBLAS path, Direct the reference kernels;
// ShiftGemm has no GPU version (the dispatch refuses it with a message).
#include "core/kernels_conv.h"

namespace glassbox::gpu {
using kernels::ConvGeometry;
using kernels::ConvKernel;

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const ConvGeometry& g,
                      ConvKernel k);
Tensor conv2d_grad_input(const Tensor& dy, const Tensor& w, const Tensor& b, const ConvGeometry& g,
                         ConvKernel k);
Tensor conv2d_grad_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g, ConvKernel k);
Tensor conv2d_grad_bias(const Tensor& dy);

}  // namespace glassbox::gpu
