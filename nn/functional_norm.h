#pragma once
// nn::functional: normalisation, embedding and channel dropout (autograd/functions/norm.cpp).
// Layer and group norm reuse the batch-norm kernels on a reshaped view, so they run on every
// device the batch norm does, with the same two-pass float64 statistics.
#include <cstdint>
#include <optional>
#include <vector>

#include "core/generator.h"
#include "core/tensor.h"

namespace glassbox::nn::functional {

// Normalises over the last normalized_shape.size() dims, which must equal normalized_shape:
// (x - mean) / sqrt(var + eps) with the biased variance, then * weight + bias (each
// normalized_shape, or undefined).
Tensor layer_norm(const Tensor& input, const std::vector<int64_t>& normalized_shape,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  double eps = 1e-5);

// input [N, C, *]: the C channels split into num_groups groups of C / num_groups; each
// (sample, group) is normalised over its channels and spatial positions, then weight[c] and
// bias[c] ([C] or undefined) are applied per channel.
Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

// input: int64 indices of any shape, each in [0, num_embeddings); weight [num_embeddings,
// embedding_dim]. Returns input.shape + [embedding_dim]. Rows looked up at padding_idx
// (negative counts from the end) get no gradient.
Tensor embedding(const Tensor& input, const Tensor& weight,
                 std::optional<int64_t> padding_idx = std::nullopt);

// input [N, C, H, W] or [C, H, W]: while training, zeroes each whole channel with
// probability p and scales the kept ones by 1 / (1 - p); the identity otherwise.
Tensor dropout2d(const Tensor& input, double p = 0.5, bool training = true,
                 Generator* gen = nullptr);

}  // namespace glassbox::nn::functional
