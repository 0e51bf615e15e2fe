// The CUDA emulator's scheduler (the interface, and what it promises to catch: emu.h).
//
// A launch runs its blocks one after another on the calling OS thread, in the schedule's block
// order. The n threads of a block are n fibers, each on its own stack from a per-OS-thread pool
// (reused across blocks and launches), and the block runs in rounds:
//
//   run      every fiber in the round's queue, in schedule order, runs until it returns or
//            calls a barrier or a warp op. There it parks, with its op's arguments, and switches
//            straight to the next fiber of the queue; the last one switches to the scheduler.
//            So a round costs one switch per fiber, plus one.
//   release  now nothing runs, and every parked fiber's op is known. A warp op group is released
//            when every lane its mask names is parked at the same op with the same mask (CUDA's
//            rule for *_sync intrinsics); the scheduler computes all of the group's results at
//            once from the payloads the lanes parked with. The block barrier is released when
//            all n threads are parked at it. The released fibers are the next round's queue.
//   diagnose when nothing could be released the block can never finish, which a GPU shows as
//            a hang or garbage: a mask names a lane that exited, waits at __syncthreads or at a
//            different warp op, or some threads returned before a barrier the rest wait at.
//            That is an Error naming the kernel, the block, the thread and the lane. The block
//            is abandoned: its fibers are never resumed and their stacks are reused as they are
//            (so an abandoned thread's locals are not destroyed, as on a GPU).
//
// Fibers switch only at these points, so the code between two sync points runs as one piece,
// and the one freedom left is which thread of a round runs first: a kernel with a missing
// barrier reads a value that has or has not been written yet depending on that order. Hence
// the schedules (forward, reverse, seeded shuffle of threads in every round and of blocks).
//
// An exception thrown in a fiber (the kernel's own, or an intrinsic's Error) is caught at the
// bottom of the fiber, which then switches to the scheduler; the block is abandoned and the
// exception rethrown on the launching thread's own stack. Under AddressSanitizer every switch
// is announced (__sanitizer_start/finish_switch_fiber) so ASan knows which stack is live, and
// the frames a fiber leaves behind (it never returns from its last switch; an abandoned one
// never returns at all) are unpoisoned before its stack is reused.
//
// The switch itself: on x86-64 a 15-instruction routine that pushes the callee-saved
// registers, swaps stack pointers and pops (~13 ns); elsewhere, when a CET shadow stack is
// active (returning onto another stack would fault), or with GLASSBOX_EMU_FIBERS=ucontext,
// POSIX makecontext/swapcontext, which also saves the signal mask with a system call
// (~300 ns per switch).
//
// Fast path: most kernels never synchronise, and fibers buy them nothing. The first launch of
// a kernel with a given block shape runs on fibers and records whether any thread called a
// barrier or warp op; if none did, later launches of that kernel and shape run each thread as
// a plain call on the launching thread's stack, in schedule order. A thread that synchronises
// there after all is an Error (its synchronisation depends on its data), never a wrong answer.
#include "cuda/emu/emu.h"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define GB_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GB_EMU_ASAN 1
#endif
#endif
#ifdef GB_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__x86_64__) && defined(__linux__)
#define GB_EMU_SWITCH_ASM 1
// glassbox_emu_switch(save, to): push the SysV callee-saved registers on the running stack,
// store its stack pointer in *save, load `to` (a stack pointer stored the same way) and pop its
// registers; the ret then continues wherever that context called glassbox_emu_switch. The
// caller-saved registers need no saving: this is an ordinary call to the compiler.
asm(R"(
  .pushsection .text
  .p2align 4
  .globl glassbox_emu_switch
  .hidden glassbox_emu_switch
  .type glassbox_emu_switch, @function
glassbox_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size glassbox_emu_switch, .-glassbox_emu_switch
  .popsection
)");
extern "C" void glassbox_emu_switch(void** save, void* to);
#endif

