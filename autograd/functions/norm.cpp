// Normalisation, embedding and channel dropout (nn/functional_norm.h).
//
// Layer norm and group norm are batch norm in training mode on a reshaped view. Batch norm
// over x3 [N, C, S] normalises each channel c over its N * S values; layer norm of x with R
// rows of K values each is that with x3 = [1, R, K] (every row a "channel"), and group norm
// of [N, C, *] with G groups is x3 = [1, N * G, (C / G) * S]. So the statistics (two passes
// in double), the normalising forward and the backward through the statistics,
//   dx = invstd * (g - mean(g) - xhat * mean(g * xhat))   (means over the K values of a row),
// are the batch-norm kernels on every device, with no new kernel and one tape entry. The
// affine part differs (per element of normalized_shape, per channel), so it is an ordinary
// broadcast mul/add after the normalisation.
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "core/generator.h"
#include "core/kernels.h"
#include "core/kernels_nn.h"
#include "core/ops.h"
#include "nn/functional.h"

namespace glassbox::nn::functional {
using autograd::needs_grad;
using autograd::record;

namespace {

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

void check_float(const char* op, const Tensor& t, const char* what) {
  GB_CHECK(t.defined(), op, ": ", what, " is undefined");
  GB_CHECK(is_floating(t.dtype()), op, ": expected a floating-point ", what, ", got ",
           dtype_name(t.dtype()), " ", t.shape_str());
}

// (x - mean) * invstd per row of x viewed as [R, K]; differentiable in x through the stats.
Tensor normalize_rows(const Tensor& input, int64_t R, int64_t K, double eps, const char* name) {
  Tensor x3 = input.detach().reshape({1, R, K});
  Tensor mean, invstd;
  {
    NoGradGuard no_record;
    auto [m, v] = kernels::batch_norm_stats(x3);
    mean = m;
    invstd = 1.0 / sqrt(v + eps);
  }
  Tensor out =
      kernels::batch_norm_forward(x3, mean, invstd, Tensor(), Tensor()).view(input.shape());
  if (needs_grad({input}))
    record(name, out, {input},
           [x3, mean, invstd, R, K, shape = input.shape()](const Tensor& g) {
             auto [gx, gw, gb] = kernels::batch_norm_backward(
                 g.reshape({1, R, K}), x3, mean, invstd, Tensor(), true, {true, false, false});
             return std::vector<Tensor>{gx.view(shape)};
           },
           {input});  // x3 may be a view of the input: an in-place change is caught
  return out;
}

}  // namespace

// ---------------------------------------------------------------- layer norm
Tensor layer_norm(const Tensor& input, const std::vector<int64_t>& normalized_shape,
                  const Tensor& weight, const Tensor& bias, double eps) {
  check_float("layer_norm", input, "input");
  const int64_t nd = int64_t(normalized_shape.size());
  GB_CHECK(nd > 0, "layer_norm: normalized_shape must not be empty (input ", input.shape_str(),
           ")");
  bool match = input.dim() >= nd;
  int64_t K = 1;
  for (int64_t i = 0; match && i < nd; ++i) {
    match = input.size(input.dim() - nd + i) == normalized_shape[size_t(i)];
    K *= normalized_shape[size_t(i)];
  }
  GB_CHECK(match, "layer_norm: normalized_shape ", dims_str(normalized_shape),
           " does not match the input's last dims (input ", input.shape_str(), ")");
  GB_CHECK(eps >= 0.0, "layer_norm: eps must be non-negative, got ", eps);
  for (const Tensor* t : {&weight, &bias}) {
    if (!t->defined()) continue;
    const char* what = t == &weight ? "weight" : "bias";
    check_float("layer_norm", *t, what);
    GB_CHECK(t->shape() == Shape(normalized_shape.begin(), normalized_shape.end()),
             "layer_norm: ", what, " ", t->shape_str(), " must have normalized_shape ",
             dims_str(normalized_shape), " (input ", input.shape_str(), ")");
    GB_CHECK(t->dtype() == input.dtype(), "layer_norm: ", what, " is ", dtype_name(t->dtype()),
             " but input is ", dtype_name(input.dtype()), " ", input.shape_str());
  }
  if (input.numel() == 0) return input * 1.0;
  Tensor out = normalize_rows(input, input.numel() / K, K, eps, "LayerNormBackward");
  if (weight.defined()) out = out * weight;
  if (bias.defined()) out = out + bias;
  return out;
}

// ---------------------------------------------------------------- group norm
Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight, const Tensor& bias,
                  double eps) {
  check_float("group_norm", input, "input");
  GB_CHECK(input.dim() >= 2, "group_norm: expected an input [N, C, *] with at least 2 dims, got ",
           input.shape_str());
  const int64_t N = input.size(0), C = input.size(1);
  GB_CHECK(num_groups > 0, "group_norm: num_groups must be positive, got ", num_groups, " (input ",
           input.shape_str(), ")");
  GB_CHECK(C % num_groups == 0, "group_norm: expected the number of channels ", C,
           " to be divisible by num_groups ", num_groups, " (input ", input.shape_str(), ")");
  GB_CHECK(eps >= 0.0, "group_norm: eps must be non-negative, got ", eps);
  for (const Tensor* t : {&weight, &bias}) {
    if (!t->defined()) continue;
    const char* what = t == &weight ? "weight" : "bias";
    check_float("group_norm", *t, what);
    GB_CHECK(t->dim() == 1 && t->size(0) == C, "group_norm: ", what, " ", t->shape_str(),
             " does not match the ", C, " channels of input ", input.shape_str());
    GB_CHECK(t->dtype() == input.dtype(), "group_norm: ", what, " is ", dtype_name(t->dtype()),
             " but input is ", dtype_name(input.dtype()), " ", input.shape_str());
  }
  if (input.numel() == 0) return input * 1.0;
  const int64_t K = input.numel() / (N * num_groups);  // (C / G) * spatial
  Tensor out = normalize_rows(input, N * num_groups, K, eps, "GroupNormBackward");
  // weight/bias [C] as [C, 1, ..., 1], broadcasting over the spatial dims
  Shape per_channel(size_t(input.dim() - 1), 1);
  per_channel[0] = C;
  if (weight.defined()) out = out * weight.view(per_channel);
  if (bias.defined()) out = out + bias.view(per_channel);
  return out;
}

