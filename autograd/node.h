#pragma once
// A tape entry: what one differentiable op recorded. `sequence` is its position on the tape
// (a global counter), so walking entries from the highest sequence down replays the tape in
// reverse. The backward function is a lambda written next to the op's forward; whatever it
// captures is the op's saved state, and it is dropped as soon as backward has used it.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/tensor.h"

namespace glassbox::autograd {

// Given d(loss)/d(output), returns d(loss)/d(input) for each input (undefined = none).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Edge {
  std::shared_ptr<Node> node;        // the input was produced by a recorded op, or
  std::shared_ptr<TensorImpl> leaf;  // the input is a leaf that collects .grad(), or neither
  Shape shape;                       // the input's shape: backward must return exactly this
  DType dtype = kFloat32;
};

struct SavedVersion {  // detects in-place writes to tensors a backward still needs
  std::weak_ptr<Storage> storage;
  uint64_t version = 0;
};

struct Node {
  uint64_t sequence = 0;
  const char* name = "";
  std::vector<Edge> inputs;
  std::vector<SavedVersion> saved;
  BackwardFn backward;
  bool freed = false;
};

// True when grad mode is on and any of `inputs` requires grad.
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Records `out` as produced by op `name` from `inputs`. `saved` lists the tensors `backward`
// captured, so an in-place change to them before backward is caught.
void record(const char* name, const Tensor& out, const std::vector<Tensor>& inputs,
            BackwardFn backward, const std::vector<Tensor>& saved = {});

// The engine behind Tensor::backward.
void run_backward(const Tensor& root, const Tensor& gradient, bool retain_graph);

// Reduces a broadcast gradient back to `shape` (sums the broadcast dims).
Tensor sum_to(const Tensor& grad, const Shape& shape);

}  // namespace glassbox::autograd