namespace glassbox::cuda::emu {
namespace {

#ifdef GB_EMU_ASAN
constexpr size_t kStackBytes = size_t{256} << 10;  // ASan's redzones grow every frame
#else
constexpr size_t kStackBytes = size_t{64} << 10;
#endif
constexpr size_t kDefaultDynShared = size_t{48} << 10;
constexpr size_t kMaxDynShared = size_t{227} << 10;  // sm_90's opt-in limit per block
// What a shuffle returns when it reads a lane that is not in the mask: CUDA leaves the value
// undefined; all-ones bytes are a NaN as float or double, and -1 as an integer.
constexpr uint64_t kUndefined = ~uint64_t{0};

enum class At : uint8_t { Run, Barrier, Warp, Done };
enum class Op : uint8_t { SyncWarp, ShflIdx, ShflUp, ShflDown, ShflXor, Ballot, Any, All };

const char* op_name(Op op) {
  switch (op) {
    case Op::SyncWarp:
      return "__syncwarp";
    case Op::ShflIdx:
      return "__shfl_sync";
    case Op::ShflUp:
      return "__shfl_up_sync";
    case Op::ShflDown:
      return "__shfl_down_sync";
    case Op::ShflXor:
      return "__shfl_xor_sync";
    case Op::Ballot:
      return "__ballot_sync";
    case Op::Any:
      return "__any_sync";
    case Op::All:
      return "__all_sync";
  }
  return "?";
}

struct Fiber {
  void* sp = nullptr;        // the assembly switch's saved stack pointer
  ucontext_t* uc = nullptr;  // the ucontext switch's context, made on first use
  char* stack = nullptr;     // lowest usable byte; a PROT_NONE guard page lies below
  bool started = false;      // has run since it was last prepared
  bool dirty = false;        // abandoned mid-run: its stack holds stale frames
#ifdef GB_EMU_ASAN
  void* fake_stack = nullptr;
#endif
  At at = At::Done;
  Op op = Op::SyncWarp;  // while at == Warp: the op and its arguments
  unsigned mask = 0;
  int arg = 0, width = 32;
  uint64_t payload = 0, result = 0;
  int tid = 0;  // linear thread index in the block
  ThreadCoords coords;
  std::exception_ptr error;
};

enum class Mode : uint8_t { Idle, Fibers, Fast };

// The running launch, per OS thread. Plain data with constant initialisation, so every access
// is a direct thread-local load (no initialisation guard): every intrinsic reads it.
struct Hot {
  Mode mode = Mode::Idle;
  bool use_switch = false;  // the assembly switch, else ucontext
  bool synced = false;      // a barrier or warp op was called in this launch
  ThreadCoords fast;        // the fast path's running thread
  Fiber* current = nullptr;
  Fiber** fibers = nullptr;
  int n = 0;  // threads per block
  const int* queue = nullptr;
  int queue_len = 0, queue_pos = 0;
  int n_done = 0, n_barrier = 0, n_warp = 0;
  int first_done = -1;  // tid of the first thread of the block to return
  Fiber* failed = nullptr;
  const LaunchSite* site = nullptr;
  const void* kernel = nullptr;
  const std::function<void()>* body = nullptr;
  const dim3* thread_idx = nullptr;
  unsigned char* dyn = nullptr;
  void* main_sp = nullptr;
  ucontext_t* main_uc = nullptr;
#ifdef GB_EMU_ASAN
  void* main_fake = nullptr;
  const void* main_bottom = nullptr;
  size_t main_size = 0;
  bool from_main = false;
#endif
};
thread_local Hot hot;

// Per-OS-thread storage that outlives launches: fibers and their stacks, the run queue, the
// dynamic shared memory buffer. Grows to the largest launch seen; freed when the thread ends.
struct Pool {
  std::vector<Fiber*> fibers;
  std::vector<int> queue;
  std::vector<int> order;
  std::vector<dim3> thread_idx;  // by linear thread index, for the block shape below
  dim3 thread_idx_shape{0, 0, 0};
  ucontext_t main_uc;
  unsigned char* dyn = nullptr;
  size_t dyn_capacity = 0;

  ~Pool() {
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    for (Fiber* f : fibers) {
#ifdef GB_EMU_ASAN
      ASAN_UNPOISON_MEMORY_REGION(f->stack, kStackBytes);
#endif
      munmap(f->stack - page, kStackBytes + page);
      delete f->uc;
      delete f;
    }
    free_dyn();
  }

  void reserve_fibers(int n) {
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    while (int(fibers.size()) < n) {
      void* p = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
      GB_CHECK(p != MAP_FAILED, "emu: cannot map a ", kStackBytes, "-byte fiber stack (",
               fibers.size(), " mapped so far)");
      // a thread that overflows its stack faults here instead of writing into its neighbour's
      mprotect(p, page, PROT_NONE);
      Fiber* f = new Fiber;
      f->stack = static_cast<char*>(p) + page;
      fibers.push_back(f);
    }
    if (queue.size() < size_t(n)) queue.resize(size_t(n));
  }

  // threadIdx for each linear index: divisions once per block shape, not once per thread
  const dim3* thread_indices(dim3 block) {
    if (block.x != thread_idx_shape.x || block.y != thread_idx_shape.y ||
        block.z != thread_idx_shape.z) {
      thread_idx.resize(size_t(block.x) * block.y * block.z);
      size_t t = 0;
      for (unsigned z = 0; z < block.z; ++z)
        for (unsigned y = 0; y < block.y; ++y)
          for (unsigned x = 0; x < block.x; ++x) thread_idx[t++] = dim3(x, y, z);
      thread_idx_shape = block;
    }
    return thread_idx.data();
  }

