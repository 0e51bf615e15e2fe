#pragma once
// The one door to cuBLAS: a column-major, strided-batched GEMM with cuBLAS's own argument
// conventions, C[i] = alpha * op(A[i]) * op(B[i]) + beta * C[i] for i < batch, where
// A[i] = A + i * stride_a (and likewise B, C), op(X) is X or X^T, op(A) is m x k, op(B) is
// k x n and C is m x n. Every argument is checked against cuBLAS's documented rules (ld >=
// rows of the stored matrix, sizes >= 0 and within int) before the call, in every build: on
// the GPU the call is cublas<S|D>gemmStridedBatched on the device's stream; on the emulator a
// plain reference loop (blas_emu.cpp), so row-/column-major and leading-dimension mistakes
// fail the same way with or without a GPU.
#include <cstdint>

namespace glassbox::cuda {

enum class Trans { N, T };

struct GemmArgs {
  Trans trans_a = Trans::N, trans_b = Trans::N;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 1, ldb = 1, ldc = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;  // elements between batch entries
  int64_t batch = 1;
};

// Throws glassbox::Error naming the broken rule and every argument.
void check_gemm_args(const GemmArgs& g, const char* op);

void gemm(const GemmArgs& g, float alpha, const float* a, const float* b, float beta, float* c,
          int device);
void gemm(const GemmArgs& g, double alpha, const double* a, const double* b, double beta, double* c,
          int device);

}  // namespace glassbox::cuda
