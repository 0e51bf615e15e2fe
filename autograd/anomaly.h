#pragma once
// Anomaly mode: find the first op that turns finite numbers into NaN or Inf, and say where it
// was recorded, like torch.autograd.detect_anomaly but naming the layer too.
//
// A NaN loss is useless as a clue: by the time it is seen, every op after the culprit also
// holds NaN. The culprit is the one op whose result is non-finite while what went into it was
// finite, so that is what anomaly mode checks, at the two places every number passes through:
//   forward:  autograd::record (every differentiable op records its output there) scans the
//             output; only when it holds NaN/Inf does it scan the floating-point inputs, and it
//             throws when all of them were finite. An op fed a NaN is not blamed: its producer
//             already was (or the NaN came from outside the tape, e.g. the data).
//   backward: the engine scans each gradient a node's backward returns; when one holds NaN/Inf
//             while the gradient flowing into the node was finite, that backward is at fault.
// Both throw glassbox::Error naming the op ("log", from the tape entry LogBackward) and where
// it was recorded: its tape sequence number, its input and output shapes, and the module call
// path that was running, e.g. "MnistNet.conv3 (Conv2d)".
//
// The module path is a thread-local stack of frames, one per Module::forward in progress.
// nn::ModuleHolder::operator() pushes a frame (nn::ForwardScope) around get()->forward; a frame
// holds the module's name as registered in the module of the frame below it, so the path reads
// like named_modules()' dotted names. autograd knows nothing of nn: a frame is just an opaque
// owner pointer and two strings, and nn resolves the names. record() copies the joined path
// into the tape entry, because by the time backward runs the stack is gone.
//
// Cost: off by default. When off, record() and ForwardScope each pay one relaxed atomic load
// and a branch: no scan, no allocation, no string. When on, every recorded op builds a short
// description and scans its output (and the engine every gradient) through kernels::, so it
// works on any device; on a GPU each scan is a host wait (the count is read back), which is
// acceptable in a debugging mode and is why it is not always on.
//
// Caveats: only recorded ops are checked, i.e. ops run with grad mode on and some input that
// requires grad (under no_grad nothing records). The mode is process-wide (like PyTorch's),
// the module stack per thread. nn::Sequential frames each child it runs; a container of
// your own that calls children's forward directly should wrap each call in an
// nn::ForwardScope. A gradient that overflows only when two finite
// contributions are summed by the engine is not blamed on either.
#include <atomic>
#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace glassbox::autograd {

namespace detail {
extern std::atomic<bool> g_anomaly_enabled;
}  // namespace detail

// Turns anomaly mode on or off for the whole process.
void set_detect_anomaly(bool on);
inline bool is_anomaly_enabled() {
  return detail::g_anomaly_enabled.load(std::memory_order_relaxed);
}

// Turns anomaly mode on (or off) for its scope and restores the previous mode when the scope
// ends, also by an exception.
class DetectAnomalyGuard {
 public:
  explicit DetectAnomalyGuard(bool on = true);
  ~DetectAnomalyGuard();
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool previous_;
};
using detect_anomaly = DetectAnomalyGuard;

// How many elements of a tensor are NaN and how many are +-Inf. Zero for non-floating,
// undefined or empty tensors.
struct NonFinite {
  int64_t nan = 0;
  int64_t inf = 0;
  bool any() const { return nan != 0 || inf != 0; }
};
// One pass on the tensor's device (sum of x * 0 is NaN exactly when some x is not finite);
// the exact counts take two more passes only when there is something to count.
NonFinite count_non_finite(const Tensor& t);

// --- the call-path stack (for nn::ForwardScope; users do not call these) ---
// Pushes a frame: `owner` identifies the frame's module, `segment` is its name in the path
// ("conv3"), `kind` its type ("Conv2d").
void push_scope(const void* owner, std::string segment, std::string kind);
void pop_scope();
// The innermost frame's owner, nullptr when no frame is open on this thread.
const void* scope_owner();
// "MnistNet.conv3 (Conv2d)"; empty when no frame is open on this thread.
std::string scope_path();

}  // namespace glassbox::autograd
