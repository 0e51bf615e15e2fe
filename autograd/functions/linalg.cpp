// matmul: one differentiable primitive (batched 3-D GEMM) plus differentiable views that
// turn every torch.matmul case (1-D, 2-D, batched, broadcast batch dims) into it.
#include "autograd/node.h"
#include "core/kernels.h"
#include "core/ops.h"

namespace glassbox {
using autograd::needs_grad;
using autograd::record;

namespace {

// [B,n,k] @ [B,k,m]; backward multiplies by transposed views (no copies).
Tensor bmm(const Tensor& a, const Tensor& b) {
  Tensor out = kernels::bmm(a, b);
  if (needs_grad({a, b})) {
    Tensor sa = a.detach(), sb = b.detach();
    bool ga = a.requires_grad(), gb = b.requires_grad();
    record("MatmulBackward", out, {a, b},
           [sa, sb, ga, gb](const Tensor& g) {
             return std::vector<Tensor>{ga ? kernels::bmm(g, sb.transpose(1, 2)) : Tensor(),
                                        gb ? kernels::bmm(sa.transpose(1, 2), g) : Tensor()};
           },
           {a, b});
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  GB_CHECK(a.defined() && b.defined(), "matmul: undefined tensor");
  GB_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both operands need at least 1 dim (a ",
           a.shape_str(), ", b ", b.shape_str(), ")");
  GB_CHECK(a.dtype() == b.dtype(), "matmul: dtype mismatch ", dtype_name(a.dtype()), " vs ",
           dtype_name(b.dtype()), " (a ", a.shape_str(), ", b ", b.shape_str(), ")");
  GB_CHECK(is_floating(a.dtype()), "matmul: expected floating-point tensors, got ",
           dtype_name(a.dtype()));
  const int64_t k_a = a.size(-1), k_b = b.dim() == 1 ? b.size(0) : b.size(-2);
  GB_CHECK(k_a == k_b, "matmul: inner dimensions differ (a ", a.shape_str(), ", b ", b.shape_str(),
           "): ", k_a, " vs ", k_b);
  if (a.dim() == 1 && b.dim() == 1) return matmul(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul(a, b.unsqueeze(1)).squeeze(-1);
  const int64_t n = a.size(-2), m = b.size(-1);
  if (b.dim() == 2) {
    // [..., n, k] @ [k, m]: fold a's batch into rows, one big GEMM
    Shape out_shape(a.shape().begin(), a.shape().end() - 1);
    out_shape.push_back(m);
    const int64_t rows = numel_of(Shape(a.shape().begin(), a.shape().end() - 1));
    Tensor a3 = a.reshape({1, rows, k_a});
    return bmm(a3, b.unsqueeze(0)).reshape(out_shape);
  }
  Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  const int64_t B = numel_of(batch);
  Shape ea = batch, eb = batch;
  ea.insert(ea.end(), {n, k_a});
  eb.insert(eb.end(), {k_b, m});
  Tensor out = bmm(a.expand(ea).reshape({B, n, k_a}), b.expand(eb).reshape({B, k_b, m}));
  Shape out_shape = batch;
  out_shape.insert(out_shape.end(), {n, m});
  return out.reshape(out_shape);
}

}  // namespace glassbox
