#pragma once
// The device dispatch shared by core/kernels*.cpp (internal): every kernel entry finds the
// one device its operands live on, then routes the call to the backend's body of the same
// name, cpu:: (core/cpu/) or gpu:: (cuda/, a real or the emulated device).
#include <initializer_list>

#include "core/tensor.h"

namespace glassbox::kernels {

// All defined operands on one device; returns it (the CPU when none is defined). Otherwise an
// Error naming the op, both devices and both shapes.
Device common_device(const char* op, std::initializer_list<const Tensor*> operands);

}  // namespace glassbox::kernels

#if defined(GLASSBOX_WITH_CUDA)
#define GB_ROUTE(device, call) ((device).is_cuda() ? gpu::call : cpu::call)
#else
#define GB_ROUTE(device, call) ((void)(device), cpu::call)  // the device check still runs
#endif