  // At least `bytes` of dynamic shared memory; under ASan the bytes past the launch's size
  // are poisoned, so an overrun is caught as on an exact allocation.
  unsigned char* dynamic(size_t bytes) {
    if (bytes > dyn_capacity || !dyn) {
      free_dyn();
      dyn_capacity = std::max<size_t>((bytes + 255) / 256 * 256, 256);
      dyn = static_cast<unsigned char*>(std::aligned_alloc(256, dyn_capacity));
      GB_CHECK(dyn, "emu: cannot allocate ", dyn_capacity, " bytes of dynamic shared memory");
    }
#ifdef GB_EMU_ASAN
    ASAN_UNPOISON_MEMORY_REGION(dyn, dyn_capacity);
    ASAN_POISON_MEMORY_REGION(dyn + bytes, dyn_capacity - bytes);
#endif
    return dyn;
  }

  void free_dyn() {
#ifdef GB_EMU_ASAN
    if (dyn) ASAN_UNPOISON_MEMORY_REGION(dyn, dyn_capacity);
#endif
    std::free(dyn);
    dyn = nullptr;
    dyn_capacity = 0;
  }
};
thread_local Pool pool;

// --- what is shared between OS threads: schedule, per-kernel records, statistics ---

struct KernelKey {
  const void* kernel;
  unsigned x, y, z;
  bool operator==(const KernelKey& o) const {
    return kernel == o.kernel && x == o.x && y == o.y && z == o.z;
  }
};
struct KernelKeyHash {
  size_t operator()(const KernelKey& k) const {
    uint64_t h = reinterpret_cast<uintptr_t>(k.kernel);
    h = (h ^ k.x) * 0x9e3779b97f4a7c15ull;
    h = (h ^ k.y) * 0x9e3779b97f4a7c15ull;
    h = (h ^ k.z) * 0x9e3779b97f4a7c15ull;
    return size_t(h ^ (h >> 32));
  }
};

struct Shared {
  std::mutex mutex;
  // per kernel and block shape: whether its first launch synchronised (absent: never ran)
  std::unordered_map<KernelKey, bool, KernelKeyHash> synced;
  std::unordered_map<const void*, size_t> max_dyn_shared;
  bool schedule_set = false;
  Schedule schedule;
};
Shared& shared() {
  static Shared s;
  return s;
}

std::atomic<int64_t> g_launches{0}, g_fiber_launches{0}, g_fast_launches{0};

Schedule parse_schedule(const char* env) {
  Schedule s;
  if (!env || !*env) return s;
  const std::string v = env;
  if (v == "forward") return s;
  if (v == "reverse") {
    s.order = Order::Reverse;
    return s;
  }
  if (v == "shuffle") {
    s.order = Order::Shuffle;
    return s;
  }
  if (v.rfind("shuffle:", 0) == 0 && v.size() > 8) {
    char* end = nullptr;
    const unsigned long long seed = std::strtoull(v.c_str() + 8, &end, 10);
    if (end && *end == '\0' && v[8] != '-') {
      s.order = Order::Shuffle;
      s.seed = seed;
      return s;
    }
  }
  fail(
      str("GLASSBOX_EMU_SCHEDULE: expected forward, reverse, shuffle or shuffle:SEED (SEED a "
          "decimal number), got '",
          v, "'"));
}

bool pick_switch() {
  const char* env = std::getenv("GLASSBOX_EMU_FIBERS");
  const std::string v = env ? env : "";
  GB_CHECK(v.empty() || v == "switch" || v == "ucontext",
           "GLASSBOX_EMU_FIBERS: expected 'switch' (the default) or 'ucontext', got '", v, "'");
  if (v == "ucontext") return false;
#if defined(GB_EMU_SWITCH_ASM)
  // rdsspq reads the shadow stack pointer, and is a no-op that leaves 0 where CET is off. With
  // a shadow stack, returning onto another fiber's stack faults; swapcontext handles it.
  unsigned long long ssp = 0;
  asm volatile(".byte 0xf3, 0x48, 0x0f, 0x1e, 0xc8" : "+a"(ssp));
  return ssp == 0;
#else
  return false;
#endif
}

bool use_switch() {
  static const bool s = pick_switch();
  return s;
}

// --- random orders ---

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void shuffle_ints(int* v, int n, uint64_t key) {
  uint64_t state = key;
  for (int i = n - 1; i > 0; --i) {
    state = mix(state);
    std::swap(v[i], v[int(state % uint64_t(i + 1))]);
  }
}

// A seeded bijection of [0, n) for grids too large to list: a 4-round Feistel network on the
// smallest even power of two >= n, cycle-walked back into range (on average < 4 steps).
struct Permutation {
  uint64_t n, key, half_mask;
  int half_bits = 0;
  Permutation(uint64_t n_, uint64_t key_) : n(n_), key(key_) {
    while (half_bits < 32 && (uint64_t{1} << (2 * half_bits)) < n) ++half_bits;
    half_mask = (uint64_t{1} << half_bits) - 1;
  }
  uint64_t operator()(uint64_t i) const {
    if (n <= 1) return 0;
    do i = round_trip(i);
    while (i >= n);
    return i;
  }
  uint64_t round_trip(uint64_t x) const {
    uint64_t l = x >> half_bits, r = x & half_mask;
    for (uint64_t k = 0; k < 4; ++k) {
      const uint64_t t = l ^ (mix(r ^ key ^ (k << 56)) & half_mask);
      l = r;
      r = t;
    }
    return (l << half_bits) | r;
  }
};

// --- messages ---

std::string dims(dim3 d) { return str("(", d.x, ",", d.y, ",", d.z, ")"); }
std::string hex(unsigned m) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", m);
  return b;
}
std::string kernel_at(const LaunchSite& s) {
  return str("emu: kernel ", s.kernel, " (", s.file, ":", s.line, ")");
}
std::string thread_name(const ThreadCoords& c, int tid) {
  const bool flat = c.block_dim.y == 1 && c.block_dim.z == 1;
  return flat ? str("thread ", tid) : str("thread ", tid, " ", dims(c.thread_idx));
}
// "emu: kernel K (file:line): OP in block (x,y,z) thread T"
std::string where(const Fiber* f, const char* what) {
  return str(kernel_at(*hot.site), ": ", what, " in block ", dims(f->coords.block_idx), " ",
             thread_name(f->coords, f->tid));
}
std::string describe(const Fiber* g) {
  switch (g->at) {
    case At::Done:
      return "which exited";
    case At::Barrier:
      return "which is waiting at __syncthreads";
    case At::Warp:
      return str("which is waiting at ", op_name(g->op), " with mask ", hex(g->mask));
    case At::Run:
      return "which is running";
  }
  return "?";
}

dim3 unflatten(uint64_t i, dim3 d) {
  return dim3(unsigned(i % d.x), unsigned(i / d.x % d.y), unsigned(i / (uint64_t(d.x) * d.y)));
}

// --- switching ---

[[noreturn]] void fiber_entry();

// Leaves the running context (fiber `from`, or the scheduler when null) for `to` (null: the
// scheduler). `from_done`: `from` is finished and will not be resumed.
void transfer(Fiber* from, Fiber* to, bool from_done) {
  hot.current = to;
  detail::current_coords = to ? &to->coords : nullptr;
#ifdef GB_EMU_ASAN
  hot.from_main = from == nullptr;
  __sanitizer_start_switch_fiber(from_done ? nullptr
                                 : from    ? &from->fake_stack
                                           : &hot.main_fake,
                                 to ? to->stack : hot.main_bottom,
                                 to ? kStackBytes : hot.main_size);
#else
  (void)from_done;
#endif
#if defined(GB_EMU_SWITCH_ASM)
  if (hot.use_switch) {
    glassbox_emu_switch(from ? &from->sp : &hot.main_sp, to ? to->sp : hot.main_sp);
  } else
#endif
  {
    swapcontext(from ? from->uc : hot.main_uc, to ? to->uc : hot.main_uc);
  }
#ifdef GB_EMU_ASAN
  const void* bottom = nullptr;
  size_t size = 0;
  __sanitizer_finish_switch_fiber(from ? from->fake_stack : hot.main_fake, &bottom, &size);
#endif
}

// Runs the next fiber of the round's queue, or returns to the scheduler when it is empty.
void switch_next(Fiber* self, bool done) {
  Fiber* to = hot.queue_pos < hot.queue_len ? hot.fibers[hot.queue[hot.queue_pos++]] : nullptr;
  transfer(self, to, done);
}

[[noreturn]] void fiber_entry() {
#ifdef GB_EMU_ASAN
  {
    const void* bottom = nullptr;
    size_t size = 0;
    __sanitizer_finish_switch_fiber(nullptr, &bottom, &size);
    if (hot.from_main) {  // the scheduler's stack, to switch back to
      hot.main_bottom = bottom;
      hot.main_size = size;
    }
  }
#endif
  Fiber* self = hot.current;
  self->started = true;
  try {
    (*hot.body)();
  } catch (...) {
    self->error = std::current_exception();
  }
  self->at = At::Done;
  ++hot.n_done;
  if (hot.first_done < 0) hot.first_done = self->tid;
  if (self->error) {
    hot.failed = self;
    transfer(self, nullptr, true);
  } else {
    switch_next(self, true);
  }
  std::abort();  // a finished fiber is never resumed
}

// Makes `f` start afresh at fiber_entry the next time it is switched to.
void prepare(Fiber* f) {
#ifdef GB_EMU_ASAN
  // A fiber's last frames never return (fiber_entry and its final switch, or every frame of
  // an abandoned one), so their redzones stay poisoned; they all lie above its last saved
  // stack pointer. ucontext's swapcontext, intercepted by ASan, clears a whole stack itself.
  if (f->started && hot.use_switch) {
    char* low = static_cast<char*>(f->sp);
    ASAN_UNPOISON_MEMORY_REGION(low, size_t(f->stack + kStackBytes - low));
  } else if (f->dirty) {
    ASAN_UNPOISON_MEMORY_REGION(f->stack, kStackBytes);
  }
  f->fake_stack = nullptr;
#endif
  f->dirty = false;
  f->started = false;
  if (hot.use_switch) {
    // as if switched away from just before fiber_entry's first instruction: six registers
    // for glassbox_emu_switch to pop, its return address, and fiber_entry's (never used).
    // At that entry rsp = top - 8, the alignment a call leaves.
    const uintptr_t top = (reinterpret_cast<uintptr_t>(f->stack) + kStackBytes) & ~uintptr_t{15};
    void** sp = reinterpret_cast<void**>(top - 64);
    for (int i = 0; i < 6; ++i) sp[i] = nullptr;
    sp[6] = reinterpret_cast<void*>(&fiber_entry);
    sp[7] = nullptr;
    f->sp = sp;
  } else {
    if (!f->uc) {
      f->uc = new ucontext_t;
      GB_CHECK(getcontext(f->uc) == 0, "emu: getcontext failed");
    }
    f->uc->uc_stack.ss_sp = f->stack;
    f->uc->uc_stack.ss_size = kStackBytes;
    f->uc->uc_link = nullptr;
    makecontext(f->uc, fiber_entry, 0);
  }
}

// --- the intrinsics, as seen from a thread ---

[[noreturn]] void fast_path_synced(const char* what) {
  const ThreadCoords& c = hot.fast;
  {
    Shared& s = shared();
    std::lock_guard<std::mutex> lock(s.mutex);
    // later launches run on fibers: this error is reported once, not on every launch
    s.synced[{hot.kernel, c.block_dim.x, c.block_dim.y, c.block_dim.z}] = true;
  }
  const int tid = int(c.thread_idx.x + c.thread_idx.y * c.block_dim.x +
                      c.thread_idx.z * c.block_dim.x * c.block_dim.y);
  fail(str(kernel_at(*hot.site), " synchronised on a later launch but not on its first: ", what,
           " in block ", dims(c.block_idx), " ", thread_name(c, tid),
           ", but its first launch with ", dims(c.block_dim),
           " threads per block called no barrier or warp op, so this launch ran "
           "its threads one after another without fibers. A kernel's barriers and warp ops must "
           "not depend on its data; make them unconditional."));
}

Fiber* sync_point(const char* what) {
  switch (hot.mode) {
    case Mode::Fibers:
      hot.synced = true;
      return hot.current;
    case Mode::Fast:
      fast_path_synced(what);
    case Mode::Idle:
      break;
  }
  fail(str("emu: ", what, " called outside a kernel"));
}

uint64_t warp_op(Op op, unsigned mask, uint64_t payload, int arg, int width) {
  Fiber* f = sync_point(op_name(op));
  const int lane = f->tid & 31, base = f->tid & ~31;
  const int lanes = std::min(32, hot.n - base);
  if (!(mask >> lane & 1u))
    fail(str(where(f, op_name(op)), ": mask ", hex(mask), " does not name the calling lane ", lane,
             " (every lane must be in its own mask)"));
  if (lanes < 32 && (mask >> lanes) != 0)
    fail(str(where(f, op_name(op)), ": mask ", hex(mask), " names lanes that do not exist: warp ",
             base / 32, " of this block has ", lanes, " threads (", hot.n,
             " threads per block), so only lanes 0..", lanes - 1, " (mask ", hex((1u << lanes) - 1),
             ") may be named"));
  if (op >= Op::ShflIdx && op <= Op::ShflXor && (width < 1 || width > 32 || (width & (width - 1))))
    fail(str(where(f, op_name(op)), ": width ", width,
             " is not a power of two from 1 to 32 (warpSize)"));
  f->op = op;
  f->mask = mask;
  f->payload = payload;
  f->arg = arg;
  f->width = width;
  f->at = At::Warp;
  ++hot.n_warp;
  switch_next(f, false);
  return f->result;
}

// --- the scheduler ---

// The lanes of warp `base` named by f's mask are all parked at f's op with f's mask.
bool group_ready(Fiber* const* lane, const Fiber* f) {
  for (unsigned m = f->mask; m; m &= m - 1) {
    const Fiber* g = lane[__builtin_ctz(m)];
    if (g->at != At::Warp || g->op != f->op || g->mask != f->mask) return false;
  }
  return true;
}

// Computes the results of a released group (CUDA's shfl.sync and vote.sync semantics) and
// makes its lanes runnable.
void complete_group(Fiber* const* lane, Op op, unsigned mask) {
  if (op == Op::Ballot || op == Op::Any || op == Op::All) {
    unsigned bits = 0;
    for (unsigned m = mask; m; m &= m - 1) {
      const int l = __builtin_ctz(m);
      if (lane[l]->payload) bits |= 1u << l;
    }
    const uint64_t r = op == Op::Ballot ? bits : op == Op::Any ? bits != 0 : bits == mask;
    for (unsigned m = mask; m; m &= m - 1) lane[__builtin_ctz(m)]->result = r;
  } else if (op != Op::SyncWarp) {
    for (unsigned m = mask; m; m &= m - 1) {
      const int l = __builtin_ctz(m);
      Fiber* g = lane[l];
      // a lane's width segment is [seg, end]; a source outside it gives the lane's own value,
      // except that xor may read an earlier segment (the programming guide's rule)
      const int64_t w = g->width, seg = l & ~(w - 1), end = seg + w - 1;
      const int64_t delta = int64_t(unsigned(g->arg));
      int64_t j = l;
      bool ok = true;
      switch (op) {
        case Op::ShflIdx:
          j = seg | (g->arg & (w - 1));
          break;
        case Op::ShflUp:
          j = l - delta;
          ok = j >= seg;
          break;
        case Op::ShflDown:
          j = l + delta;
          ok = j <= end;
          break;
        case Op::ShflXor:
          j = l ^ delta;
          ok = j <= end;
          break;
        default:
          break;
      }
      g->result = !ok ? g->payload : (mask >> j & 1u) ? lane[j]->payload : kUndefined;
    }
  }
  for (unsigned m = mask; m; m &= m - 1) lane[__builtin_ctz(m)]->at = At::Run;
}

// Releases every group and barrier that can be; returns how many threads were released.
int release() {
  int released = 0;
  if (hot.n_warp > 0) {
    for (int base = 0; base < hot.n; base += 32) {
      Fiber* const* lane = hot.fibers + base;
      const int lanes = std::min(32, hot.n - base);
      unsigned checked = 0;
      for (int l = 0; l < lanes; ++l) {
        const Fiber* f = lane[l];
        if ((checked >> l & 1u) || f->at != At::Warp) continue;
        checked |= 1u << l;
        if (!group_ready(lane, f)) continue;
        const unsigned mask = f->mask;
        complete_group(lane, f->op, mask);
        checked |= mask;
        released += __builtin_popcount(mask);
      }
    }
    hot.n_warp -= released;
  }
  if (hot.n_barrier == hot.n) {
    for (int t = 0; t < hot.n; ++t) hot.fibers[t]->at = At::Run;
    hot.n_barrier = 0;
    released += hot.n;
  }
  return released;
}

// The next round's queue: the runnable fibers in schedule order.
void build_queue(const Schedule& s, uint64_t block, int round) {
  int* q = pool.queue.data();
  int len = 0;
  for (int t = 0; t < hot.n; ++t)
    if (hot.fibers[t]->at == At::Run) q[len++] = t;
  if (s.order == Order::Reverse) std::reverse(q, q + len);
  if (s.order == Order::Shuffle) shuffle_ints(q, len, mix(s.seed ^ mix(block ^ mix(round))));
  hot.queue = q;
  hot.queue_len = len;
  hot.queue_pos = 0;
}

// Nothing can run or be released: name the thread that waits in vain and the reason.
[[noreturn]] void stuck() {
  const int n = hot.n;
  if (hot.n_barrier > 0 && hot.n_barrier + hot.n_done == n) {
    const Fiber* first = hot.fibers[std::max(hot.first_done, 0)];
    fail(str(kernel_at(*hot.site), ": __syncthreads in block ", dims(first->coords.block_idx), ": ",
             hot.n_barrier, " of ", n, " threads arrived and the other ", hot.n_done,
             " returned before reaching it (", thread_name(first->coords, first->tid),
             " first). Every thread of a block must reach every __syncthreads; a divergent "
             "barrier hangs or corrupts shared memory on a GPU."));
  }
  for (int t = 0; t < n; ++t) {
    const Fiber* f = hot.fibers[t];
    if (f->at != At::Warp) continue;
    Fiber* const* lane = hot.fibers + (t & ~31);
    for (unsigned m = f->mask; m; m &= m - 1) {
      const int l = __builtin_ctz(m);
      const Fiber* g = lane[l];
      if (g->at != At::Warp || g->op != f->op || g->mask != f->mask)
        fail(str(where(f, op_name(f->op)), ": mask ", hex(f->mask), " names lane ", l, ", ",
                 describe(g),
                 ". Every lane a *_sync mask names must reach the same intrinsic "
                 "with the same mask (a mask of 0xffffffff in a divergent branch is the usual "
                 "cause; __ballot_sync the branch condition for the right mask)."));
    }
  }
  fail(str(kernel_at(*hot.site), ": deadlock in block ", dims(hot.fibers[0]->coords.block_idx),
           ": ", hot.n_barrier, " threads at __syncthreads, ", hot.n_warp, " at warp ops, ",
           hot.n_done, " exited"));
}

void run_block_fibers(const Schedule& s, uint64_t block, const ThreadCoords& c) {
  const int n = hot.n;
  for (int t = 0; t < n; ++t) {
    Fiber* f = hot.fibers[t];
    prepare(f);
    f->at = At::Run;
    f->tid = t;
    f->coords = c;
    f->coords.thread_idx = hot.thread_idx[t];
  }
  hot.n_done = hot.n_barrier = hot.n_warp = 0;
  hot.first_done = -1;
  hot.failed = nullptr;
  build_queue(s, block, 0);
  for (int round = 1;; ++round) {
    Fiber* first = hot.fibers[hot.queue[hot.queue_pos++]];
    transfer(nullptr, first, false);
    if (hot.failed) {
      std::exception_ptr e = hot.failed->error;
      hot.failed->error = nullptr;
      std::rethrow_exception(e);
    }
    if (hot.n_done == n) return;
    if (release() == 0) stuck();
    build_queue(s, block, round);
  }
}

void run_block_fast(const Schedule& s, uint64_t block, const ThreadCoords& c) {
  const int n = hot.n;
  hot.fast = c;
  detail::current_coords = &hot.fast;
  int* order = nullptr;
  if (s.order == Order::Shuffle) {
    order = pool.order.data();
    for (int t = 0; t < n; ++t) order[t] = t;
    shuffle_ints(order, n, mix(s.seed ^ mix(block ^ mix(0))));
  }
  for (int k = 0; k < n; ++k) {
    const int t = order ? order[k] : s.order == Order::Reverse ? n - 1 - k : k;
    hot.fast.thread_idx = hot.thread_idx[t];
    (*hot.body)();
  }
}

// Ends the launch on this thread, normally or by an exception: an abandoned block's fibers
// stay parked where they were; prepare() starts them afresh.
struct LaunchScope {
  ~LaunchScope() {
    if (hot.mode == Mode::Fibers) {
      for (int t = 0; t < hot.n; ++t) {
        Fiber* f = hot.fibers[t];
        if (f->started && f->at != At::Done) f->dirty = true;
        f->at = At::Done;
        f->error = nullptr;
      }
    }
    hot.mode = Mode::Idle;
    detail::current_coords = nullptr;
    hot.current = nullptr;
    hot.site = nullptr;
    hot.body = nullptr;
  }
};

void check_config(const LaunchSite& site, dim3 grid, dim3 block, size_t smem, size_t max_dyn,
                  bool raised) {
  const std::string what =
      str(kernel_at(site), ": launch with grid ", dims(grid), ", block ", dims(block));
  GB_CHECK(grid.x && grid.y && grid.z && block.x && block.y && block.z, what,
           ": zero-size launch (CUDA refuses a launch with a zero dimension; skip the launch "
           "when there is no work)");
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  GB_CHECK(threads <= 1024, what, ": ", threads, " threads per block, at most 1024");
  GB_CHECK(block.x <= 1024 && block.y <= 1024 && block.z <= 64, what,
           ": block dimensions may be at most (1024,1024,64)");
  GB_CHECK(grid.x <= 2147483647u && grid.y <= 65535 && grid.z <= 65535, what,
           ": grid dimensions may be at most (2147483647,65535,65535)");
  GB_CHECK(smem <= max_dyn, what, ": ", smem, " bytes of dynamic shared memory, but the limit ",
           raised
               ? str("set for this kernel by set_max_dynamic_shared is ", max_dyn)
               : str("is ", max_dyn, " (48 KiB) unless raised with GB_SET_MAX_DYN_SHARED, up to ",
                     kMaxDynShared, " (227 KiB)"),
           " bytes");
}

}  // namespace

