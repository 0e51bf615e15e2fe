// Anomaly mode (autograd/anomaly.h): the switch, the NaN/Inf count, the module call-path stack,
// and the two checks the tape calls, one from record() and one from the engine's reverse walk.
//
// Why "first op that produces": a check that only asked "is this output finite?" would blame
// every op downstream of the culprit as well, so the first one wins only because it runs
// first; asking "is the output non-finite while the inputs were finite?" names the culprit
// itself and stays right when the NaN came in with the data (then nothing on the tape is
// blamed). The input scan runs only when the output is already non-finite, so a healthy run
// pays one scan per op, not one per operand.
#include "autograd/anomaly.h"

#include <cmath>
#include <numeric>
#include <vector>

#include "autograd/node.h"
#include "core/error.h"
#include "core/kernels.h"

namespace glassbox::autograd {

namespace detail {
std::atomic<bool> g_anomaly_enabled{false};
}  // namespace detail

void set_detect_anomaly(bool on) { detail::g_anomaly_enabled.store(on, std::memory_order_relaxed); }

DetectAnomalyGuard::DetectAnomalyGuard(bool on) : previous_(is_anomaly_enabled()) {
  set_detect_anomaly(on);
}
DetectAnomalyGuard::~DetectAnomalyGuard() { set_detect_anomaly(previous_); }

// ---------------------------------------------------------------- counting

namespace {

// The sum of every element, read back to the host (the one host wait per scan).
double total(const Tensor& t) {
  if (t.dim() == 0) return t.item();
  std::vector<int64_t> dims(static_cast<size_t>(t.dim()));
  std::iota(dims.begin(), dims.end(), int64_t{0});
  return kernels::reduce(kernels::Reduce::Sum, t, dims, false).item();
}

}  // namespace

NonFinite count_non_finite(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype()) || t.numel() == 0) return {};
  const TensorOptions opts = TensorOptions().set_dtype(t.dtype()).set_device(t.device());
  // x * 0 is +-0 for every finite x and NaN for NaN and +-Inf; a sum of zeros stays 0
  const Tensor zeroed = kernels::binary(kernels::Binary::Mul, t, full({}, 0.0, opts), "anomaly");
  if (!std::isnan(total(zeroed))) return {};
  using kernels::Compare;
  const Tensor nan_mask = kernels::compare(Compare::Ne, t, t, "anomaly");  // only NaN != NaN
  const Tensor inf_mask = kernels::compare(Compare::Eq, kernels::unary(kernels::Unary::Abs, t),
                                           full({}, INFINITY, opts), "anomaly");
  NonFinite n;
  n.nan = static_cast<int64_t>(total(nan_mask.to(kFloat64)));
  n.inf = static_cast<int64_t>(total(inf_mask.to(kFloat64)));
  return n;
}

// ---------------------------------------------------------------- the call-path stack

namespace {

struct Frame {
  const void* owner;
  std::string segment;
  std::string kind;
};
thread_local std::vector<Frame> t_frames;

constexpr size_t kMaxPath = 200;  // characters of the dotted path kept in a message

}  // namespace

void push_scope(const void* owner, std::string segment, std::string kind) {
  t_frames.push_back({owner, std::move(segment), std::move(kind)});
}
void pop_scope() {
  if (!t_frames.empty()) t_frames.pop_back();
}
const void* scope_owner() { return t_frames.empty() ? nullptr : t_frames.back().owner; }

std::string scope_path() {
  if (t_frames.empty()) return "";
  std::string path;
  for (const Frame& f : t_frames) path += (path.empty() ? "" : ".") + f.segment;
  if (path.size() > kMaxPath) path = "..." + path.substr(path.size() - kMaxPath);
  const std::string& kind = t_frames.back().kind;
  if (t_frames.size() == 1 && kind == path) return path;  // the root alone: "MnistNet"
  return path + " (" + kind + ")";
}

// ---------------------------------------------------------------- the checks

