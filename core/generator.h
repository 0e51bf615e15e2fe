#pragma once
// Seeded random numbers. One default generator (manual_seed) serves factories, init and
// dropout; pass your own Generator to keep a stream separate. xoshiro256** underneath:
// fast, small state, and the same sequence on every platform.
#include <cstdint>

namespace glassbox {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) { seed_(seed); }
  void seed_(uint64_t seed);
  uint64_t seed() const { return seed_value_; }
  uint64_t next_u64();
  double uniform();       // [0, 1) with 53 random bits
  float uniform_float();  // [0, 1) with 24 random bits
  double normal();        // N(0, 1), Box-Muller

  struct State {
    uint64_t s[4];
    uint64_t seed;
    bool has_spare;
    double spare;
  };
  State state() const;
  void set_state(const State& st);

 private:
  uint64_t s_[4] = {};
  uint64_t seed_value_ = 0;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace glassbox
