#include "optim/lr_scheduler.h"

#include <cmath>

#include "core/error.h"

namespace glassbox::optim {

LRScheduler::LRScheduler(Optimizer& optimizer)
    : optimizer_(optimizer), base_lr_(optimizer.lr()), last_lr_(optimizer.lr()) {}

void LRScheduler::step() {
  const double lr = compute_lr(last_epoch_ + 1);
  optimizer_.set_lr(lr);
  ++last_epoch_;
  last_lr_ = lr;
}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  GB_CHECK(step_size >= 1, "StepLR: step_size must be >= 1, got ", step_size);
  GB_CHECK(std::isfinite(gamma) && gamma >= 0.0, "StepLR: gamma must be finite and >= 0, got ",
           gamma);
}

double StepLR::compute_lr(int64_t epoch) const {
  const double lr = optimizer_.lr();
  return epoch % step_size_ == 0 ? lr * gamma_ : lr;
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(optimizer), T_max_(T_max), eta_min_(eta_min) {
  GB_CHECK(T_max >= 1, "CosineAnnealingLR: T_max must be >= 1, got ", T_max);
  GB_CHECK(std::isfinite(eta_min) && eta_min >= 0.0,
           "CosineAnnealingLR: eta_min must be finite and >= 0, got ", eta_min);
}

double CosineAnnealingLR::compute_lr(int64_t epoch) const {
  const double pi = 3.14159265358979323846;
  return eta_min_ +
         (base_lr() - eta_min_) * (1.0 + std::cos(pi * double(epoch) / double(T_max_))) / 2.0;
}

}  // namespace glassbox::optim
