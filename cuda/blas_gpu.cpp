// cuda::gemm on cuBLAS: one handle per device, bound to the device's stream. The arguments
// were checked by check_gemm_args first, so a cuBLAS status here is an environment problem
// (out of memory, no kernel image for this GPU), reported with cuBLAS's own status name.
#include <cublas_v2.h>

#include <mutex>

#include "core/error.h"
#include "cuda/blas.h"
#include "cuda/context.h"

namespace glassbox::cuda {
namespace {

void check_blas(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS)
    fail(str(what, ": cuBLAS failed with ", cublasGetStatusName(st), " (",
             cublasGetStatusString(st), ")"));
}

cublasHandle_t handle(int device) {
  constexpr int kMaxDevices = 64;
  static std::once_flag once[kMaxDevices];
  static cublasHandle_t handles[kMaxDevices];
  GB_CHECK(device >= 0 && device < kMaxDevices, "gemm: bad device index ", device);
  use_device(device, "gemm");
  std::call_once(once[device], [&] {
    check_blas(cublasCreate(&handles[device]), "cublasCreate");
    check_blas(cublasSetStream(handles[device], stream(device)), "cublasSetStream");
  });
  return handles[device];
}

cublasOperation_t op(Trans t) { return t == Trans::N ? CUBLAS_OP_N : CUBLAS_OP_T; }

}  // namespace

void gemm(const GemmArgs& g, float alpha, const float* a, const float* b, float beta, float* c,
          int device) {
  check_gemm_args(g, "gemm");
  if (g.batch == 0 || g.m == 0 || g.n == 0) return;
  check_blas(
      cublasSgemmStridedBatched(handle(device), op(g.trans_a), op(g.trans_b), int(g.m), int(g.n),
                                int(g.k), &alpha, a, int(g.lda), g.stride_a, b, int(g.ldb),
                                g.stride_b, &beta, c, int(g.ldc), g.stride_c, int(g.batch)),
      "cublasSgemmStridedBatched");
}

void gemm(const GemmArgs& g, double alpha, const double* a, const double* b, double beta, double* c,
          int device) {
  check_gemm_args(g, "gemm");
  if (g.batch == 0 || g.m == 0 || g.n == 0) return;
  check_blas(
      cublasDgemmStridedBatched(handle(device), op(g.trans_a), op(g.trans_b), int(g.m), int(g.n),
                                int(g.k), &alpha, a, int(g.lda), g.stride_a, b, int(g.ldb),
                                g.stride_b, &beta, c, int(g.ldc), g.stride_c, int(g.batch)),
      "cublasDgemmStridedBatched");
}

}  // namespace glassbox::cuda
