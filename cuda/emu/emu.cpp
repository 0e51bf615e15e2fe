// The CUDA emulator's scheduler (the language it runs is in emu.h).
//
// A launch runs its blocks one after another on the calling thread. A block that may
// synchronise runs as fibers: each CUDA thread gets a ucontext with its own stack, and the
// scheduler resumes every runnable fiber, in the schedule's order, until it returns or
// stops at a sync point:
//   __syncthreads      -> waits at the block barrier;
//   a warp op          -> (__shfl*_sync, votes, __syncwarp) waits with its mask and payload.
// When no fiber is runnable the scheduler resolves what is waiting. A warp op is released
// when every lane its mask names waits at the same op with the same mask; the scheduler
// then computes every lane's result at once (a shuffle reads the payloads that all lanes
// posted), which is exactly the "all named lanes arrive, then exchange" rule of CUDA. The
// block barrier is released when every thread of the block waits at it. Anything else is a
// deadlock on a GPU or undefined behaviour, and is reported with the kernel, its launch
// site, the block, the thread and what the other side was doing: a thread that exited
// before a barrier the others reached, a mask naming a lane that exited or waits elsewhere,
// a shuffle reading a lane outside its mask.
//
// Each fiber switch is a swapcontext (a signal-mask syscall, ~0.3 us), so a fiber block
// costs about 2 switches per thread per sync point. Kernels that never synchronise skip all
// of it: the first launch of each kernel runs on fibers and records whether it synchronised;
// later launches of a kernel that did not run each thread as a plain call.
#include <sanitizer/common_interface_defs.h>
#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "cuda/emu/emu.h"

#if defined(__SANITIZE_ADDRESS__)
#define GB_EMU_ASAN 1
#include <sanitizer/asan_interface.h>
#else
#define GB_EMU_ASAN 0
#endif

namespace glassbox::cuda::emu {
namespace {

#if GB_EMU_ASAN
constexpr size_t kStackBytes = size_t{256} << 10;  // ASan's redzones make frames larger
#else
constexpr size_t kStackBytes = size_t{64} << 10;
#endif
constexpr size_t kDefaultSharedLimit = 48 << 10;
constexpr size_t kMaxSharedOptIn = 227 << 10;  // sm_90

enum class State { Runnable, AtBarrier, AtWarpOp, Done };
enum class WarpKind { Sync, Shuffle, Vote };

const char* shuffle_name(Shuffle s) {
  switch (s) {
    case Shuffle::Index:
      return "__shfl_sync";
    case Shuffle::Up:
      return "__shfl_up_sync";
    case Shuffle::Down:
      return "__shfl_down_sync";
    case Shuffle::Xor:
      return "__shfl_xor_sync";
  }
  return "shuffle";
}
const char* vote_name(Vote v) {
  switch (v) {
    case Vote::Ballot:
      return "__ballot_sync";
    case Vote::Any:
      return "__any_sync";
    case Vote::All:
      return "__all_sync";
  }
  return "vote";
}

struct Fiber {
  ucontext_t ctx;
  char* stack = nullptr;
  bool dirty = false;  // abandoned mid-run: its stack may hold ASan-poisoned frames
  ThreadCoords coords;
  int linear = 0;
  State state = State::Runnable;
  // the warp op it waits at
  WarpKind kind = WarpKind::Sync;
  int sub = 0;  // Shuffle or Vote value
  unsigned mask = 0;
  uint64_t payload = 0, result = 0;
  int arg = 0, width = 32;
  std::exception_ptr error;
};

std::string dim_str(dim3 d) { return str("(", d.x, ",", d.y, ",", d.z, ")"); }

// Everything about the block being run on this OS thread.
struct Run {
  const LaunchSite* site = nullptr;
  const std::function<void()>* body = nullptr;
  bool fast = false;           // plain calls: any sync point is an error
  bool synced = false;         // a sync point was reached during this launch
  std::vector<Fiber*> fibers;  // by linear thread id
  Fiber* current = nullptr;
  ucontext_t scheduler;
  const void* sched_stack = nullptr;  // for ASan's fiber switches
  size_t sched_stack_size = 0;
  unsigned char* shared = nullptr;
  dim3 block_idx, block_dim, grid_dim;