// --- the interface ---

namespace detail {
thread_local const ThreadCoords* current_coords = nullptr;
const ThreadCoords* current_coords_out_of_line() { return current_coords; }
void coords_outside_kernel() {
  fail("emu: threadIdx, blockIdx, blockDim or gridDim read outside a kernel");
}
}  // namespace detail

void* dynamic_shared() {
  if (hot.mode == Mode::Idle) fail("emu: dynamic shared memory used outside a kernel");
  return hot.dyn;
}

void syncthreads() {
  Fiber* f = sync_point("__syncthreads");
  f->at = At::Barrier;
  ++hot.n_barrier;
  switch_next(f, false);
}

void syncwarp(unsigned mask) { warp_op(Op::SyncWarp, mask, 0, 0, 32); }

uint64_t shuffle(Shuffle kind, unsigned mask, uint64_t payload, int arg, int width) {
  static constexpr Op ops[] = {Op::ShflIdx, Op::ShflUp, Op::ShflDown, Op::ShflXor};
  return warp_op(ops[int(kind)], mask, payload, arg, width);
}

unsigned vote(Vote kind, unsigned mask, int predicate) {
  static constexpr Op ops[] = {Op::Ballot, Op::Any, Op::All};
  return unsigned(warp_op(ops[int(kind)], mask, predicate != 0, 0, 32));
}

