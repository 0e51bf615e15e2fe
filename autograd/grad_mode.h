#pragma once
// Grad mode: while off, no op records on the tape (inference, optimizer steps).

namespace glassbox {

bool grad_enabled();
void set_grad_enabled(bool on);

// Turns recording off for its scope, like torch::NoGradGuard.
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};
using no_grad = NoGradGuard;

}  // namespace glassbox