  std::string where() const {
    return str("emu: kernel ", site->kernel, " (", site->file, ":", site->line, "), block ",
               dim_str(block_idx));
  }
  std::string thread(const Fiber& f) const {
    return str("thread ", dim_str(f.coords.thread_idx), " (warp ", f.linear / 32, " lane ",
               f.linear % 32, ")");
  }
};

thread_local Run* t_run = nullptr;
thread_local const ThreadCoords* t_coords = nullptr;
thread_local std::vector<std::unique_ptr<Fiber>> t_pool;  // fibers and stacks, reused
thread_local ucontext_t t_template;
thread_local bool t_template_ready = false;

struct KernelInfo {
  bool known = false, synchronises = true;
  size_t max_shared = kDefaultSharedLimit;
};
std::mutex g_kernels_mutex;
std::unordered_map<const void*, KernelInfo>& kernels() {
  static auto* m = new std::unordered_map<const void*, KernelInfo>();
  return *m;
}

std::atomic<int64_t> g_launches{0}, g_fiber_launches{0}, g_fast_launches{0};
std::atomic<uint64_t> g_launch_counter{0};

// ------------------------------------------------------------------ schedule
Schedule parse_schedule(const char* text) {
  std::string s = text ? text : "";
  Schedule out;
  if (s.empty() || s == "forward") return out;
  if (s == "reverse") {
    out.order = Order::Reverse;
    return out;
  }
  if (s.rfind("shuffle", 0) == 0) {
    out.order = Order::Shuffle;
    if (s.size() > 7) {
      GB_CHECK(s[7] == ':' && s.size() > 8, "GLASSBOX_EMU_SCHEDULE: expected shuffle:SEED, got '",
               s, "'");
      char* end = nullptr;
      out.seed = std::strtoull(s.c_str() + 8, &end, 10);
      GB_CHECK(end && *end == '\0', "GLASSBOX_EMU_SCHEDULE: bad seed in '", s, "'");
    }
    return out;
  }
  fail(str("GLASSBOX_EMU_SCHEDULE: expected forward, reverse, shuffle or shuffle:SEED, got '", s,
           "'"));
}

std::mutex g_schedule_mutex;
bool g_schedule_set = false;
Schedule g_schedule;

uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::vector<int64_t> permutation(int64_t n, const Schedule& s, uint64_t salt) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (s.order == Order::Reverse) std::reverse(order.begin(), order.end());
  if (s.order == Order::Shuffle) {
    uint64_t state = s.seed * 0x2545f4914f6cdd1dull + salt;
    for (int64_t i = n - 1; i > 0; --i)
      std::swap(order[i], order[splitmix(state) % uint64_t(i + 1)]);
  }
  return order;
}

// ------------------------------------------------------------------ fibers
void start_switch(void** fake, const void* bottom, size_t size) {
#if GB_EMU_ASAN
  __sanitizer_start_switch_fiber(fake, bottom, size);
#else
  (void)fake, (void)bottom, (void)size;
#endif
}
void finish_switch(void* fake, const void** bottom_old, size_t* size_old) {
#if GB_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake, bottom_old, size_old);
#else
  (void)fake, (void)bottom_old, (void)size_old;
#endif
}

// Called on the fiber: back to the scheduler until resumed.
void yield_to_scheduler(Run& r, Fiber& f) {
  void* fake = nullptr;
  start_switch(&fake, r.sched_stack, r.sched_stack_size);
  swapcontext(&f.ctx, &r.scheduler);
  finish_switch(fake, nullptr, nullptr);
}

void fiber_main(unsigned hi, unsigned lo) {
  Fiber* f = reinterpret_cast<Fiber*>((uintptr_t(hi) << 32) | uintptr_t(lo));
  Run& r = *t_run;
  finish_switch(nullptr, &r.sched_stack, &r.sched_stack_size);
  try {
    (*r.body)();
  } catch (...) {
    f->error = std::current_exception();
  }
  f->state = State::Done;
  start_switch(nullptr, r.sched_stack, r.sched_stack_size);  // this fiber's stack is done
  swapcontext(&f->ctx, &r.scheduler);                        // never resumed
}

// Scheduler side: run f until it waits or finishes.
void resume(Run& r, Fiber& f) {
  r.current = &f;
  t_coords = &f.coords;
  void* fake = nullptr;
  start_switch(&fake, f.stack, kStackBytes);
  swapcontext(&r.scheduler, &f.ctx);
  finish_switch(fake, nullptr, nullptr);
  t_coords = nullptr;
  r.current = nullptr;
}

void prepare(Fiber& f) {
  if (!t_template_ready) {
    getcontext(&t_template);  // once per OS thread: later fibers copy it (no syscall)
    t_template_ready = true;
  }
  if (!f.stack) f.stack = static_cast<char*>(std::malloc(kStackBytes));
  if (!f.stack) throw Error("emu: out of memory for a fiber stack");
#if GB_EMU_ASAN
  if (f.dirty) ASAN_UNPOISON_MEMORY_REGION(f.stack, kStackBytes);
#endif
  f.dirty = false;
  f.ctx = t_template;
  f.ctx.uc_stack.ss_sp = f.stack;
  f.ctx.uc_stack.ss_size = kStackBytes;
  f.ctx.uc_link = nullptr;
  const uintptr_t p = reinterpret_cast<uintptr_t>(&f);
  makecontext(&f.ctx, reinterpret_cast<void (*)()>(&fiber_main), 2, unsigned(p >> 32),
              unsigned(p & 0xffffffffu));
  f.state = State::Runnable;
  f.error = nullptr;
}

ThreadCoords coords_of(int64_t linear, const Run& r) {
  ThreadCoords c;
  c.block_idx = r.block_idx, c.block_dim = r.block_dim, c.grid_dim = r.grid_dim;
  c.thread_idx =
      dim3(unsigned(linear % r.block_dim.x), unsigned(linear / r.block_dim.x % r.block_dim.y),
           unsigned(linear / (int64_t(r.block_dim.x) * r.block_dim.y)));
  return c;
}

std::string waiting_at(const Fiber& f) {
  switch (f.state) {
    case State::Done:
      return "has exited";
    case State::AtBarrier:
      return "waits at __syncthreads";
    case State::Runnable:
      return "is running";
    case State::AtWarpOp:
      break;
  }
  const char* name = f.kind == WarpKind::Sync      ? "__syncwarp"
                     : f.kind == WarpKind::Shuffle ? shuffle_name(Shuffle(f.sub))
                                                   : vote_name(Vote(f.sub));
  char mask[16];
  std::snprintf(mask, sizeof mask, "0x%08x", f.mask);
  return str("waits at ", name, " with mask ", mask);
}

int lanes_in_warp(const Run& r, int warp) {
  const int n = static_cast<int>(r.fibers.size());
  return std::min(32, n - warp * 32);
}

// Source lane of a shuffle for `lane` (CUDA programming guide, warp shuffle functions);
// -1: the lane keeps its own value.
int shuffle_source(const Fiber& f, int lane) {
  const int w = f.width, seg = lane & ~(w - 1);
  switch (Shuffle(f.sub)) {
    case Shuffle::Index:
      return seg + (((f.arg % w) + w) % w);
    case Shuffle::Up:
      return lane - f.arg >= seg ? lane - f.arg : -1;
    case Shuffle::Down:
      return lane + f.arg < seg + w ? lane + f.arg : -1;
    case Shuffle::Xor: {
      const int s = lane ^ f.arg;
      return (s >= seg && s < seg + w) ? s : -1;
    }
  }
  return -1;
}

// Releases every warp op whose named lanes have all arrived at it; returns whether any was.
bool release_warp_ops(Run& r) {
  bool released = false;
  const int n = static_cast<int>(r.fibers.size());
  for (int i = 0; i < n; ++i) {
    Fiber& f = *r.fibers[i];
    if (f.state != State::AtWarpOp) continue;
    const int warp = i / 32, lanes = lanes_in_warp(r, warp);
    bool ready = true;
    for (int l = 0; l < 32 && ready; ++l) {
      if (!(f.mask >> l & 1u)) continue;
      if (l >= lanes) return false;  // reported as a deadlock
      const Fiber& o = *r.fibers[warp * 32 + l];
      ready = o.state == State::AtWarpOp && o.kind == f.kind && o.sub == f.sub && o.mask == f.mask;
    }
    if (!ready) continue;
    // every named lane is here: exchange
    unsigned ballot = 0;
    for (int l = 0; l < 32; ++l)
      if (f.mask >> l & 1u) ballot |= (r.fibers[warp * 32 + l]->payload != 0 ? 1u : 0u) << l;
    for (int l = 0; l < 32; ++l) {
      if (!(f.mask >> l & 1u)) continue;
      Fiber& o = *r.fibers[warp * 32 + l];
      if (o.kind == WarpKind::Shuffle) {
        const int src = shuffle_source(o, l);
        if (src < 0) {
          o.result = o.payload;
        } else {
          GB_CHECK(src < lanes && (o.mask >> src & 1u), r.where(), ": ",
                   shuffle_name(Shuffle(o.sub)), " in ", r.thread(o), " reads lane ", src,
                   ", which is not in its mask (the value would be undefined)");
          o.result = r.fibers[warp * 32 + src]->payload;
        }
      } else if (o.kind == WarpKind::Vote) {
        o.result = Vote(o.sub) == Vote::Ballot ? ballot
                   : Vote(o.sub) == Vote::Any  ? (ballot != 0)
                                               : (ballot == o.mask);
      }
      o.state = State::Runnable;
    }
    released = true;
  }
  return released;
}

[[noreturn]] void report_deadlock(Run& r) {
  const int n = static_cast<int>(r.fibers.size());
  for (int i = 0; i < n; ++i) {
    const Fiber& f = *r.fibers[i];
    if (f.state != State::AtWarpOp) continue;
    const int warp = i / 32, lanes = lanes_in_warp(r, warp);
    for (int l = 0; l < 32; ++l) {
      if (!(f.mask >> l & 1u)) continue;
      if (l >= lanes)
        fail(str(r.where(), ": ", r.thread(f), " ", waiting_at(f), ", which names lane ", l,
                 " of a warp that has only ", lanes, " threads"));
      const Fiber& o = *r.fibers[warp * 32 + l];
      if (!(o.state == State::AtWarpOp && o.kind == f.kind && o.sub == f.sub && o.mask == f.mask))
        fail(str(r.where(), ": ", r.thread(f), " ", waiting_at(f), ", but lane ", l,
                 " it names did not arrive: it ", waiting_at(o)));
    }
  }
  int at_barrier = 0, done = 0;
  for (const Fiber* f : r.fibers)
    at_barrier += f->state == State::AtBarrier, done += f->state == State::Done;
  fail(str(r.where(), ": divergent __syncthreads: ", at_barrier, " of ", n,
           " threads wait at the barrier and ", done,
           " have exited without reaching it (a GPU would hang or misbehave)"));
}

void run_block_on_fibers(Run& r, const std::vector<int64_t>& order) {
  const int64_t n = static_cast<int64_t>(r.fibers.size());
  for (int64_t i = 0; i < n; ++i) {
    Fiber& f = *r.fibers[i];
    f.linear = static_cast<int>(i);
    f.coords = coords_of(i, r);
    prepare(f);
  }
  auto abandon = [&] {
    for (Fiber* f : r.fibers)
      if (f->state != State::Done) f->dirty = true;
  };
  while (true) {
    for (int64_t i : order) {
      Fiber& f = *r.fibers[i];
      if (f.state != State::Runnable) continue;
      resume(r, f);
      if (f.error) {
        abandon();
        std::rethrow_exception(f.error);
      }
    }
    int64_t done = 0, at_barrier = 0;
    for (Fiber* f : r.fibers)
      done += f->state == State::Done, at_barrier += f->state == State::AtBarrier;
    if (done == n) return;
    try {
      if (release_warp_ops(r)) continue;
      if (at_barrier == n) {
        for (Fiber* f : r.fibers) f->state = State::Runnable;
        continue;
      }
      report_deadlock(r);
    } catch (...) {
      abandon();
      throw;
    }
  }
}

// Called from an intrinsic: the running fiber, or an error on the fast path / outside.
Fiber& current_fiber(const char* op) {
  Run* r = t_run;
  GB_CHECK(r && t_coords, "emu: ", op, " called outside a kernel");
  r->synced = true;
  GB_CHECK(!r->fast, r->where(), ": ", op,
           " reached on a launch run without fibers: this kernel did not synchronise on its "
           "first launch, so the emulator took it for barrier-free (make its barriers and warp "
           "ops independent of its arguments)");
  return *r->current;
}

void check_own_lane(Run& r, Fiber& f, unsigned mask, const char* op) {
  char m[16];
  std::snprintf(m, sizeof m, "0x%08x", mask);
  GB_CHECK(mask >> (f.linear % 32) & 1u, r.where(), ": ", op, " in ", r.thread(f), " with mask ", m,
           " that does not name the calling lane");
}

uint64_t warp_op(WarpKind kind, int sub, unsigned mask, uint64_t payload, int arg, int width,
                 const char* op) {
  Fiber& f = current_fiber(op);
  Run& r = *t_run;
  check_own_lane(r, f, mask, op);
  GB_CHECK(width >= 1 && width <= 32 && (width & (width - 1)) == 0, r.where(), ": ", op, " in ",
           r.thread(f), ": width ", width, " is not a power of two in [1, 32]");
  f.kind = kind, f.sub = sub, f.mask = mask, f.payload = payload, f.arg = arg, f.width = width;
  f.state = State::AtWarpOp;
  yield_to_scheduler(r, f);
  return f.result;
}

void check_launch(const LaunchSite& site, dim3 grid, dim3 block, size_t smem, size_t limit) {
  auto where = [&] {
    return str("emu: launch of ", site.kernel, " (", site.file, ":", site.line, ") with grid ",
               dim_str(grid), ", block ", dim_str(block), ", ", smem,
               " bytes of dynamic shared memory: ");
  };
  GB_CHECK(grid.x && grid.y && grid.z && block.x && block.y && block.z, where(),
           "zero-size launch (a GPU refuses it: invalid configuration)");
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  GB_CHECK(threads <= 1024, where(), threads, " threads per block (at most 1024)");
  GB_CHECK(block.x <= 1024 && block.y <= 1024 && block.z <= 64, where(),
           "block dims at most (1024, 1024, 64)");
  GB_CHECK(grid.x <= 2147483647u && grid.y <= 65535 && grid.z <= 65535, where(),
           "grid dims at most (2^31-1, 65535, 65535)");
  GB_CHECK(smem <= limit, where(), "more than the kernel's limit of ", limit,
           " bytes (48 KiB unless raised with GB_SET_MAX_DYN_SHARED)");
}

}  // namespace