namespace {

constexpr size_t kMaxListedInputs = 6;  // a cat of 1000 tensors lists 6 shapes and a count

// The op a tape entry belongs to, as the user wrote it: "LogBackward" -> "log",
// "MaxPool2DBackward" -> "max_pool2d", "NllLossBackward" -> "nll_loss".
std::string op_name(const char* entry) {
  std::string n = entry;
  const std::string suffix = "Backward";
  if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
    n.resize(n.size() - suffix.size());
  std::string out;
  for (size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool upper = c >= 'A' && c <= 'Z';
    const bool after_lower = i > 0 && n[i - 1] >= 'a' && n[i - 1] <= 'z';
    if (upper && after_lower) out += '_';
    out += upper ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

std::string shapes_of(const std::vector<Tensor>& inputs) {
  std::string s;
  for (size_t i = 0; i < inputs.size() && i < kMaxListedInputs; ++i)
    s += (i ? ", " : "") + (inputs[i].defined() ? inputs[i].shape_str() : std::string("none"));
  if (inputs.size() > kMaxListedInputs)
    s += str(", ... (", inputs.size() - kMaxListedInputs, " more)");
  return s;
}

// "tape entry #12 (LogBackward), input [3] -> output [3], in Net.fc1 (Linear)"
std::string describe(const Node& node, const Tensor& out, const std::vector<Tensor>& inputs) {
  const std::string path = scope_path();
  return str("tape entry #", node.sequence, " (", node.name, "), ",
             inputs.size() == 1 ? "input " : "inputs ", shapes_of(inputs), " -> output ",
             out.shape_str(), ", ",
             path.empty() ? std::string("outside any module") : "in " + path);
}

std::string counts(const NonFinite& n) { return str(n.nan, " NaN / ", n.inf, " Inf"); }

}  // namespace

void anomaly_on_record(Node& node, const Tensor& out, const std::vector<Tensor>& inputs) {
  node.recorded_at = describe(node, out, inputs);
  const NonFinite produced = count_non_finite(out);
  if (!produced.any()) return;
  for (const Tensor& in : inputs)
    if (count_non_finite(in).any()) {  // it came in: the op that made it was blamed
      node.non_finite_input = true;
      return;
    }
  fail(str("anomaly in forward: '", op_name(node.name), "' produced ", counts(produced),
           " in its output ", out.shape_str(), " of ", out.numel(),
           " elements from finite inputs (recorded at ", node.recorded_at,
           "); it is the first op to make a non-finite value: look at the values it was given "
           "(log or sqrt of values <= 0, division by 0, exp overflow)"));
}

void anomaly_on_backward(const Node& node, const Tensor& grad_output,
                         const std::vector<Tensor>& grads) {
  if (node.non_finite_input) return;  // its saved inputs hold NaN/Inf: its producer was blamed
  int known_finite = -1;              // the incoming gradient, scanned once and only when needed
  for (size_t i = 0; i < grads.size() && i < node.inputs.size(); ++i) {
    const Edge& e = node.inputs[i];
    if (!grads[i].defined() || (!e.node && !e.leaf)) continue;  // the engine drops it too
    const NonFinite bad = count_non_finite(grads[i]);
    if (!bad.any()) continue;
    if (known_finite < 0) known_finite = count_non_finite(grad_output).any() ? 0 : 1;
    if (!known_finite) return;  // it flowed in: an op later on the tape was blamed
    const std::string where =
        node.recorded_at.empty()
            ? str("tape entry #", node.sequence, " (", node.name,
                  "), recorded while anomaly mode was off: turn it on before the forward pass "
                  "to learn its shapes and module")
            : node.recorded_at;
    fail(str("anomaly in backward of '", op_name(node.name), "' (recorded at ", where,
             "): the gradient for input ", i, " ", grads[i].shape_str(), " holds ", counts(bad),
             " while the gradient flowing into it ", grad_output.shape_str(),
             " was finite; the op's derivative is not finite at its input values "
             "(sqrt or log at 0, division by a value near 0, ...)"));
  }
}

}  // namespace glassbox::autograd
