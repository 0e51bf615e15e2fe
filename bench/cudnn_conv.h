#pragma once
// cuDNN as the yardstick of bench_notebook's convolution case (GLASSBOX_CUDNN=ON, real CUDA
// builds only): the same conv2d glassbox runs, forward and both gradients, by cuDNN on
// glassbox's stream, with cuDNN's own pick of algorithm (its heuristics, the fastest that
// fits a 256 MiB workspace). Never part of the library: glassbox's kernels are the product,
// cuDNN only tells how far they are from a vendor library on the same GPU.
#include "core/tensor.h"

namespace glassbox::bench {

struct CudnnConv {
  // x [N, C, H, W], w [K, C, kh, kw] float32 on one CUDA device; no padding, stride 1.
  CudnnConv(const Tensor& x, const Tensor& w);
  ~CudnnConv();
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;

  Tensor forward();                 // y = conv2d(x, w)
  void backward(const Tensor& dy);  // dx and dw, as training computes them
  std::string algorithms() const;   // the ones cuDNN picked, for the report

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace glassbox::bench