// ------------------------------------------------------------------ public
const ThreadCoords& coords() {
  GB_CHECK(t_coords, "emu: threadIdx/blockIdx/blockDim/gridDim read outside a kernel");
  return *t_coords;
}

void set_schedule(const Schedule& s) {
  std::lock_guard<std::mutex> lock(g_schedule_mutex);
  g_schedule = s;
  g_schedule_set = true;
}

Schedule schedule() {
  std::lock_guard<std::mutex> lock(g_schedule_mutex);
  if (!g_schedule_set) {
    g_schedule = parse_schedule(std::getenv("GLASSBOX_EMU_SCHEDULE"));
    g_schedule_set = true;
  }
  return g_schedule;
}

const char* order_name(Order o) {
  return o == Order::Forward ? "forward" : o == Order::Reverse ? "reverse" : "shuffle";
}

Stats stats() { return {g_launches.load(), g_fiber_launches.load(), g_fast_launches.load()}; }

void set_max_dynamic_shared(const void* kernel_id, size_t bytes) {
  GB_CHECK(bytes <= kMaxSharedOptIn, "emu: set_max_dynamic_shared: ", bytes,
           " bytes is more than the device's ", kMaxSharedOptIn);
  std::lock_guard<std::mutex> lock(g_kernels_mutex);
  kernels()[kernel_id].max_shared = std::max(bytes, kDefaultSharedLimit);
}

