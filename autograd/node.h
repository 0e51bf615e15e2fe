#pragma once
// A tape entry: what one differentiable op recorded. `sequence` is its position on the tape
// (a global counter), so walking entries from the highest sequence down replays the tape in
// reverse. The backward function is a lambda written next to the op's forward; whatever it
// captures is the op's saved state, and it is dropped as soon as backward has used it.
// In anomaly mode (autograd/anomaly.h) an entry also keeps a short description of where it was
// recorded, for the error that names an op whose backward made a NaN/Inf.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
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
  // anomaly mode only, else empty (no allocation): "tape entry #12 (LogBackward), input [3]
  // -> output [3], in Net.fc1 (Linear)"
  std::string recorded_at;
  // anomaly mode: the output was already non-finite because an input was, so the NaN/Inf its
  // backward passes on is not this op's doing
  bool non_finite_input = false;
};

// True when grad mode is on and any of `inputs` requires grad.
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Records `out` as produced by op `name` from `inputs`. `saved` lists the tensors `backward`
// captured, so an in-place change to them before backward is caught.
void record(const char* name, const Tensor& out, const std::vector<Tensor>& inputs,
            BackwardFn backward, const std::vector<Tensor>& saved = {});

// Anomaly-mode checks (autograd/anomaly.cpp), called only while the mode is on. The first
// fills node.recorded_at and throws when `out` holds NaN/Inf but no floating input does; the
// second throws when a gradient backward returned for a needed input holds NaN/Inf while
// `grad_output` was finite.
void anomaly_on_record(Node& node, const Tensor& out, const std::vector<Tensor>& inputs);
void anomaly_on_backward(const Node& node, const Tensor& grad_output,
                         const std::vector<Tensor>& grads);

// The engine behind Tensor::backward.
void run_backward(const Tensor& root, const Tensor& gradient, bool retain_graph);

// Reduces a broadcast gradient back to `shape` (sums the broadcast dims).
Tensor sum_to(const Tensor& grad, const Shape& shape);

}  // namespace glassbox::autograd
