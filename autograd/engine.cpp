// The tape and its reverse walk. Recording gives each entry the next sequence number; the
// entries reachable from the loss are replayed from the newest down, which guarantees that
// an entry's output gradient is complete (every consumer is newer) before it runs.
// Anomaly mode (autograd/anomaly.h) hooks in at the two points every value passes: record()
// checks each op's output, the walk checks each gradient a backward returns; when the mode is
// off each costs one branch.
#include <atomic>
#include <queue>
#include <unordered_map>

#include "autograd/anomaly.h"
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "core/kernels.h"
#include "core/ops.h"

namespace glassbox {
namespace {
thread_local bool g_grad_enabled = true;
std::atomic<uint64_t> g_next_sequence{1};
}  // namespace

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

namespace autograd {

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}
bool needs_grad(std::initializer_list<Tensor> inputs) {
  return needs_grad(std::vector<Tensor>(inputs));
}

void record(const char* name, const Tensor& out, const std::vector<Tensor>& inputs,
            BackwardFn backward, const std::vector<Tensor>& saved) {
  auto node = std::make_shared<Node>();
  node->sequence = g_next_sequence.fetch_add(1);
  node->name = name;
  node->backward = std::move(backward);
  for (const Tensor& in : inputs) {
    Edge e;
    if (in.defined()) {
      e.shape = in.shape();
      e.dtype = in.dtype();
      if (in.impl()->grad_fn)
        e.node = in.impl()->grad_fn;
      else if (in.impl()->requires_grad)
        e.leaf = in.impl_ptr();
    }
    node->inputs.push_back(std::move(e));
  }
  if (is_anomaly_enabled()) anomaly_on_record(*node, out, inputs);  // may throw: nothing is set
  for (const Tensor& s : saved)
    if (s.defined()) node->saved.push_back({s.impl()->storage, s.impl()->storage->version()});
  out.impl()->grad_fn = std::move(node);
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const int64_t lead = grad.dim() - static_cast<int64_t>(shape.size());
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < grad.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && grad.size(d) != 1)) dims.push_back(d);
  Tensor r = dims.empty() ? grad : kernels::reduce(kernels::Reduce::Sum, grad, dims, true);
  return r.reshape(shape);
}

namespace {

void accumulate(TensorImpl* leaf, const Tensor& g) {
  // a backward that builds its result on the wrong device would otherwise go unnoticed until
  // the optimizer mixes devices, far from the op at fault
  const Device at = leaf->storage->device();
  GB_CHECK(g.device() == at, "backward: the gradient of a leaf on ", at.str(), " (shape ",
           shape_str(leaf->sizes), ") arrived on ", g.device().str(),
           "; the backward of an op that used this leaf built it on the wrong device");
  if (!leaf->grad) {
    // a fresh buffer: the incoming gradient may be shared with another input's
    Tensor fresh = empty(g.shape(), TensorOptions().set_dtype(g.dtype()).set_device(g.device()));
    kernels::copy(fresh, g);
    leaf->grad = fresh.impl_ptr();
  } else {
    kernels::binary_(kernels::Binary::Add, Tensor(leaf->grad), g, "backward (accumulate)");
  }
}

void check_saved(const Node& node) {
  for (const SavedVersion& s : node.saved) {
    auto st = s.storage.lock();
    GB_CHECK(!st || st->version() == s.version, "backward: a tensor saved by ", node.name,
             " was modified in place after it was used; clone() it before changing it, or "
             "change it after backward()");
  }
}

struct Later {  // max-heap on sequence: newest tape entry first
  bool operator()(const Node* a, const Node* b) const { return a->sequence < b->sequence; }
};

}  // namespace

void run_backward(const Tensor& root, const Tensor& gradient, bool retain_graph) {
  GB_CHECK(root.requires_grad(), "backward: tensor of shape ", root.shape_str(),
           " does not require grad (no input had requires_grad_() set, or it was computed "
           "under no_grad)");
  Tensor grad = gradient;
  if (!grad.defined()) {
    GB_CHECK(root.numel() == 1,
             "backward: gradient can be implied only for a scalar output, "
             "got shape ",
             root.shape_str(), "; pass a gradient of that shape");
    grad = ones(root.shape(), TensorOptions().set_dtype(root.dtype()).set_device(root.device()));
  }
  GB_CHECK(grad.shape() == root.shape(), "backward: gradient shape ", grad.shape_str(),
           " does not match output shape ", root.shape_str());
  GB_CHECK(grad.dtype() == root.dtype(), "backward: gradient dtype ", dtype_name(grad.dtype()),
           " does not match output dtype ", dtype_name(root.dtype()));
  NoGradGuard no_record;
  if (!root.impl()->grad_fn) {  // backward on a leaf: its gradient is the seed itself
    accumulate(root.impl(), grad);
    return;
  }
  std::priority_queue<Node*, std::vector<Node*>, Later> ready;
  std::unordered_map<Node*, Tensor> pending;
  std::vector<std::shared_ptr<Node>> alive;  // keep entries alive while they are walked
  Node* start = root.impl()->grad_fn.get();
  alive.push_back(root.impl()->grad_fn);
  pending[start] = grad;
  ready.push(start);
  while (!ready.empty()) {
    Node* node = ready.top();
    ready.pop();
    GB_CHECK(!node->freed,
             "backward: the tape behind this tensor was already freed by an "
             "earlier backward() (at ",
             node->name,
             "); pass retain_graph=true to the first "
             "backward to walk it twice");
    check_saved(*node);
    Tensor g = std::move(pending[node]);
    pending.erase(node);
    std::vector<Tensor> grads = node->backward(g);
    GB_CHECK(grads.size() == node->inputs.size(), "backward: ", node->name, " returned ",
             grads.size(), " gradients for ", node->inputs.size(), " inputs");
    if (is_anomaly_enabled()) anomaly_on_backward(*node, g, grads);
    for (size_t i = 0; i < grads.size(); ++i) {
      const Edge& e = node->inputs[i];
      if (!grads[i].defined() || (!e.node && !e.leaf)) continue;
      GB_CHECK(grads[i].shape() == e.shape, "backward: ", node->name,
               " produced a gradient of "
               "shape ",
               grads[i].shape_str(), " for an input of shape ", shape_str(e.shape));
      if (e.leaf) {
        accumulate(e.leaf.get(), grads[i]);
        continue;
      }
      Node* next = e.node.get();
      auto it = pending.find(next);
      if (it == pending.end()) {
        pending.emplace(next, grads[i]);
        alive.push_back(e.node);
        ready.push(next);
      } else {
        it->second = kernels::binary(kernels::Binary::Add, it->second, grads[i], "backward (sum)");
      }
    }
    if (!retain_graph) {  // release the entry: its saved tensors and links go now
      node->backward = nullptr;
      node->saved.clear();
      node->inputs.clear();
      node->freed = true;
    }
  }
}

}  // namespace autograd
}  // namespace glassbox
