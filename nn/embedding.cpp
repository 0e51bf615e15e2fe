#include "nn/embedding.h"

#include "autograd/grad_mode.h"
#include "nn/functional.h"
#include "nn/init.h"
#include "nn/repr.h"

namespace glassbox::nn {

EmbeddingImpl::EmbeddingImpl(const EmbeddingOptions& opts) : options(opts) {
  const int64_t num = options.num_embeddings(), dim = options.embedding_dim();
  GB_CHECK(num > 0 && dim > 0, "Embedding: num_embeddings and embedding_dim must be positive, got ",
           num, " and ", dim);
  if (auto p = options.padding_idx()) {
    GB_CHECK(*p >= -num && *p < num, "Embedding: padding_idx ", *p,
             " must be within num_embeddings ", num);
    if (*p < 0) options.padding_idx(*p + num);
  }
  weight = register_parameter("weight", empty({num, dim}));
  reset_parameters();
}

void EmbeddingImpl::reset_parameters() {
  init::normal_(weight);
  if (auto p = options.padding_idx()) {
    NoGradGuard no_record;
    weight.select(0, *p).zero_();
  }
}

Tensor EmbeddingImpl::forward(const Tensor& input) {
  return detail::with_module_errors(
      *this, [&] { return functional::embedding(input, weight, options.padding_idx()); });
}

void EmbeddingImpl::pretty_print(std::ostream& os) const {
  os << "Embedding(" << options.num_embeddings() << ", " << options.embedding_dim();
  if (options.padding_idx()) os << ", padding_idx=" << *options.padding_idx();
  os << ")";
}

Embedding Embedding::from_pretrained(const Tensor& embeddings, bool freeze,
                                     std::optional<int64_t> padding_idx) {
  GB_CHECK(embeddings.defined() && embeddings.dim() == 2,
           "Embedding::from_pretrained: embeddings must be 2-D [num_embeddings, embedding_dim], "
           "got ",
           embeddings.defined() ? embeddings.shape_str() : std::string("undefined"));
  GB_CHECK(is_floating(embeddings.dtype()),
           "Embedding::from_pretrained: embeddings must be floating-point, got ",
           dtype_name(embeddings.dtype()));
  Embedding e(EmbeddingOptions(embeddings.size(0), embeddings.size(1)).padding_idx(padding_idx));
  e->to(embeddings.dtype());  // in place: the weight handle stays the registered parameter
  e->to(embeddings.device());
  {
    NoGradGuard no_record;
    e->weight.copy_(embeddings.detach());
  }
  e->weight.requires_grad_(!freeze);
  return e;
}

}  // namespace glassbox::nn
