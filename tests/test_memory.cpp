// The CPU caching allocator: freed blocks are reused by size, capped, and returned on demand;
// and a training step of the notebook's CNN, once warm, takes no new memory from the system.
#include <doctest/doctest.h>

#include "glassbox.h"
#include "net.h"

using namespace glassbox;
namespace F = glassbox::nn::functional;

namespace {

// Restores the cache limit when a test ends, even a failing one.
struct CacheLimitGuard {
  int64_t saved = cache_limit();
  ~CacheLimitGuard() { set_cache_limit(saved); }
};
struct ThreadsGuard {
  int saved = get_num_threads();
  ~ThreadsGuard() { set_num_threads(saved); }
};

// One step as examples/mnist trains: a fresh batch (as a DataLoader makes), forward, NLL,
// backward, Adam.
void step(mnist::MnistNet& net, optim::Adam& opt, Generator& gen) {
  Tensor images = randn({64, 1, 28, 28}, TensorOptions(), &gen);
  Tensor labels = argmax(rand({64, 10}, TensorOptions(), &gen), 1);
  Tensor loss = F::nll_loss(net(images), labels);
  opt.zero_grad();
  loss.backward();
  opt.step();
}

}  // namespace

TEST_SUITE("memory") {
  TEST_CASE("freed CPU blocks are reused by size, capped by the limit, and released on demand") {
    CacheLimitGuard guard;
    empty_cache();
    { Tensor warm = empty({1000}); }  // now one 4000-byte block is cached
    const MemoryStats before = memory_stats();
    CHECK(before.cached_bytes >= 4000);
    {
      Tensor a = empty({1000});  // the same size: served from the cache
      CHECK(memory_stats().system_allocations == before.system_allocations);
      CHECK(memory_stats().allocations == before.allocations + 1);
      CHECK(memory_stats().cached_bytes == before.cached_bytes - 4032);  // rounded to 64 bytes
      Tensor b = empty({1000});  // nothing cached of that size any more: new memory
      CHECK(memory_stats().system_allocations == before.system_allocations + 1);
    }
    CHECK(memory_stats().cached_bytes == before.cached_bytes + 4032);
    empty_cache();
    CHECK(memory_stats().cached_bytes == 0);

    set_cache_limit(0);  // caching off: every allocation is new memory, every free returns it
    CHECK(cache_limit() == 0);
    const int64_t system = memory_stats().system_allocations;
    for (int i = 0; i < 3; ++i) Tensor t = empty({1000});
    CHECK(memory_stats().system_allocations == system + 3);
    CHECK(memory_stats().cached_bytes == 0);
    CHECK_THROWS_WITH_AS(set_cache_limit(-1),
                         "set_cache_limit: the limit must be >= 0 bytes, got -1", Error);
  }

  TEST_CASE("a training step of the notebook's CNN takes no new memory after the first two") {
    CacheLimitGuard guard;
    // One thread: with two, whether two threads' scratch buffers of one size are ever alive
    // at once depends on timing, so the step that first needs a second such block could come
    // late. (bench_notebook counts new blocks over a real 2-thread epoch.)
    ThreadsGuard threads;
    set_num_threads(1);
    manual_seed(0);
    Generator gen(1);
    mnist::MnistNet net;
    optim::Adam opt(net->parameters(), optim::AdamOptions(1e-3));
    step(net, opt, gen);
    step(net, opt, gen);  // Adam's moments and every gradient now exist
    const MemoryStats warm = memory_stats();
    reset_peak_memory();
    for (int i = 0; i < 4; ++i) {
      step(net, opt, gen);
      CAPTURE(i);
      CHECK(memory_stats().system_allocations == warm.system_allocations);  // all recycled
      CHECK(memory_stats().live_bytes == warm.live_bytes);                  // nothing kept
      CHECK(memory_stats().allocations > warm.allocations);                 // it did allocate
    }

    // the counter sees what a step really asks for: without the cache, each step takes new
    // memory from the system for every tensor it makes
    set_cache_limit(0);
    const int64_t before = memory_stats().system_allocations;
    step(net, opt, gen);
    CHECK(memory_stats().system_allocations > before + 50);
  }
}
