#pragma once
// Seeded random numbers. One default generator (manual_seed) serves factories, init and
// dropout; pass your own Generator to keep a stream separate.
//
// Counter-based (Philox4x32-10, core/philox.h): the state is the seed and an offset counting
// the 128-bit Philox blocks handed out so far. A draw reserves the blocks it needs and
// computes them where its tensor lives, so a seed gives the same random tensors, and the same
// dropout masks, on the CPU and on a CUDA device, and the offset moves on identically on both.
#include <cstdint>

#include "core/philox.h"

namespace glassbox {

class Tensor;

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) { seed_(seed); }
  void seed_(uint64_t seed);  // restarts the stream: offset 0
  uint64_t seed() const { return seed_value_; }
  uint64_t offset() const { return offset_; }
  // Hands out blocks offset .. offset + n_blocks - 1: returns the first and moves on by n_blocks.
  uint64_t reserve(uint64_t n_blocks);

  // Host draws, one block each, the same values as element 0 of a one-element tensor
  // (core/philox.h's layout): next_u64 is lanes 0 | 1 << 32; uniform() a float64 rand,
  // uniform_float() a float32 rand, normal() a float64 randn.
  uint64_t next_u64();
  double uniform();       // [0, 1) with 53 random bits
  float uniform_float();  // [0, 1) with 24 random bits
  double normal();        // N(0, 1), Box-Muller

  struct State {
    uint64_t seed;
    uint64_t offset;
  };
  State state() const { return State{seed_value_, offset_}; }
  void set_state(const State& st);

 private:
  uint64_t seed_value_ = 0;
  uint64_t offset_ = 0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

// Fills `out` (contiguous, float32 or float64) with draws of `dist` on out's device, from the
// next blocks of `gen` (the default generator when null): what rand, randn, uniform and the
// dropout mask are made of.
void random_fill_(const Tensor& out, const RandomDist& dist, Generator* gen = nullptr);

}  // namespace glassbox