void set_schedule(const Schedule& s) {
  Shared& sh = shared();
  std::lock_guard<std::mutex> lock(sh.mutex);
  sh.schedule = s;
  sh.schedule_set = true;
}

Schedule schedule() {
  {
    Shared& sh = shared();
    std::lock_guard<std::mutex> lock(sh.mutex);
    if (sh.schedule_set) return sh.schedule;
  }
  static const Schedule from_env = parse_schedule(std::getenv("GLASSBOX_EMU_SCHEDULE"));
  return from_env;
}

const char* order_name(Order o) {
  switch (o) {
    case Order::Forward:
      return "forward";
    case Order::Reverse:
      return "reverse";
    case Order::Shuffle:
      return "shuffle";
  }
  return "?";
}

Stats stats() {
  Stats s;
  s.launches = g_launches.load();
  s.fiber_launches = g_fiber_launches.load();
  s.fast_launches = g_fast_launches.load();
  return s;
}

void set_max_dynamic_shared(const void* kernel_id, size_t bytes) {
  GB_CHECK(bytes <= kMaxDynShared, "emu: set_max_dynamic_shared: ", bytes,
           " bytes of dynamic shared memory requested, but a block can have at most ",
           kMaxDynShared, " (227 KiB, sm_90)");
  Shared& sh = shared();
  std::lock_guard<std::mutex> lock(sh.mutex);
  sh.max_dyn_shared[kernel_id] = bytes;
}

