// Random fills on the CPU: out[i] = draw i of a distribution from the Philox stream, the
// same function of (seed, block, lane) as the CUDA kernel (core/philox.h has the layout and
// the bit-to-float rules). Element i comes from block base + i / E (E = 16 / element size):
// the work splits into any chunks of whole blocks, so the threads of parallel_for draw their
// chunks independently and the result does not depend on how many threads there are. Full
// blocks are written straight into the output, the last, partial one through a scratch copy.
//
// The distribution's kind is a template argument of the loop, so the uniform and mask loops
// have no branch and the compiler vectorises them (Philox's 32 x 32 -> 64-bit products are
// vector multiplies): about 1 ns per float32 uniform on one core. The normal loop is not
// vectorised (the sqrt keeps its errno branch without -fno-math-errno) and costs about 10 ns
// per float32 value.
#include "core/cpu/cpu_kernels.h"
#include "core/parallel.h"
#include "core/philox.h"

namespace glassbox::cpu {
namespace {

template <RandomDist::Kind K, class T>
void fill_kind(T* out, int64_t n, const philox::Dist<T>& dist, uint64_t seed, uint64_t base) {
  constexpr int E = philox::kPerBlock<T>;
  const int64_t full = n / E;  // blocks with all E elements in range
  const int64_t cost = K == RandomDist::Kind::Normal ? 256 : 32;
  parallel_for(full, cost, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j)
      philox::draw<K>(dist, seed, base + uint64_t(j), out + j * E);
  });
  if (full * E < n) {
    T tail[E];
    philox::draw<K>(dist, seed, base + uint64_t(full), tail);
    for (int64_t i = full * E; i < n; ++i) out[i] = tail[i - full * E];
  }
}

template <class T>
void fill_typed(T* out, int64_t n, const philox::Dist<T>& dist, uint64_t seed, uint64_t base) {
  switch (dist.kind) {
    case RandomDist::Kind::Uniform:
      return fill_kind<RandomDist::Kind::Uniform>(out, n, dist, seed, base);
    case RandomDist::Kind::Normal:
      return fill_kind<RandomDist::Kind::Normal>(out, n, dist, seed, base);
    case RandomDist::Kind::KeepMask:
      return fill_kind<RandomDist::Kind::KeepMask>(out, n, dist, seed, base);
  }
}

}  // namespace

void random_fill(const Tensor& out, const RandomDist& dist, uint64_t seed, uint64_t base_offset) {
  GB_DISPATCH_FLOAT(out.dtype(), "random_fill", [&] {
    fill_typed(out.data_ptr<scalar_t>(), out.numel(), philox::typed<scalar_t>(dist), seed,
               base_offset);
  });
}

}  // namespace glassbox::cpu
