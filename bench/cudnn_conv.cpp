#include "cudnn_conv.h"

#include <cudnn.h>

#include <string>

#include "core/error.h"
#include "cuda/context.h"

namespace glassbox::bench {
namespace {

void check(cudnnStatus_t status, const char* call) {
  GB_CHECK(status == CUDNN_STATUS_SUCCESS, "cuDNN: ", call,
           " failed: ", cudnnGetErrorString(status));
}
#define GB_CUDNN(call) check(call, #call)

constexpr size_t kMaxWorkspace = size_t(256) << 20;

}  // namespace

struct CudnnConv::Impl {
  Tensor x, w, y, dx, dw, workspace;
  cudnnHandle_t handle = nullptr;
  cudnnTensorDescriptor_t xd = nullptr, yd = nullptr;
  cudnnFilterDescriptor_t wd = nullptr;
  cudnnConvolutionDescriptor_t cd = nullptr;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
};

CudnnConv::CudnnConv(const Tensor& x, const Tensor& w) : impl_(new Impl) {
  GB_CHECK(x.device().is_cuda() && w.device() == x.device() && x.dtype() == kFloat32 &&
               w.dtype() == kFloat32 && x.dim() == 4 && w.dim() == 4 && x.size(1) == w.size(1),
           "CudnnConv: float32 x [N,C,H,W] and w [K,C,kh,kw] on one CUDA device, got ",
           x.shape_str(), " and ", w.shape_str());
  Impl& m = *impl_;
  m.x = x.contiguous();
  m.w = w.contiguous();
  const int dev = x.device().index;
  GB_CUDNN(cudnnCreate(&m.handle));
  GB_CUDNN(cudnnSetStream(m.handle, cuda::stream(dev)));
  GB_CUDNN(cudnnCreateTensorDescriptor(&m.xd));
  GB_CUDNN(cudnnCreateTensorDescriptor(&m.yd));
  GB_CUDNN(cudnnCreateFilterDescriptor(&m.wd));
  GB_CUDNN(cudnnCreateConvolutionDescriptor(&m.cd));
  GB_CUDNN(cudnnSetTensor4dDescriptor(m.xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(x.size(0)),
                                      int(x.size(1)), int(x.size(2)), int(x.size(3))));
  GB_CUDNN(cudnnSetFilter4dDescriptor(m.wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(w.size(0)),
                                      int(w.size(1)), int(w.size(2)), int(w.size(3))));
  GB_CUDNN(cudnnSetConvolution2dDescriptor(m.cd, 0, 0, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                           CUDNN_DATA_FLOAT));
  int n = 0, c = 0, h = 0, wo = 0;
  GB_CUDNN(cudnnGetConvolution2dForwardOutputDim(m.cd, m.xd, m.wd, &n, &c, &h, &wo));
  GB_CUDNN(cudnnSetTensor4dDescriptor(m.yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, wo));
  const auto opts = TensorOptions().set_device(x.device());
  m.y = empty({n, c, h, wo}, opts);
  m.dx = empty(x.shape(), opts);
  m.dw = empty(w.shape(), opts);

  // cuDNN's heuristics, best first: the first whose workspace fits
  int found = 0;
  cudnnConvolutionFwdAlgoPerf_t fwd[8];
  GB_CUDNN(
      cudnnGetConvolutionForwardAlgorithm_v7(m.handle, m.xd, m.wd, m.cd, m.yd, 8, &found, fwd));
  size_t need = 0;
  for (int i = 0; i < found; ++i)
    if (fwd[i].status == CUDNN_STATUS_SUCCESS && fwd[i].memory <= kMaxWorkspace) {
      m.fwd = fwd[i].algo;
      need = std::max(need, fwd[i].memory);
      break;
    }
  cudnnConvolutionBwdDataAlgoPerf_t bd[8];
  GB_CUDNN(
      cudnnGetConvolutionBackwardDataAlgorithm_v7(m.handle, m.wd, m.yd, m.cd, m.xd, 8, &found, bd));
  for (int i = 0; i < found; ++i)
    if (bd[i].status == CUDNN_STATUS_SUCCESS && bd[i].memory <= kMaxWorkspace) {
      m.bwd_data = bd[i].algo;
      need = std::max(need, bd[i].memory);
      break;
    }
  cudnnConvolutionBwdFilterAlgoPerf_t bf[8];
  GB_CUDNN(cudnnGetConvolutionBackwardFilterAlgorithm_v7(m.handle, m.xd, m.yd, m.cd, m.wd, 8,
                                                         &found, bf));
  for (int i = 0; i < found; ++i)
    if (bf[i].status == CUDNN_STATUS_SUCCESS && bf[i].memory <= kMaxWorkspace) {
      m.bwd_filter = bf[i].algo;
      need = std::max(need, bf[i].memory);
      break;
    }
  m.workspace =
      empty({int64_t(need) + 1}, TensorOptions().set_dtype(DType::UInt8).set_device(x.device()));
}

CudnnConv::~CudnnConv() {
  Impl& m = *impl_;
  cudnnDestroyConvolutionDescriptor(m.cd);
  cudnnDestroyFilterDescriptor(m.wd);
  cudnnDestroyTensorDescriptor(m.yd);
  cudnnDestroyTensorDescriptor(m.xd);
  cudnnDestroy(m.handle);
  delete impl_;
}

Tensor CudnnConv::forward() {
  Impl& m = *impl_;
  const float one = 1.f, zero = 0.f;
  GB_CUDNN(cudnnConvolutionForward(m.handle, &one, m.xd, m.x.raw_data(), m.wd, m.w.raw_data(), m.cd,
                                   m.fwd, m.workspace.raw_data(), size_t(m.workspace.numel()),
                                   &zero, m.yd, m.y.raw_data()));
  return m.y;
}

void CudnnConv::backward(const Tensor& dy_in) {
  Impl& m = *impl_;
  const Tensor dy = dy_in.contiguous();
  GB_CHECK(dy.shape() == m.y.shape(), "CudnnConv::backward: dy ", dy.shape_str(), ", y ",
           m.y.shape_str());
  const float one = 1.f, zero = 0.f;
  GB_CUDNN(cudnnConvolutionBackwardData(m.handle, &one, m.wd, m.w.raw_data(), m.yd, dy.raw_data(),
                                        m.cd, m.bwd_data, m.workspace.raw_data(),
                                        size_t(m.workspace.numel()), &zero, m.xd, m.dx.raw_data()));
  GB_CUDNN(cudnnConvolutionBackwardFilter(
      m.handle, &one, m.xd, m.x.raw_data(), m.yd, dy.raw_data(), m.cd, m.bwd_filter,
      m.workspace.raw_data(), size_t(m.workspace.numel()), &zero, m.wd, m.dw.raw_data()));
}

std::string CudnnConv::algorithms() const {
  return "fwd " + std::to_string(int(impl_->fwd)) + ", bwd_data " +
         std::to_string(int(impl_->bwd_data)) + ", bwd_filter " +
         std::to_string(int(impl_->bwd_filter));
}

}  // namespace glassbox::bench