void launch_impl(const LaunchSite& site, const void* kernel_id, dim3 grid, dim3 block,
                 size_t dynamic_shared_bytes, const std::function<void()>& body) {
  if (hot.mode != Mode::Idle)
    fail(str(kernel_at(site), " launched from inside kernel ", hot.site->kernel,
             ": dynamic parallelism is not emulated"));
  size_t max_dyn = kDefaultDynShared;
  bool raised = false, known = false, synced_before = false;
  {
    Shared& sh = shared();
    std::lock_guard<std::mutex> lock(sh.mutex);
    auto m = sh.max_dyn_shared.find(kernel_id);
    if (m != sh.max_dyn_shared.end()) {
      max_dyn = m->second;
      raised = true;
    }
    auto k = sh.synced.find({kernel_id, block.x, block.y, block.z});
    if (k != sh.synced.end()) {
      known = true;
      synced_before = k->second;
    }
  }
  check_config(site, grid, block, dynamic_shared_bytes, max_dyn, raised);
  const Schedule s = schedule();
  const bool fast = known && !synced_before;
  ++g_launches;
  ++(fast ? g_fast_launches : g_fiber_launches);

  const int n = int(block.x * block.y * block.z);
  Pool& p = pool;
  if (fast) {
    if (p.order.size() < size_t(n)) p.order.resize(size_t(n));
  } else {
    p.reserve_fibers(n);
  }
  LaunchScope scope;
  hot.use_switch = use_switch();
  hot.site = &site;
  hot.kernel = kernel_id;
  hot.body = &body;
  hot.n = n;
  hot.fibers = p.fibers.data();
  hot.thread_idx = p.thread_indices(block);
  hot.main_uc = &p.main_uc;
  hot.dyn = p.dynamic(dynamic_shared_bytes);
  hot.synced = false;
  hot.mode = fast ? Mode::Fast : Mode::Fibers;

  ThreadCoords c;
  c.block_dim = block;
  c.grid_dim = grid;
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  const Permutation perm(blocks, mix(s.seed ^ 0x626c6f636b73ull));
  for (uint64_t i = 0; i < blocks; ++i) {
    const uint64_t b = s.order == Order::Shuffle ? perm(i) : i;
    c.block_idx = unflatten(b, grid);
    std::memset(hot.dyn, 0xff, dynamic_shared_bytes);  // NaN: reads before writes show
    if (fast)
      run_block_fast(s, b, c);
    else
      run_block_fibers(s, b, c);
  }
  if (!fast) {
    Shared& sh = shared();
    std::lock_guard<std::mutex> lock(sh.mutex);
    // once synchronised, always on fibers (a racing first launch may have recorded false)
    auto [it, inserted] =
        sh.synced.emplace(KernelKey{kernel_id, block.x, block.y, block.z}, hot.synced);
    if (!inserted) it->second = it->second || hot.synced;
  }
}

}  // namespace glassbox::cuda::emu
