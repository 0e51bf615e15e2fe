#pragma once
// glassbox: one include for the whole public API.
#include "autograd/gradcheck.h"
#include "autograd/grad_mode.h"
#include "core/allocator.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/generator.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/safetensors.h"
#include "core/tensor.h"
#include "cuda/runtime.h"
