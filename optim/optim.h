#pragma once
// Optimizers and learning-rate schedulers.
#include "optim/adam.h"
#include "optim/lr_scheduler.h"
#include "optim/optimizer.h"
#include "optim/sgd.h"
