#pragma once
// Embedding, as torch::nn's: a lookup table [num_embeddings, embedding_dim] indexed by int64
// tensors of any shape. weight starts as N(0, 1), with the padding_idx row zero; that row
// gets no gradient from lookups.
#include <cstdint>
#include <optional>
#include <ostream>

#include "nn/module.h"
#include "nn/options.h"

namespace glassbox::nn {

struct EmbeddingOptions {
  EmbeddingOptions(int64_t num_embeddings, int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  GB_ARG(int64_t, num_embeddings);
  GB_ARG(int64_t, embedding_dim);
  // a row that lookups do not train (negative counts from the end, as PyTorch)
  GB_ARG(std::optional<int64_t>, padding_idx) = std::nullopt;
};

class EmbeddingImpl : public Module {
 public:
  EmbeddingImpl(int64_t num_embeddings, int64_t embedding_dim)
      : EmbeddingImpl(EmbeddingOptions(num_embeddings, embedding_dim)) {}
  explicit EmbeddingImpl(const EmbeddingOptions& options);
  void reset_parameters();  // N(0, 1), padding row zero
  // indices (int64, any shape) -> [..., embedding_dim]
  Tensor forward(const Tensor& input);
  void pretty_print(std::ostream& os) const override;

  EmbeddingOptions options;  // padding_idx stored non-negative
  Tensor weight;             // [num_embeddings, embedding_dim]
};

// GB_MODULE(Embedding) spelled out, to add LibTorch's Embedding::from_pretrained.
class Embedding : public ModuleHolder<EmbeddingImpl> {
 public:
  using ModuleHolder<EmbeddingImpl>::ModuleHolder;
  // An Embedding whose weight is a copy of `embeddings` [num, dim] (its dtype and device);
  // frozen (requires_grad false, so not trained) unless freeze is false. The padding row is
  // kept as given.
  static Embedding from_pretrained(const Tensor& embeddings, bool freeze = true,
                                   std::optional<int64_t> padding_idx = std::nullopt);
};

}  // namespace glassbox::nn
