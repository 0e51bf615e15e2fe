#pragma once
// Optimizers and learning-rate schedulers.