void* dynamic_shared() {
  GB_CHECK(t_run && t_coords, "emu: dynamic shared memory used outside a kernel");
  return t_run->shared;
}

void syncthreads() {
  Fiber& f = current_fiber("__syncthreads");
  f.state = State::AtBarrier;
  yield_to_scheduler(*t_run, f);
}

void syncwarp(unsigned mask) { warp_op(WarpKind::Sync, 0, mask, 0, 0, 32, "__syncwarp"); }

uint64_t shuffle(Shuffle kind, unsigned mask, uint64_t payload, int arg, int width) {
  return warp_op(WarpKind::Shuffle, int(kind), mask, payload, arg, width, shuffle_name(kind));
}

unsigned vote(Vote kind, unsigned mask, int predicate) {
  return unsigned(warp_op(WarpKind::Vote, int(kind), mask, predicate != 0, 0, 32, vote_name(kind)));
}

void launch_impl(const LaunchSite& site, const void* kernel_id, dim3 grid, dim3 block, size_t smem,
                 const std::function<void()>& body) {
  GB_CHECK(!t_run, "emu: ", site.kernel, " launched from inside kernel ", t_run->site->kernel,
           " (dynamic parallelism is not emulated)");
  KernelInfo info;
  {
    std::lock_guard<std::mutex> lock(g_kernels_mutex);
    info = kernels()[kernel_id];
  }
  check_launch(site, grid, block, smem, info.max_shared);
  const Schedule sched = schedule();
  const uint64_t salt = g_launch_counter.fetch_add(1);
  g_launches.fetch_add(1);
  const bool fast = info.known && !info.synchronises;
  (fast ? g_fast_launches : g_fiber_launches).fetch_add(1);

  const int64_t threads = int64_t(block.x) * block.y * block.z;
  const int64_t blocks = int64_t(grid.x) * grid.y * grid.z;
  // exactly the launch's bytes, so ASan sees a read past the end; 0xFF bytes read as NaN
  std::unique_ptr<unsigned char[]> shared(new unsigned char[smem > 0 ? smem : 1]);

  Run run;
  run.site = &site, run.body = &body, run.fast = fast;
  run.block_dim = block, run.grid_dim = grid, run.shared = shared.get();
  if (!fast) {
    while (t_pool.size() < size_t(threads)) t_pool.push_back(std::make_unique<Fiber>());
    run.fibers.resize(threads);
    for (int64_t i = 0; i < threads; ++i) run.fibers[i] = t_pool[i].get();
  }
  struct Reset {
    ~Reset() {
      t_run = nullptr;
      t_coords = nullptr;
    }
  } reset;
  t_run = &run;
  const std::vector<int64_t> block_order = permutation(blocks, sched, salt);
  std::vector<int64_t> thread_order;
  if (sched.order != Order::Shuffle) thread_order = permutation(threads, sched, 0);
  for (int64_t b : block_order) {
    run.block_idx = dim3(unsigned(b % grid.x), unsigned(b / grid.x % grid.y),
                         unsigned(b / (int64_t(grid.x) * grid.y)));
    if (smem) std::memset(shared.get(), 0xFF, smem);
    if (sched.order == Order::Shuffle) thread_order = permutation(threads, sched, salt * 31 + b);
    if (fast) {
      for (int64_t t : thread_order) {
        ThreadCoords c = coords_of(t, run);
        t_coords = &c;
        body();
      }
      t_coords = nullptr;
    } else {
      run_block_on_fibers(run, thread_order);
    }
  }
  if (!info.known) {
    std::lock_guard<std::mutex> lock(g_kernels_mutex);
    KernelInfo& k = kernels()[kernel_id];
    k.known = true;
    k.synchronises = run.synced;
  }
}

}  // namespace glassbox::cuda::emu
