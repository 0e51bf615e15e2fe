#include "core/generator.h"

#include "core/error.h"

namespace glassbox {

void Generator::seed_(uint64_t seed) {
  seed_value_ = seed;
  offset_ = 0;
}

uint64_t Generator::reserve(uint64_t n_blocks) {
  GB_CHECK(n_blocks <= UINT64_MAX - offset_, "Generator: ", n_blocks,
           " more blocks would wrap the 64-bit offset ", offset_, "; reseed it");
  const uint64_t base = offset_;
  offset_ += n_blocks;
  return base;
}

uint64_t Generator::next_u64() {
  return philox::word(philox::block_at(seed_value_, reserve(1)), 0);
}
double Generator::uniform() { return philox::unit_double(next_u64()); }
float Generator::uniform_float() {
  return philox::unit_float(philox::block_at(seed_value_, reserve(1)).v[0]);
}
double Generator::normal() {
  double z[2];
  philox::normal_block(philox::block_at(seed_value_, reserve(1)), z);
  return z[0];
}

void Generator::set_state(const State& st) {
  seed_value_ = st.seed;
  offset_ = st.offset;
}

Generator& default_generator() {
  static Generator g(0);
  return g;
}
void manual_seed(uint64_t seed) { default_generator().seed_(seed); }

}  // namespace glassbox