// ---------------------------------------------------------------- embedding
Tensor embedding(const Tensor& input, const Tensor& weight, std::optional<int64_t> padding_idx) {
  GB_CHECK(input.defined() && weight.defined(), "embedding: undefined tensor");
  check_float("embedding", weight, "weight");
  GB_CHECK(weight.dim() == 2, "embedding: weight must be 2-D [num_embeddings, embedding_dim], got ",
           weight.shape_str());
  GB_CHECK(input.dtype() == kInt64, "embedding: indices must be int64, got ",
           dtype_name(input.dtype()), " ", input.shape_str());
  const int64_t num = weight.size(0), D = weight.size(1);
  if (padding_idx) {
    GB_CHECK(*padding_idx >= -num && *padding_idx < num, "embedding: padding_idx ", *padding_idx,
             " must be within num_embeddings ", num, " (weight ", weight.shape_str(), ")");
    if (*padding_idx < 0) padding_idx = *padding_idx + num;
  }
  Tensor idx = input.contiguous().reshape({input.numel()});
  // on CUDA a deferred check (no host wait), reported at the next wait with this message
  kernels::nll_check_targets(
      idx, num, 0, [num, w = weight.shape_str(), i = input.shape_str()](int64_t bad) {
        return str("embedding: index ", bad, " is out of range for num_embeddings ", num,
                   " (weight ", w, ", indices ", i, ")");
      });
  Shape out_shape = input.shape();
  out_shape.push_back(D);
  Tensor out = kernels::index_select(weight.detach(), 0, idx).view(out_shape);
  if (needs_grad({weight})) {
    record(
        "EmbeddingBackward", out, {weight},
        [idx, num, D, padding_idx](const Tensor& g) {
          Tensor g2 = g.reshape({idx.numel(), D});
          if (padding_idx)  // looked-up padding rows contribute nothing
            g2 = g2 * (idx != double(*padding_idx)).to(g.dtype()).unsqueeze(1);
          Tensor gw = zeros({num, D}, TensorOptions().set_dtype(g.dtype()).set_device(g.device()));
          kernels::index_add_(gw, 0, idx, g2.contiguous());
          return std::vector<Tensor>{gw};
        },
        {idx});  // idx may share the caller's indices: an in-place change to them is caught
  }
  return out;
}

// ---------------------------------------------------------------- channel dropout
Tensor dropout2d(const Tensor& input, double p, bool training, Generator* gen) {
  check_float("dropout2d", input, "input");
  GB_CHECK(input.dim() == 3 || input.dim() == 4,
           "dropout2d: expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got ",
           input.shape_str());
  GB_CHECK(p >= 0.0 && p <= 1.0, "dropout2d: probability has to be between 0 and 1, but got ", p,
           " (input ", input.shape_str(), ")");
  if (!training || p == 0.0) return input;
  if (p == 1.0) return input * 0.0;
  // one keep-or-drop draw per (sample, channel), broadcast over H and W; the mask is scaled
  // by 1 / (1 - p) already, as in dropout, so its backward is the same product
  Shape mask_shape = input.shape();
  mask_shape[mask_shape.size() - 1] = 1;
  mask_shape[mask_shape.size() - 2] = 1;
  Tensor mask =
      empty(mask_shape, TensorOptions().set_dtype(input.dtype()).set_device(input.device()));
  random_fill_(mask, RandomDist::keep_mask(1.0 - p, 1.0 / (1.0 - p)), gen);
  Tensor out = kernels::binary(kernels::Binary::Mul, input, mask, "dropout2d");
  if (needs_grad({input}))
    record("Dropout2dBackward", out, {input}, [mask](const Tensor& g) {
      return std::vector<Tensor>{kernels::binary(kernels::Binary::Mul, g, mask, "dropout2d")};
    });
  return out;
}

}  // namespace glassbox::nn::functional
